"""to_json converts numpy values and datetimes and names what it cannot encode."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from streamgale.connectors.jsonenc import to_json
from streamgale.errors import StreamGaleError


def test_numpy_and_datetime_values() -> None:
    record = {
        "i": np.int32(3),
        "f": np.float32(0.5),
        "b": np.bool_(True),
        "a": np.arange(2),
        "t": dt.datetime(2024, 1, 2, 3, 4, 5),
    }
    assert to_json(record) == ('{"i":3,"f":0.5,"b":true,"a":[0,1],"t":"2024-01-02T03:04:05"}')


def test_unknown_type_is_named() -> None:
    with pytest.raises(StreamGaleError, match="type set"):
        to_json({"s": {1}})
