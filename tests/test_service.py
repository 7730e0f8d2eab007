"""The composition module: the pipeline below it knows nothing of the dashboard above it."""

from __future__ import annotations

import ast
import socket
import threading
from pathlib import Path

import pytest

import streamgale.dicom
from streamgale.dicom.radiology.pipeline import DashboardSettings, RadiologySettings
from streamgale.errors import ConfigError
from streamgale.service import RadiologyService


def test_no_module_below_the_service_imports_the_dashboard_or_the_service() -> None:
    # The dashboard reads the pipeline; the pipeline must not build (import) it
    # back, not even lazily inside a function: the service composes both.
    below = Path(streamgale.dicom.__file__).parent
    offenders = [
        f"{path.relative_to(below)}: {name}"
        for path in sorted(below.rglob("*.py"))
        for name in _imported_modules(path)
        if name.startswith(("streamgale.dashboard", "streamgale.service"))
    ]
    assert offenders == []


def _imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_the_service_wires_the_dashboard_around_the_pipeline(tmp_path: Path) -> None:
    settings = RadiologySettings(
        state_dir=tmp_path,
        models=(),
        routes=(),
        dimse=None,
        stow=None,
        dashboard=DashboardSettings(port=0),
    )
    service = RadiologyService(settings)
    try:
        assert service.dashboard is not None
        assert service.scp is None and service.stow is None
        assert not hasattr(service.app, "dashboard")
    finally:
        service.close()


def test_a_dashboard_that_cannot_listen_leaves_no_token_file_behind(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = _dashboard_only(tmp_path, port=taken.getsockname()[1])
        with pytest.raises(ConfigError):
            busy.run()
    assert not (tmp_path / "dashboard" / "admin.json").exists()
    # The next start makes the token, and says so once.
    service = _dashboard_only(tmp_path, port=0)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        assert service.ready.wait(30)
        assert service.dashboard is not None and service.dashboard.first_token
    finally:
        service.stop()
        thread.join(30)


def _dashboard_only(state_dir: Path, *, port: int) -> RadiologyService:
    settings = RadiologySettings(
        state_dir=state_dir,
        models=(),
        routes=(),
        dimse=None,
        stow=None,
        telemetry=False,
        dashboard=DashboardSettings(port=port),
    )
    return RadiologyService(settings)
