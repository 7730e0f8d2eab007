"""streamgale.inference exports a curated API and imports without onnxruntime."""

from __future__ import annotations

import subprocess
import sys

import streamgale.inference as inference


def test_all_names_exist_once_and_nothing_leaks() -> None:
    exported = inference.__all__
    assert len(exported) == len(set(exported))
    assert all(hasattr(inference, name) for name in exported)
    public = {
        n
        for n, v in vars(inference).items()
        if not n.startswith("_") and getattr(v, "__module__", "").startswith("streamgale.inference")
    }
    assert public <= set(exported), public - set(exported)


def test_imports_without_onnxruntime() -> None:
    code = (
        "import sys; sys.modules['onnxruntime'] = None\n"
        "import streamgale.inference\n"
        "assert 'onnxruntime' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
