"""The ``streamgale`` command line: run and check YAML pipelines, the dead-letter queue, demos.

The console script calls :func:`main`, a click group::

    streamgale validate pipeline.yaml
    streamgale run pipeline.yaml --state-dir .streamgale/sensors
    streamgale dlq list
    streamgale demo
    streamgale lake tables
    streamgale sql "SELECT stage, count(*) FROM telemetry GROUP BY stage"
    streamgale report stage-latency
"""

from streamgale.cli.dashboard import dashboard
from streamgale.cli.lake import lake
from streamgale.cli.main import main
from streamgale.cli.quarantine import quarantine
from streamgale.cli.results import results
from streamgale.cli.sql import report, sql
from streamgale.cli.store import reprocess, store

for _command in (quarantine, results, lake, sql, report, dashboard, store, reprocess):
    main.add_command(_command)

__all__ = ["main"]
