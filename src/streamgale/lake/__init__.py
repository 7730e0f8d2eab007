"""The Parquet lake: telemetry and results as plain files the user owns.

Rows of the tables in :data:`TABLES` land as Hive-partitioned Parquet,
``<root>/<table>/date=YYYY-MM-DD/pipeline=<name>/part-*.parquet``, with a
catalog file ``<root>/_catalog.json`` describing every table. The root is a
local directory (the embedded default) or an fsspec URL such as
``s3://bucket/prefix``. :class:`Lake` writes, compacts and expires;
:class:`LakeSink` lands a pipeline's rows exactly once. Needs the ``lake``
extra (pyarrow, fsspec, s3fs), imported only when a lake is used.

>>> import tempfile
>>> import pyarrow.dataset as ds
>>> lake = Lake(tempfile.mkdtemp())
>>> _ = lake.write("telemetry", [
...     {"ts": "2024-05-01T10:00:00Z", "pipeline": "radiology", "step": "prepare",
...      "stage": "received", "level": "instance", "outcome": "ok"},
... ])
>>> table = ds.dataset(lake.url_for("telemetry"), partitioning="hive").to_table()
>>> table.column("date").to_pylist(), table.column("stage").to_pylist()
(['2024-05-01'], ['received'])
"""

from streamgale.lake.lake import Lake
from streamgale.lake.schemas import STAGES, TABLES, Column, TableSpec, arrow_schema
from streamgale.lake.sink import LakeSink

__all__ = ["STAGES", "TABLES", "Column", "Lake", "LakeSink", "TableSpec", "arrow_schema"]
