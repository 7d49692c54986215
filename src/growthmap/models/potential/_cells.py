"""The account x family ``potential`` table, built as Arrow from (accounts x families)
arrays.

The stage computes everything as dense (accounts x families) arrays; the output has one
row per cell, account-major (an account's families together, in family order).  A dense
array raveled in C order *is* that order, so numeric columns cost no copy; account and
family are gathered by code; method and peer group, a handful of values over millions of
cells, are dictionary columns (plain text once in a snapshot); and the drivers, the one
large text column, are written as bytes a block of accounts at a time (:mod:`._drivers`),
so no second copy of six million JSON lists is ever held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from growthmap.models.potential._drivers import NOT_RELEVANT, TOP, Drivers, json_lists

__all__ = ["METHODS", "CellText", "cell_table", "competitor_rows", "drivers_column"]

#: ``method`` of a cell, by code.
METHODS = ("quantile_gbm", "peer", "external", "not_relevant")
#: Accounts per block when the drivers are written (a block's text stays well under
#: the 2 GB of one Arrow string array).
_BLOCK = 200_000


def _gather(values: Sequence[str] | pa.Array, codes: np.ndarray) -> pa.Array:
    """``values[codes]`` as a plain string array (null where a code is negative)."""
    codes = np.asarray(codes)
    arr = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    return arr.take(pa.array(codes, mask=codes < 0))


@dataclass
class CellText:
    """What the drivers of the cells are written from.

    ``method`` is (accounts x families) codes into :data:`METHODS`; ``drivers`` one per
    family; ``vendor_source`` / ``vendor_names`` the vendor source code of each cell
    and the names, ``vendor_ratio`` vendor / model - 1 (read where a cell's method is
    external).
    """

    method: np.ndarray
    drivers: list[Drivers]
    vendor_source: np.ndarray | None = None
    vendor_names: Sequence[str] = ()
    vendor_ratio: np.ndarray | None = None


def _dictionary(labels: Sequence[str], codes: np.ndarray) -> pa.DictionaryArray:
    """``labels[codes]`` dictionary-encoded (null where a code is negative); labels that
    read alike share one entry.  Stored as plain text (a snapshot's VARCHAR), in memory
    a few bytes per cell instead of the text."""
    uniq_codes, uniq = pd.factorize(pd.Index(list(labels), dtype=object))
    remap = np.append(uniq_codes, -1).astype(np.int32)
    idx = remap[np.asarray(codes, dtype=np.int64)]
    return pa.DictionaryArray.from_arrays(pa.array(idx, mask=idx < 0),
                                          pa.array(list(uniq), pa.string()))


def _peer_groups(groups: list[pd.Categorical], n: int, n_fam: int) -> pa.Array:
    if not groups:
        return pa.nulls(n * n_fam, pa.dictionary(pa.int32(), pa.string()))
    offsets = np.cumsum([0] + [len(g.categories) for g in groups])
    labels = [str(c) for g in groups for c in g.categories]
    codes = np.empty((n, n_fam), dtype=np.int64)
    for j, g in enumerate(groups):
        codes[:, j] = np.where(g.codes >= 0, g.codes + offsets[j], -1)
    return _dictionary(labels, codes.ravel())


def drivers_column(text: CellText, n: int, n_fam: int, n_jobs: int = 1
                   ) -> pa.ChunkedArray:
    """The drivers column, written a block of accounts at a time, account-major.

    Every family's names go into one list (with the vendor sources and the
    not-relevant reason) so that one pass writes all families' cells of a block."""
    names: list[str] = []
    base = []
    for d in text.drivers:
        base.append(len(names))
        names += d.names
    vendor_base = len(names)
    names += [f"vendor figure ({s})" for s in text.vendor_names]
    nr = len(names)
    names.append(NOT_RELEVANT)
    ext_code, nr_code = METHODS.index("external"), METHODS.index("not_relevant")
    chunks = []
    for a in range(0, n, _BLOCK):
        rows = slice(a, min(n, a + _BLOCK))
        m = rows.stop - rows.start
        idx = np.full((m, n_fam, TOP), -1, dtype=np.int32)
        eff = np.zeros((m, n_fam, TOP))
        for j in range(n_fam):
            if text.drivers:
                i, e = text.drivers[j].entries(rows)
                idx[:, j, : i.shape[1]] = np.where(i >= 0, i + base[j], -1)
                eff[:, j, : e.shape[1]] = e
            method = text.method[rows, j]
            for sel, code, value in (
                    (method == ext_code, None, None), (method == nr_code, nr, -1.0)):
                if not sel.any():
                    continue
                idx[sel, j, 1:] = -1
                if code is None:  # the vendor's figure: its source, and vs the model
                    assert text.vendor_source is not None and text.vendor_ratio is not None
                    idx[sel, j, 0] = vendor_base + np.maximum(text.vendor_source[rows, j][sel],
                                                              0)
                    eff[sel, j, 0] = text.vendor_ratio[rows, j][sel]
                else:
                    idx[sel, j, 0] = code
                    eff[sel, j, 0] = value
        chunks.append(json_lists(idx.reshape(m * n_fam, TOP), eff.reshape(m * n_fam, TOP),
                                 names, n_jobs))
    return pa.chunked_array(chunks, pa.string())


def cell_table(ids: pa.Array, families: Sequence[str], numbers: dict[str, np.ndarray],
               flags: dict[str, np.ndarray], method: np.ndarray,
               peer_group: list[pd.Categorical], drivers: pa.ChunkedArray,
               columns: Sequence[str]) -> pa.Table:
    """The cells as an Arrow table with ``columns`` in order.

    ``numbers`` and ``flags`` are (accounts x families) float and bool arrays by column
    name (the float arrays become the columns without a copy; NaN becomes null, as
    pandas frames were stored), ``method`` codes into
    :data:`METHODS`, ``peer_group`` one categorical per family, ``drivers`` the
    column :func:`drivers_column` wrote; ``ids`` the account ids.  ``method`` and
    ``peer_group`` are dictionary-encoded: a handful of values over millions of cells.
    """
    n, n_fam = len(ids), len(families)
    cols: dict[str, pa.Array | pa.ChunkedArray] = {
        "account_id": _gather(ids, np.repeat(np.arange(n), n_fam)),
        "family": _gather(families, np.tile(np.arange(n_fam), n)),
        "method": _dictionary(METHODS, method.ravel()),
        "peer_group": _peer_groups(peer_group, n, n_fam),
        "drivers": drivers,
    }
    for name, v in numbers.items():  # NaN (a share of no wallet) is stored as null
        cols[name] = pa.array(np.ascontiguousarray(v, dtype=np.float64).ravel(),
                              from_pandas=True)
    for name, v in flags.items():
        cols[name] = pa.array(np.asarray(v, dtype=bool).ravel())
    return pa.table({c: cols[c] for c in columns})


def competitor_rows(ids: pa.Array, families: Sequence[str], cell: np.ndarray,
                    competitor: np.ndarray, names: Sequence[str],
                    held: np.ndarray) -> pa.Table:
    """Per-competitor rows (account_id, family, competitor, held) from cell positions."""
    n_fam = len(families)
    return pa.table({
        "account_id": _gather(ids, cell // n_fam),
        "family": _gather(families, cell % n_fam),
        "competitor": _gather(names, competitor),
        "held": pa.array(np.asarray(held, dtype=float)),
    })
