"""The composition module: the pipeline below it knows nothing of the dashboard above it."""

from __future__ import annotations

import ast
from pathlib import Path

import streamgale.dicom
from streamgale.dicom.radiology.pipeline import DashboardSettings, RadiologySettings
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
