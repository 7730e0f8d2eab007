"""The DIMSE door: a C-STORE SCP for every storage SOP class, plus C-ECHO (PS3.4 B, A).

Each accepted connection gets TCP_NODELAY (so a C-STORE-RSP leaves at once
rather than waiting on Nagle's algorithm for more bytes) and its own thread,
so associations run concurrently; the shared :class:`InstanceStore` is
thread-safe and its log appends share fsyncs between concurrent puts.

Negotiation uses pynetdicom (:mod:`~streamgale.dicom.ingest.acse`), but the
data path does not run pynetdicom's association reactor: that reactor polls
its queues with 1 ms sleeps on two threads per association and decodes every
PDU into objects, which caps a pynetdicom SCP at about a quarter of dcmtk's
storescp. Here each association is one thread doing blocking reads of whole
PDUs (:mod:`~streamgale.dicom.ingest.association`), and the dataset bytes go
to :meth:`InstanceStore.put` untouched.

>>> config = ScpConfig(ae_title="STREAMGALE", port=0)
>>> config.host, config.max_associations, config.artim_timeout, config.network_timeout
('127.0.0.1', 16, 30.0, 60.0)
>>> ScpConfig(ae_title="WAY_TOO_LONG_FOR_AN_AE")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
streamgale.errors.ConfigError: key 'ae_title': AE title 'WAY_TOO_LONG_FOR_AN_AE' must be 1 to 16...
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from dataclasses import dataclass
from types import TracebackType

from streamgale.dicom._deps import require_dicom
from streamgale.dicom.ingest.acse import Acceptance, supported_contexts
from streamgale.dicom.ingest.association import AssociationState, serve_association
from streamgale.dicom.ingest.dul import set_socket_timeout
from streamgale.dicom.ingest.inspection import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from streamgale.dicom.ingest.store import InstanceStore
from streamgale.errors import ConfigError, DicomError

__all__ = ["ConnectionInfo", "ScpConfig", "StorageSCP", "configure_socket"]

logger = logging.getLogger("streamgale.dicom.scp")

_ACCEPT_POLL_S = 0.2


@dataclass(frozen=True)
class ScpConfig:
    """Settings of the storage SCP.

    ``allowed_calling_aes``: calling AE titles accepted (None accepts any);
    others are rejected with "calling-AE-title-not-recognized" (PS3.8 Table
    9-21). A request addressed to another called AE title than ``ae_title``
    is rejected with "called-AE-title-not-recognized" unless
    ``accept_any_called_ae``. ``max_associations``: connections served at
    once; one more is rejected as "local-limit-exceeded" (transient).
    ``max_pdu``: the Maximum Length Received offered to senders (0:
    unlimited); large PDUs mean fewer reads per instance.
    ``artim_timeout``: seconds a new connection has to send its
    A-ASSOCIATE-RQ (the ARTIM timer, PS3.8 9.1.5), so that connections that
    never associate cannot hold the association limit. ``network_timeout``:
    seconds an established association may stay silent before it is
    aborted (the idle timeout). ``port`` 0 picks a free port (see
    :attr:`StorageSCP.port`).
    """

    ae_title: str = "STREAMGALE"
    host: str = "127.0.0.1"
    port: int = 11112
    allowed_calling_aes: frozenset[str] | None = None
    max_associations: int = 16
    max_pdu: int = 1024 * 1024
    network_timeout: float = 60.0
    artim_timeout: float = 30.0
    accept_any_called_ae: bool = False

    def __post_init__(self) -> None:
        _check_ae("ae_title", self.ae_title)
        if self.allowed_calling_aes is not None:
            if isinstance(self.allowed_calling_aes, str):
                msg = "expected a set of AE titles, got one string; wrap it: frozenset({...})"
                raise ConfigError(msg, key="allowed_calling_aes")
            for title in self.allowed_calling_aes:
                _check_ae("allowed_calling_aes", title)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be 0 to 65535, got {self.port}", key="port")
        if self.max_associations < 1:
            msg = f"max_associations must be at least 1, got {self.max_associations}"
            raise ConfigError(msg, key="max_associations")
        if self.max_pdu != 0 and not 4096 <= self.max_pdu < 2**32:
            msg = f"max_pdu must be 0 (unlimited) or 4096 to 2**32-1 bytes, got {self.max_pdu}"
            raise ConfigError(msg, key="max_pdu")
        for key in ("network_timeout", "artim_timeout"):
            seconds = getattr(self, key)
            if not isinstance(seconds, int | float) or seconds <= 0:
                raise ConfigError(f"{key} must be positive seconds, got {seconds!r}", key=key)


@dataclass(frozen=True)
class ConnectionInfo:
    """A live connection: the peer address, its calling AE once known, its TCP_NODELAY."""

    peer: tuple[str, int]
    calling_ae: str | None
    state: AssociationState
    tcp_nodelay: bool


def configure_socket(sock: socket.socket, timeout: float) -> None:
    """Set TCP_NODELAY and kernel-side send and receive timeouts on an accepted socket.

    The timeouts are SO_RCVTIMEO / SO_SNDTIMEO on a blocking socket rather
    than :meth:`socket.socket.settimeout`, which would add a ``poll`` system
    call before every read; an expired one surfaces as ``OSError`` (EAGAIN).
    """
    sock.setblocking(True)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    set_socket_timeout(sock, timeout)


class _Connection:
    def __init__(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        self.sock = sock
        self.peer = peer
        self.calling_ae: str | None = None
        self.state = AssociationState.AWAITING_ASSOCIATE_RQ


class StorageSCP:
    """A C-STORE / C-ECHO SCP storing into an :class:`InstanceStore`.

    :meth:`start` returns once the port is listening; :meth:`stop` closes it
    and ends every association (an instance being stored finishes first).
    Usable as a context manager.
    """

    def __init__(self, config: ScpConfig, store: InstanceStore) -> None:
        require_dicom("the DICOM storage SCP")
        self._config = config
        self._store = store
        self._acceptance = Acceptance(
            ae_title=config.ae_title,
            allowed_calling_aes=config.allowed_calling_aes,
            max_pdu=config.max_pdu,
            implementation_class_uid=IMPLEMENTATION_CLASS_UID,
            implementation_version_name=IMPLEMENTATION_VERSION_NAME,
            check_called_ae=not config.accept_any_called_ae,
        )
        self._contexts = supported_contexts()
        self._lock = threading.Lock()
        self._connections: dict[int, _Connection] = {}
        self._threads: set[threading.Thread] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def config(self) -> ScpConfig:
        """The settings the SCP runs with."""
        return self._config

    @property
    def port(self) -> int:
        """The port listened on (the one picked when the config said 0)."""
        if self._listener is None:
            raise DicomError("the SCP is not started; call start() first")
        return int(self._listener.getsockname()[1])

    def start(self) -> None:
        """Listen and accept associations on a background thread; returns at once."""
        if self._listener is not None:
            raise DicomError("the SCP is already started")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self._config.host, self._config.port))
        except OSError as exc:
            listener.close()
            msg = f"cannot listen on {self._config.host}:{self._config.port} ({exc}); pick another"
            raise ConfigError(msg, key="port") from exc
        listener.listen(64)
        listener.settimeout(_ACCEPT_POLL_S)
        self._listener = listener
        self._stopping.clear()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"scp-accept-{self.port}", daemon=True
        )
        self._acceptor.start()
        logger.info("storage SCP %s listening on %s:%d", self._config.ae_title, *self._address())

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, end every association, and wait for their threads."""
        if self._listener is None:
            return
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout)
        self._listener.close()
        with self._lock:
            connections = list(self._connections.values())
            threads = list(self._threads)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout)
        self._listener = None

    def connections(self) -> list[ConnectionInfo]:
        """The connections open now, for monitoring (and to check TCP_NODELAY)."""
        with self._lock:
            live = list(self._connections.values())
        return [_info(c) for c in live]

    def __enter__(self) -> StorageSCP:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _address(self) -> tuple[str, int]:
        if self._listener is None:
            raise DicomError("the SCP is not started; call start() first")
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    def _accept_loop(self) -> None:
        listener = self._listener
        while listener is not None and not self._stopping.is_set():
            try:
                sock, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if not self._stopping.is_set():
                    logger.exception("accepting a connection failed")
                return
            configure_socket(sock, self._config.artim_timeout)
            thread = threading.Thread(
                target=self._run, args=(sock, peer), name=f"scp-assoc-{peer[1]}", daemon=True
            )
            with self._lock:
                self._connections[id(sock)] = _Connection(sock, peer)
                self._threads.add(thread)
            thread.start()

    def _run(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        connection = self._connections[id(sock)]

        def on_state(state: AssociationState, calling_ae: str | None) -> None:
            connection.state = state
            connection.calling_ae = calling_ae

        try:
            serve_association(
                sock,
                self._store,
                self._acceptance,
                self._contexts,
                at_limit=self._at_limit,
                on_state=on_state,
                idle_timeout=self._config.network_timeout,
            )
        except Exception:  # never let one association take the server down
            logger.exception("association from %s failed", peer)
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            with self._lock:
                self._connections.pop(id(sock), None)
                self._threads.discard(threading.current_thread())

    def _at_limit(self) -> bool:
        with self._lock:
            return len(self._connections) > self._config.max_associations


def _info(connection: _Connection) -> ConnectionInfo:
    try:
        nodelay = bool(connection.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    except OSError:
        nodelay = False
    return ConnectionInfo(connection.peer, connection.calling_ae, connection.state, nodelay)


def _check_ae(key: str, title: str) -> None:
    """AE titles: 1-16 characters, no backslash or control characters (PS3.5 6.2)."""
    stripped = title.strip() if isinstance(title, str) else ""
    if not 1 <= len(stripped) <= 16 or "\\" in stripped or not stripped.isprintable():
        msg = (
            f"AE title {title!r} must be 1 to 16 characters without backslash or control "
            "characters (PS3.5 6.2, VR AE)"
        )
        raise ConfigError(msg, key=key)
