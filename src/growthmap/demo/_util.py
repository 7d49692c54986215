"""Small helpers shared by the demo generators: seeding, ids, dates, Arrow tables.

The world is generated block by block (``BLOCK`` accounts each).  Every block draws from
its own generators, seeded from ``(seed, block, stream)`` only, so block ``k`` holds the
same accounts, lines and CRM rows whatever the world's size and however blocks are
grouped into chunks on disk.  One stream per concern (accounts, transactions, CRM, ...)
keeps a change in one generator from reshuffling the others.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from growthmap.contract.inputs import TABLES
from growthmap.demo._catalog import DEMO_AS_OF, DEMO_START

__all__ = [
    "ARROW_TYPES",
    "AS_OF_DAY",
    "BLOCK",
    "START_DAY",
    "Stream",
    "block_rng",
    "contract_table",
    "dates",
    "ids",
    "ids2",
    "layout_rng",
    "sigmoid",
]

#: Accounts per generation block: the unit of seeding (never change it lightly: it is
#: part of what makes a seed reproduce the same world).
BLOCK = 1000


class Stream:
    """Sub-stream numbers of a block's generators (one per concern)."""

    ACCOUNTS = 0
    HISTORY = 1
    LINES = 2
    NEXT_YEAR = 3
    OPPORTUNITIES = 4
    PEOPLE = 5
    MARKET = 6
    REGIME = 7


_EPOCH = np.datetime64("1970-01-01", "D")
#: Days since 1970-01-01 of the first history day and of the as-of date.
START_DAY = int((np.datetime64(DEMO_START, "D") - _EPOCH).astype(int))
AS_OF_DAY = int((np.datetime64(DEMO_AS_OF, "D") - _EPOCH).astype(int))

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "date": pa.date32(),
    "bool": pa.bool_(),
}


def block_rng(seed: int, block: int, stream: int) -> np.random.Generator:
    """The generator of one block's stream: a function of (seed, block, stream) only."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, block, stream)))


def layout_rng(seed: int) -> np.random.Generator:
    """The generator of the size-dependent layout (territories, reps)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))


def _pad(numbers: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string()),
                        width=width, padding="0")


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded string ids, e.g. ``ids("A", [7], 7)`` -> ``A0000007`` (vectorised)."""
    return pc.binary_join_element_wise(prefix, _pad(numbers, width), "")


def ids2(prefix: str, first: np.ndarray, w1: int, second: np.ndarray, w2: int) -> pa.Array:
    """Two-part ids such as ``INV-0000007-00012`` (account number, then a serial)."""
    return pc.binary_join_element_wise(prefix, _pad(first, w1), "-", _pad(second, w2), "")


def dates(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Arrow dates from days since 1970-01-01 (``mask`` marks nulls)."""
    arr = pa.array(np.asarray(days, dtype=np.int32), type=pa.int32(), mask=mask)
    return arr.cast(pa.date32())


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _array(value: object, typ: pa.DataType) -> pa.Array:
    if isinstance(value, tuple):  # (values, null mask)
        values, mask = value
        if isinstance(values, pa.Array):
            values = values.to_numpy(zero_copy_only=False)
        return pa.array(values, type=typ, mask=np.asarray(mask, dtype=bool))
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Array):
        return value if value.type == typ else value.cast(typ)
    return pa.array(value, type=typ)


def contract_table(name: str, data: Mapping[str, object]) -> pa.Table:
    """An Arrow table of contract table ``name`` from ``data`` (column -> values).

    Columns are put in contract order with the contract's types; a value may be a numpy
    array, an Arrow array or a ``(values, null_mask)`` pair.  Naming a column the
    contract does not know is a bug, so it raises.
    """
    spec = TABLES[name]
    unknown = set(data) - set(spec.column_names)
    if unknown:
        raise KeyError(f"{name}: columns not in the contract: {sorted(unknown)}")
    cols = [c for c in spec.columns if c.name in data]
    return pa.Table.from_arrays(
        [_array(data[c.name], ARROW_TYPES[c.dtype]) for c in cols],
        schema=pa.schema([pa.field(c.name, ARROW_TYPES[c.dtype]) for c in cols]),
    )
