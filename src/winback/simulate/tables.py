"""Turning the simulator's arrays into Arrow tables shaped exactly like the data contract.

Column types follow the contract's kinds, so the writers print money with two decimals,
dates as ``YYYY-MM-DD``, timestamps as ``YYYY-MM-DD HH:MM:SS`` and booleans as
``true``/``false``; a missing value is a null (blank in CSV).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from winback.errors import SettingsError
from winback.ledger.contract import arrow_schema
from winback.simulate.calendar import Window

#: Digits in each kind of identifier; wide enough for 10M customers and their history.
ID_WIDTH = {"C": 8, "S": 5, "O": 10, "I": 9, "X": 9, "N": 10, "R": 10, "P": 4, "W": 8, "SUB": 8}


def schema(table: str) -> pa.Schema:
    """The Arrow schema of a contract table, columns in contract order."""
    return arrow_schema(table)


def build(table: str, columns: Mapping[str, Any], rows: int) -> pa.Table:
    """A contract table from ``columns``; columns not given are all blank."""
    fields = schema(table)
    unknown = set(columns) - set(fields.names)
    if unknown:
        raise KeyError(f"{table} has no columns {sorted(unknown)}")
    arrays = []
    for f in fields:
        value = columns.get(f.name)
        if value is None:
            arrays.append(pa.nulls(rows, f.type))
        elif isinstance(value, pa.Array | pa.ChunkedArray):
            arrays.append(value.cast(f.type))
        else:
            arrays.append(pa.array(value, type=f.type))
    return pa.Table.from_arrays(arrays, schema=fields)


def ids(prefix: str, numbers: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Identifiers such as ``C00000042`` from whole numbers (``missing`` marks blanks).

    Built as one fixed-width byte buffer (prefix, then zero-padded digits) and handed to
    Arrow as a string array without any per-value Python work.
    """
    numbers = np.asarray(numbers, dtype=np.int64)
    width = ID_WIDTH[prefix]
    if numbers.size and (numbers.max() >= 10**width or numbers.min() < 0):
        raise SettingsError(f"too many records for {width}-digit {prefix} identifiers")
    size = len(prefix) + width
    text = np.empty((numbers.size, size), dtype=np.uint8)
    text[:, : len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    rest = numbers.copy()
    for position in range(size - 1, len(prefix) - 1, -1):
        rest, digit = np.divmod(rest, 10)
        text[:, position] = digit + ord("0")
    offsets = np.arange(numbers.size + 1, dtype=np.int32) * size
    out = pa.Array.from_buffers(
        pa.string(), numbers.size, [None, pa.py_buffer(offsets), pa.py_buffer(text)]
    )
    if missing is not None:
        out = pc.if_else(pa.array(missing), pa.nulls(numbers.size, pa.string()), out)
    return out


def dates(window: Window, days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Dates from day offsets in the window (negative days fall before it)."""
    epoch = int(window.start.astype(np.int64))
    values = (np.asarray(days, dtype=np.int64) + epoch).astype(np.int32)
    return pa.array(values, type=pa.int32(), mask=missing).cast(pa.date32())


def timestamps(window: Window, seconds: np.ndarray) -> pa.Array:
    """Timestamps from seconds after midnight on the window's first day."""
    epoch = int(window.start.astype(np.int64)) * 86400
    return pa.array(np.asarray(seconds, dtype=np.int64) + epoch).cast(pa.timestamp("s"))


def money(values: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Amounts rounded to the cent, as DECIMAL(18,2)."""
    # Built from whole cents (two 64-bit words per value) so no float ever rounds wrongly.
    cents = np.round(np.asarray(values, dtype=float) * 100).astype(np.int64)
    words = np.empty((cents.size, 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)
    out = pa.Array.from_buffers(
        pa.decimal128(18, 2), cents.size, [None, pa.py_buffer(words.tobytes())]
    )
    if missing is not None:
        out = pc.if_else(pa.array(missing), pa.nulls(cents.size, out.type), out)
    return out


def pick(choices: tuple[str, ...] | list[str], index: np.ndarray) -> pa.Array:
    """Strings from a short list, chosen by index (decoded from a dictionary array, which
    Arrow does far faster than a ``take`` on strings)."""
    indices = pa.array(np.asarray(index, dtype=np.int32), type=pa.int32())
    return pa.DictionaryArray.from_arrays(indices, pa.array(list(choices), pa.string())).cast(
        pa.string()
    )
