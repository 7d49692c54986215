"""The drivers of each cell's potential, as the JSON text the account card reads.

Every account x family cell carries ``[{"feature": ..., "effect": ...}, ...]``.  A
million accounts and six families make six million such lists: written row by row in
Python that is minutes, and even with Arrow's string kernels (a dozen passes over six
million strings) it was the stage's second largest cost.  So the estimators keep their
drivers as numbers -- per cell up to three (name, effect) entries, names from a short
list -- and :func:`json_lists` writes the bytes of a block of cells straight into an
Arrow string array, two passes (lengths, then bytes) over the entries in compiled code.

Names are JSON-quoted once with :func:`json.dumps`.  Effects are rounded to three
decimals and written as the shortest decimal (``1.5``, ``-0.25``, ``2`` for 2.0, ``0``
for a non-finite effect), so the text parses to the same numbers as before; an effect
beyond +-9e12 (a vendor figure a trillion times the model's) is written as +-9e12.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numba
import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = [
    "NOT_RELEVANT",
    "Drivers",
    "GBMDrivers",
    "PeerDrivers",
    "json_lists",
]

#: Name of the one driver of a cell whose industry never buys the family (effect -1).
NOT_RELEVANT = "industry does not buy this family"
#: Most entries a cell lists.
TOP = 3


class Drivers(Protocol):
    """Drivers of one family's cells: names, and per row up to :data:`TOP` entries."""

    names: list[str]

    def entries(self, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """(name index, effect) per row and place, (rows x k); index -1 = no entry,
        always after the real ones."""
        ...


@dataclass
class GBMDrivers:
    """The largest path effects of each row (log scale; ``exp(c) - 1`` is shown)."""

    names: list[str]
    index: np.ndarray
    effect: np.ndarray

    def entries(self, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        return self.index[rows], np.expm1(self.effect[rows])


@dataclass
class PeerDrivers:
    """The account's size against its peers' median, and its peer group's spend
    intensity against all buyers'."""

    size_label: str
    group: pd.Categorical
    size_ratio: np.ndarray
    group_ratio: np.ndarray

    @property
    def names(self) -> list[str]:
        return ([f"{self.size_label} vs peers' median"]
                + [f"peer group: {g}" for g in self.group.categories] + ["peer group: "])

    def entries(self, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        codes = np.asarray(self.group.codes[rows], dtype=np.int32)
        n_groups = len(self.group.categories)
        idx = np.column_stack([np.zeros(len(codes), np.int32),
                               np.where(codes >= 0, codes + 1, n_groups + 1)])
        eff = np.column_stack([self.size_ratio[rows] - 1, self.group_ratio[rows] - 1])
        return idx.astype(np.int32), eff


def json_lists(index: np.ndarray, effect: np.ndarray, names: Sequence[str],
               n_jobs: int = 1) -> pa.Array:
    """``[{"feature": names[i], "effect": e}, ...]`` per row of (rows x k) entries.

    ``index`` -1 ends a row's list.  Rows come out in the order of ``index``'s rows,
    written on ``n_jobs`` threads (the text does not depend on it).
    """
    heads = [f'{{"feature": {json.dumps(str(n))}, "effect": '.encode() for n in names]
    blob = np.frombuffer(b"".join(heads) or b" ", dtype=np.uint8)
    offsets = np.cumsum([0] + [len(h) for h in heads]).astype(np.int64)
    idx = np.ascontiguousarray(index, dtype=np.int32)
    eff = np.ascontiguousarray(effect, dtype=np.float64)
    if idx.ndim != 2:
        raise ValueError("index must be (rows x entries)")
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n_jobs), numba.config.NUMBA_NUM_THREADS)))
    try:
        starts, data = _write(idx, eff, blob, offsets)
    finally:
        numba.set_num_threads(previous)
    if starts[-1] >= 2**31:
        raise ValueError("a block of drivers exceeds 2 GB; write smaller blocks")
    return pa.StringArray.from_buffers(len(idx), pa.py_buffer(starts.astype(np.int32)),
                                       pa.py_buffer(data))


@numba.njit(cache=True, inline="always")
def _decimal(x: float) -> tuple[bool, np.int64, np.int64, int, int]:
    """``round(x, 3)`` as (negative, integer part, thousandths, digits of the integer
    part, digits of the fraction once trailing zeros are dropped); non-finite as 0."""
    if not np.isfinite(x):
        x = 0.0
    m = min(max(np.rint(x * 1000.0), -9.0e15), 9.0e15)
    a = np.int64(abs(m))
    ip, fp = a // 1000, a % 1000
    nd, t = 1, ip
    while t >= 10:
        t //= 10
        nd += 1
    nf = 0 if fp == 0 else (3 if fp % 10 else (2 if fp % 100 else 1))
    return m < 0 and a > 0, ip, fp, nd, nf


@numba.njit(cache=True, inline="always")
def _number_len(x: float) -> int:
    neg, _, _, nd, nf = _decimal(x)
    return int(neg) + nd + (nf + 1 if nf else 0)


@numba.njit(cache=True, inline="always")
def _number(x: float, out: np.ndarray, at: int) -> int:
    """Write ``round(x, 3)`` as a short decimal at ``out[at:]``; return its length."""
    neg, ip, fp, nd, nf = _decimal(x)
    n = 0
    if neg:
        out[at] = 45  # "-"
        n = 1
    for d in range(nd - 1, -1, -1):
        out[at + n + d] = 48 + ip % 10
        ip //= 10
    n += nd
    if nf:
        out[at + n] = 46  # "."
        n += 1
        for p in range(nf):
            out[at + n] = 48 + (fp // (100 if p == 0 else (10 if p == 1 else 1))) % 10
            n += 1
    return n


@numba.njit(cache=True, parallel=True)
def _write(idx: np.ndarray, eff: np.ndarray, blob: np.ndarray, offsets: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    n, k = idx.shape
    length = np.zeros(n + 1, dtype=np.int64)
    for i in numba.prange(n):
        size = 2  # "[" and "]"
        for j in range(k):
            f = idx[i, j]
            if f < 0:
                break
            if j:
                size += 2  # ", "
            size += offsets[f + 1] - offsets[f] + _number_len(eff[i, j]) + 1
        length[i + 1] = size
    starts = np.cumsum(length)
    data = np.empty(starts[-1], dtype=np.uint8)
    for i in numba.prange(n):
        at = starts[i]
        data[at] = 91  # "["
        at += 1
        for j in range(k):
            f = idx[i, j]
            if f < 0:
                break
            if j:
                data[at] = 44  # ","
                data[at + 1] = 32
                at += 2
            head = offsets[f + 1] - offsets[f]
            data[at: at + head] = blob[offsets[f]: offsets[f + 1]]
            at += head
            at += _number(eff[i, j], data, at)
            data[at] = 125  # "}"
            at += 1
        data[at] = 93  # "]"
    return starts, data
