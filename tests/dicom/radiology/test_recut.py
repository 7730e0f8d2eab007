"""A study cut again with nothing new keeps its result: no version with the same evidence.

Regression: after a restart, replay could cut a study differently from the
first run (other instances per version), and every cut that the result store
did not know by its id became a new version with the same evidence, each of
which would be sent to the PACS. Here an instance announced again (as a
replay or a release of an instance already in the result does) makes the
study complete again with that instance alone; the result stays version 1.
"""

from __future__ import annotations

from pathlib import Path

from streamgale.dicom.radiology.pipeline import RadiologySettings
from streamgale.dicom.results.store import ResultStore
from streamgale.dicom.routing import Route
from streamgale.dicom.synthetic import ct_series, write_instances
from streamgale.inference import load_model_config
from tests.inference.onnx_models import segmenter

from .helpers import running, wait_for_results


def test_a_cut_with_only_covered_instances_returns_the_same_result(tmp_path: Path) -> None:
    model = segmenter(tmp_path, size=32, preprocessing={"voi": "lung", "size": [32, 32]})
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    settings = RadiologySettings(
        state_dir=tmp_path / "state",
        models=(load_model_config(model),),
        routes=(Route("ct", modalities=frozenset({"CT"}), models=("organs",)),),
        dimse=None,
        stow=None,
        folder=inbox,
        quiet_seconds=0.5,
        checkpoint_interval=0.2,
        telemetry=False,
    )
    series = ct_series(slices=4, size=64, seed=3)
    with running(settings) as app:
        for path in write_instances(series, tmp_path / "staging"):
            path.rename(inbox / path.name)
        wait_for_results(app, 1)
        app.store.release(str(series[0].SOPInstanceUID))
        wait_for_results(app, 2)
        first, again = app.summaries[:2]
    assert (again.result_id, again.version) == (first.result_id, 1)
    store = ResultStore(tmp_path / "state" / "results")
    assert [r.version for r in store.list()] == [1]
    store.close()
