"""The ``streamgale`` command line: run and check YAML pipelines, the dead-letter queue, demos.

The console script calls :func:`main`, a click group::

    streamgale validate pipeline.yaml
    streamgale run pipeline.yaml --state-dir .streamgale/sensors
    streamgale dlq list
    streamgale demo
    streamgale lake tables
"""

from streamgale.cli.lake import lake
from streamgale.cli.main import main
from streamgale.cli.quarantine import quarantine
from streamgale.cli.results import results

for _command in (quarantine, results, lake):
    main.add_command(_command)

__all__ = ["main"]
