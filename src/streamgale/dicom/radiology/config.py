"""The radiology pipeline as one YAML file: listeners, routes, models, destinations.

>>> settings = load_radiology_text('''
... radiology:
...   state_dir: /tmp/sg-doc
...   listeners:
...     dimse: {ae_title: STREAMGALE, port: 11112}
...   models: [demo-lesion]
...   routes:
...     - {name: chest-ct, modalities: [CT], models: [demo-lesion], priority: stat}
... ''', "doc.yaml")
>>> settings.dimse.port, [r.name for r in settings.routes], settings.models[0].name
(11112, ['chest-ct'], 'demo-lesion')

Every error names the file, the line and the key, and lists what is allowed:

>>> from streamgale.errors import ConfigError
>>> try:
...     load_radiology_text("radiology: {listeners: {dicom: {}}}", "x.yaml")
... except ConfigError as error:
...     print(error)
x.yaml:1, key 'radiology.listeners.dicom': unknown key 'dicom'; allowed: dimse, stow
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamgale.config.document import Node, parse_document, read_document
from streamgale.config.runtime_section import DEFAULT_STATE_DIR, read_runtime_values
from streamgale.dicom.delivery import DimseDestination, StowDestination
from streamgale.dicom.ingest.retention import RetentionPolicy, parse_size
from streamgale.dicom.ingest.scp import ScpConfig
from streamgale.dicom.quality import ValidationLimits
from streamgale.dicom.radiology.pipeline import DashboardSettings, RadiologySettings, StowSettings
from streamgale.dicom.routing import ABMode, ABTest, Priority, Route
from streamgale.inference import ModelConfig, load_model_config, model_config_from_node

__all__ = ["BUILTIN_MODELS", "load_radiology", "load_radiology_text", "radiology_from_document"]

logger = logging.getLogger(__name__)

_TOP = (
    "name",
    "state_dir",
    "listeners",
    "models",
    "routes",
    "destinations",
    "deidentify",
    "validation",
    "quiet",
    "retain_finished",
    "retention",
    "checkpoint_interval",
    "metrics_port",
    "demo",
    "telemetry",
    "dashboard",
)
_ROUTE = (
    "name",
    "modalities",
    "body_parts",
    "sop_classes",
    "calling_aes",
    "series_description",
    "models",
    "destinations",
    "export",
    "deidentify",
    "priority",
    "quiet",
    "ab",
)
BUILTIN_MODELS = ("demo-lesion", "demo-lesion-sensitive")
_RUNTIME = ("state_dir", "checkpoint_interval", "metrics_port", "max_run_seconds")
"""Runtime settings a radiology file shares with a pipeline file's ``runtime:``
section: read by the same readers, overridden by the same options."""


def load_radiology(path: Path, *, overrides: Mapping[str, Any] | None = None) -> RadiologySettings:
    """Load ``path``; ``overrides`` (from the CLI and STREAMGALE_* variables) win."""
    return radiology_from_document(read_document(path), base_dir=path.parent, overrides=overrides)


def load_radiology_text(
    text: str,
    source: str,
    *,
    base_dir: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> RadiologySettings:
    """Load radiology settings from YAML ``text``; ``source`` names it in errors."""
    return radiology_from_document(
        parse_document(text, source), base_dir=base_dir or Path.cwd(), overrides=overrides
    )


def radiology_from_document(
    root: Node, *, base_dir: Path, overrides: Mapping[str, Any] | None = None
) -> RadiologySettings:
    """Radiology settings from a parsed file (see :func:`streamgale.config.load_file`).

    ``overrides`` holds the runtime settings (``state_dir``, ``metrics_port``,
    ``checkpoint_interval``, ``max_run_seconds``) and the listener settings
    (``port``, ``ae_title``, ``stow_port``, ``dashboard_port``); None means not given.
    """
    doc = root.mapping(allowed=("radiology",), required=("radiology",))["radiology"]
    entries = doc.mapping(allowed=_TOP)
    base = base_dir
    o = dict(overrides or {})
    runtime = read_runtime_values(entries, base, o, keys=_RUNTIME)
    listeners = (
        entries["listeners"].mapping(allowed=("dimse", "stow")) if "listeners" in entries else {}
    )
    models = (
        tuple(_model(n, base) for n in entries["models"].sequence()) if "models" in entries else ()
    )
    if "deidentify" not in entries:
        _refuse_deidentifying_routes(entries.get("routes"))
    settings = doc.attempt(
        lambda: RadiologySettings(
            name=entries["name"].string() if "name" in entries else "radiology",
            state_dir=runtime.get("state_dir", DEFAULT_STATE_DIR),
            dimse=_dimse(listeners.get("dimse"), o),
            stow=_stow(listeners.get("stow"), o),
            models=models,
            routes=tuple(_route(n) for n in entries["routes"].sequence())
            if "routes" in entries
            else (),
            destinations=_destinations(entries.get("destinations")),
            deid=_deid(entries.get("deidentify")),
            limits=_limits(entries.get("validation")),
            quiet_seconds=entries["quiet"].duration() if "quiet" in entries else 5.0,
            retain_finished=(
                entries["retain_finished"].duration() if "retain_finished" in entries else 3600.0
            ),
            retention=_retention(entries.get("retention")),
            checkpoint_interval=runtime.get("checkpoint_interval", 1.0),
            metrics_port=runtime.get("metrics_port"),
            max_run_seconds=runtime.get("max_run_seconds"),
            demo=bool(entries["demo"].value) if "demo" in entries else False,
            dashboard=_dashboard(entries.get("dashboard"), o),
            **_telemetry(entries.get("telemetry"), base),
        )
    )
    _warn_unrouted_destinations(settings, entries.get("destinations"))
    return settings


def _warn_unrouted_destinations(settings: RadiologySettings, node: Node | None) -> None:
    """A destination no route names is sent nothing: likely a forgotten route key."""
    if node is None:
        return
    named = {d for route in settings.routes for d in (*route.destinations, *route.export)}
    for destination in settings.destinations:
        if destination.name not in named:
            logger.warning(
                "%s:%d, key '%s.%s': no route names destination '%s', so nothing is "
                "delivered to it; add it to a route: destinations: [%s]",
                node.source,
                node.key_lines.get(destination.name, node.line),
                node.key,
                destination.name,
                destination.name,
                destination.name,
            )


def _retention(node: Node | None) -> RetentionPolicy:
    """``retention: {max_age: 30d, max_size: 500GB, interval: 1h}`` for received instances."""
    if node is None:
        return RetentionPolicy()
    e = node.mapping(allowed=("max_age", "max_size", "interval"))

    def size(entry: Node) -> int:
        try:
            return parse_size(entry.value)
        except ValueError as exc:
            entry.fail(str(exc))

    return node.attempt(
        lambda: RetentionPolicy(
            max_age=e["max_age"].duration() if "max_age" in e else None,
            max_bytes=size(e["max_size"]) if "max_size" in e else None,
            interval=e["interval"].duration() if "interval" in e else 3600.0,
        )
    )


def _dashboard(node: Node | None, o: Mapping[str, Any]) -> DashboardSettings | None:
    """``dashboard: {host, port}``; ``dashboard: false`` or no key turns it off."""
    if node is None or node.value is False:
        port = o.get("dashboard_port")
        return None if port is None else DashboardSettings(port=int(port))
    e = node.mapping(allowed=("host", "port"))
    port = o.get("dashboard_port")
    if port is None:
        port = e["port"].integer(minimum=0, maximum=65535) if "port" in e else 8080
    return DashboardSettings(
        host=e["host"].string() if "host" in e else "127.0.0.1", port=int(port)
    )


def _telemetry(node: Node | None, base: Path) -> dict[str, Any]:
    """``telemetry: {enabled, lake: {path | url, options}, traces: {otlp_endpoint}}``."""
    if node is None:
        return {}
    e = node.mapping(allowed=("enabled", "lake", "traces"))
    out: dict[str, Any] = {}
    if "enabled" in e:
        out["telemetry"] = bool(e["enabled"].value)
    if "lake" in e:
        lake = e["lake"].mapping(allowed=("path", "url", "options", "retention_days"))
        if "retention_days" in lake:
            out["lake_retention_days"] = float(lake["retention_days"].integer(minimum=1))
        if "path" in lake and "url" in lake:
            e["lake"].fail("give the lake either a 'path' (a directory) or a 'url' (s3://...)")
        if "path" in lake:
            out["lake"] = str(lake["path"].path(base))
        elif "url" in lake:
            out["lake"] = lake["url"].string()
        if "options" in lake:
            out["lake_options"] = {
                k: _env_or_value(v) for k, v in lake["options"].mapping().items()
            }
    if "traces" in e:
        traces = e["traces"].mapping(allowed=("otlp_endpoint",), required=("otlp_endpoint",))
        out["traces_endpoint"] = traces["otlp_endpoint"].string()
    return out


def _env_or_value(node: Node) -> Any:
    """A value, or ``{env: NAME}`` read from the environment (keep secrets out of files)."""
    if isinstance(node.value, dict):
        name = node.mapping(allowed=("env",), required=("env",))["env"].string()
        if name not in os.environ:
            node.fail(f"environment variable {name} is not set")
        return os.environ[name]
    return node.value


def _model(node: Node, base: Path) -> ModelConfig:
    if isinstance(node.value, str):
        if node.value not in BUILTIN_MODELS:
            node.fail(
                f"unknown built-in model '{node.value}'; allowed: {', '.join(BUILTIN_MODELS)}, "
                "or {path: my-model/model.yaml}"
            )
        from streamgale.models import demo_model_config_path

        return load_model_config(demo_model_config_path(node.value))
    entries = node.mapping(allowed=("path",))
    if "path" in entries:
        return node.attempt(lambda: load_model_config(entries["path"].path(base)))
    return model_config_from_node(node, base)


def _dimse(node: Node | None, o: Mapping[str, Any]) -> ScpConfig | None:
    if node is None and not {"ae_title", "port"} & o.keys():
        return None
    entries = node.mapping(allowed=_DIMSE) if node else {}
    allowed = entries.get("allowed_calling_aes")
    limits: dict[str, Any] = {
        "max_associations": entries["max_associations"].integer(minimum=1)
        if "max_associations" in entries
        else 16,
        "network_timeout": entries["idle_timeout"].duration() if "idle_timeout" in entries else 60,
        "artim_timeout": entries["artim_timeout"].duration() if "artim_timeout" in entries else 30,
        "accept_any_called_ae": entries["accept_any_called_ae"].value is True
        if "accept_any_called_ae" in entries
        else False,
    }
    return (node or _EMPTY).attempt(
        lambda: ScpConfig(
            ae_title=o.get("ae_title")
            or (entries["ae_title"].string() if "ae_title" in entries else "STREAMGALE"),
            host=entries["host"].string() if "host" in entries else "127.0.0.1",
            port=int(o["port"])
            if o.get("port") is not None
            else (
                entries["port"].integer(minimum=0, maximum=65535) if "port" in entries else 11112
            ),
            allowed_calling_aes=frozenset(n.string() for n in allowed.sequence())
            if allowed
            else None,
            **limits,
        )
    )


_DIMSE = (
    "ae_title",
    "host",
    "port",
    "allowed_calling_aes",
    "max_associations",
    "idle_timeout",
    "artim_timeout",
    "accept_any_called_ae",
)


def _stow(node: Node | None, o: Mapping[str, Any]) -> StowSettings | None:
    if node is None and o.get("stow_port") is None:
        return None
    allowed = ("host", "port", "path_prefix", "max_concurrent_requests")
    entries = node.mapping(allowed=allowed) if node else {}
    return StowSettings(
        host=entries["host"].string() if "host" in entries else "127.0.0.1",
        port=int(o["stow_port"])
        if o.get("stow_port") is not None
        else (entries["port"].integer(minimum=0, maximum=65535) if "port" in entries else 8090),
        path_prefix=entries["path_prefix"].string() if "path_prefix" in entries else "/dicomweb",
        max_concurrent_requests=entries["max_concurrent_requests"].integer(minimum=1)
        if "max_concurrent_requests" in entries
        else StowSettings.max_concurrent_requests,
    )


def _route(node: Node) -> Route:
    e = node.mapping(allowed=_ROUTE, required=("name",))

    def words(key: str) -> frozenset[str] | None:
        return frozenset(n.string() for n in e[key].sequence()) if key in e else None

    return node.attempt(
        lambda: Route(
            name=e["name"].string(),
            modalities=words("modalities"),
            body_parts=words("body_parts"),
            sop_class_uids=words("sop_classes"),
            calling_aes=words("calling_aes"),
            series_description=e["series_description"].string()
            if "series_description" in e
            else None,
            models=tuple(n.string() for n in e["models"].sequence()) if "models" in e else (),
            destinations=tuple(n.string() for n in e["destinations"].sequence())
            if "destinations" in e
            else (),
            export=tuple(n.string() for n in e["export"].sequence()) if "export" in e else (),
            deidentify=bool(e["deidentify"].value) if "deidentify" in e else False,
            quiet_seconds=e["quiet"].duration() if "quiet" in e else None,
            priority=Priority.parse(e["priority"].string() if "priority" in e else "routine"),
            ab=_ab(e.get("ab")),
        )
    )


def _ab(node: Node | None) -> ABTest | None:
    if node is None:
        return None
    e = node.mapping(allowed=("mode", "a", "b", "share"), required=("a", "b"))
    return node.attempt(
        lambda: ABTest(
            a=e["a"].string(),
            b=e["b"].string(),
            mode=ABMode.parse(e["mode"].string()) if "mode" in e else ABMode.SHADOW,
            share=float(e["share"].value) if "share" in e else 0.5,
        )
    )


def _destinations(node: Node | None) -> tuple[Any, ...]:
    if node is None:
        return ()
    return tuple(_destination(name, entry) for name, entry in node.mapping().items())


def _destination(name: str, entry: Node) -> Any:
    kind = entry.mapping(allowed=("dimse", "stow"))
    if len(kind) != 1:
        entry.fail("a destination is either {dimse: {host, port, ae_title}} or {stow: {url}}")
    if "stow" in kind:
        s = kind["stow"].mapping(allowed=("url",), required=("url",))

        def stow() -> StowDestination:
            return StowDestination(name=name, url=s["url"].string())

        return kind["stow"].attempt(stow)
    d = kind["dimse"].mapping(
        allowed=("host", "port", "ae_title", "calling_ae"), required=("port", "ae_title")
    )

    def dimse() -> DimseDestination:
        return DimseDestination(
            name=name,
            host=d["host"].string() if "host" in d else "127.0.0.1",
            port=d["port"].integer(minimum=1, maximum=65535),
            ae_title=d["ae_title"].string(),
            calling_ae=d["calling_ae"].string() if "calling_ae" in d else "STREAMGALE",
        )

    return kind["dimse"].attempt(dimse)


def _refuse_deidentifying_routes(routes: Node | None) -> None:
    """A route that de-identifies needs the settings that say how: refuse it at load
    time, not at the first instance (which would then be quarantined)."""
    for route in routes.sequence() if routes is not None else ():
        entry = route.value.get("deidentify") if isinstance(route.value, dict) else None
        if entry is not None and entry.value is True:
            entry.fail(
                "this route de-identifies, but the file has no 'radiology.deidentify' "
                "settings; add them, e.g. deidentify: {secret_env: STREAMGALE_DEID_SECRET, "
                "options: [CLEAN_DESCRIPTORS]}, or set the route's deidentify: false"
            )


def _deid(node: Node | None) -> Any:
    if node is None:
        return None
    from streamgale.dicom.deid import DeidConfig

    e = node.mapping(
        allowed=("options", "secret_env", "pseudonym_prefix"), required=("secret_env",)
    )
    variable = e["secret_env"].string()
    secret = os.environ.get(variable, "")
    if not secret:
        e["secret_env"].fail(
            f"environment variable {variable} is empty; set it to a secret of at least 16 bytes, "
            "e.g. export "
            + variable
            + "=$(python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    options = frozenset(_option(n) for n in e["options"].sequence()) if "options" in e else None
    return node.attempt(
        lambda: DeidConfig(
            options=options or frozenset(),
            secret=secret.encode(),
            pseudonym_prefix=e["pseudonym_prefix"].string() if "pseudonym_prefix" in e else "SG",
        )
    )


def _option(node: Node) -> Any:
    from streamgale.dicom.deid import Option

    text = node.string()
    return node.attempt(lambda: Option.parse(text))


def _limits(node: Node | None) -> ValidationLimits:
    if node is None:
        return ValidationLimits()
    keys = (
        "max_bytes",
        "max_pixel_bytes",
        "max_rows",
        "max_columns",
        "max_frames",
        "min_rows",
        "min_columns",
        "require_pixels",
    )
    e = node.mapping(allowed=keys)
    values: dict[str, Any] = {
        k: (bool(v.value) if k == "require_pixels" else v.integer(minimum=0)) for k, v in e.items()
    }
    return node.attempt(lambda: ValidationLimits(**values))


_EMPTY = Node(value=None, source="argument", key="listeners.dimse", line=0)
