"""The ``streamgale`` command line: run and check YAML pipelines, the dead-letter queue, demos.

The console script calls :func:`main`, a click group::

    streamgale validate pipeline.yaml
    streamgale run pipeline.yaml --state-dir .streamgale/sensors
    streamgale dlq list
    streamgale demo
"""

from streamgale.cli.main import main
from streamgale.cli.quarantine import quarantine
from streamgale.cli.results import results

main.add_command(quarantine)
main.add_command(results)

__all__ = ["main"]
