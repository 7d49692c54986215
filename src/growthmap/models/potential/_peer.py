"""The ``peer`` potential: spend intensity of buying peers, at a high quantile.

An account's wallet in a family is estimated as its size times what the well-penetrated
buyers of its peer group spend per unit of size (per employee, or per unit of the
account's own revenue).  Peer groups go from fine to coarse — industry x size band
(x region when each part is large enough), industry x size band, industry, size band,
everyone — and the first group with at least ``min_group_size`` buyers is used and
recorded, so a rep can see whom the account was compared with.

The estimator follows the scikit-learn contract: ``fit(X, y)`` with ``X`` a DataFrame (or
array; columns then named by position) and ``y`` the spend per row; rows with no spend
are not buyers and set no benchmark but are still estimated.

Groups are integer keys (the codes of the group columns and the size band, mixed into
one number), and quantiles are read off one sort per level: at a million accounts and
six families a group-by on text keys, and a text label per row, would cost more than
all the rest of the method.  The peer group comes back as a categorical column, one
label per group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from growthmap.models.potential._combine import mirror_low, upper_level
from growthmap.models.potential._inputs import (
    categories_of,
    check_fitted,
    check_X,
    check_y,
    codes_of,
)

__all__ = ["PeerPotential"]

_BAND = "_size_band"


def _round2(x: float) -> float:
    """Round to two significant digits, so band edges read like 50 or 1,200."""
    if x <= 0 or not np.isfinite(x):
        return float(x)
    mag = 10 ** (np.floor(np.log10(x)) - 1)
    return float(np.round(x / mag) * mag)


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 10 else f"{x:g}"


def _group_quantiles(key: np.ndarray, value: np.ndarray, by_value: np.ndarray,
                     qs: Sequence[float]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Per distinct ``key`` >= 0: (keys, counts, [quantile q of ``value`` for q in qs]).

    Linear interpolation between order statistics, as ``numpy.quantile`` and pandas
    compute it.  ``by_value`` is the (stable) order of ``value``, shared by every level:
    a stable sort by the level's key then orders each group by value, and small keys
    sort in linear time (radix sort of 16-bit integers).
    """
    k = key[by_value] + 1  # missing (-1) becomes 0, the first group, left out below
    small = k.max(initial=0) < 2**16
    order = by_value[np.argsort(k.astype(np.uint16) if small else k, kind="stable")]
    k, v = key[order], value[order]
    keys, start, counts = np.unique(k, return_index=True, return_counts=True)
    if len(keys) and keys[0] < 0:
        keys, start, counts = keys[1:], start[1:], counts[1:]
    out = []
    for q in qs:
        pos = q * (counts - 1)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, counts - 1)
        frac = pos - lo
        a, b = v[start + lo], v[start + hi]
        out.append(a + (b - a) * frac)
    return keys, counts, out


class PeerPotential(RegressorMixin, BaseEstimator):
    """Wallet = size x the ``quantile`` of buying peers' spend per unit of size.

    Parameters
    ----------
    size : column name (or position) of the size driver (employees, own revenue).
    groups : columns that define peers (e.g. ``("industry",)``), coarse to fine.
    split : column that splits the finest group further when each part is big enough.
    quantile : quantile of peers' spend intensity that sets the potential.
    interval : nominal coverage of the low-high interval (see ``potential.upper_level``).
    min_group_size : fewest buyers a group needs before a coarser one is used.
    size_band_edges : edges of the size bands; ``None`` learns quartiles of ``size``.
    size_label : word used for the size in group labels (e.g. ``"employees"``).
    """

    def __init__(
        self,
        size: Any = 0,
        groups: Sequence[Any] = (),
        split: Any = None,
        quantile: float = 0.8,
        interval: float = 0.8,
        min_group_size: int = 30,
        size_band_edges: Sequence[float] | None = None,
        size_label: str = "size",
    ) -> None:
        self.size = size
        self.groups = groups
        self.split = split
        self.quantile = quantile
        self.interval = interval
        self.min_group_size = min_group_size
        self.size_band_edges = size_band_edges
        self.size_label = size_label

    # -- helpers ---------------------------------------------------------------------
    def _key_columns(self) -> list[Any]:
        return [*self.groups] + ([self.split] if self.split is not None else [])

    def _frame(self, X: Any, *, reset: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
        """Size, and the codes of the group (and split) columns: -1 = missing/unseen."""
        df = check_X(self, X, reset=reset)
        keys = self._key_columns()
        missing = [c for c in [self.size, *keys] if c not in df.columns]
        if missing:
            raise ValueError(f"X lacks the column(s) {missing} the peer method needs")
        size = pd.to_numeric(pd.Series(df[self.size].to_numpy()), errors="coerce")
        if reset:
            self.key_categories_ = [categories_of(df[c]) for c in keys]
        codes = [codes_of(df[c], cats)
                 for c, cats in zip(keys, self.key_categories_, strict=True)]
        return size.to_numpy(dtype=float), codes

    def _bands(self, size: np.ndarray) -> np.ndarray:
        band = np.searchsorted(self.band_edges_, size, side="right").astype(np.int64)
        band[~(np.isfinite(size) & (size > 0))] = -1
        return band

    def _levels(self) -> list[list[int]]:
        """Each level as positions in the key columns (groups, then the band, then the
        split), finest first."""
        g = list(range(len(self.groups)))
        b = len(self.groups)
        levels = [g + [b] + ([b + 1] if self.split is not None else []), [*g, b], g, [b], []]
        seen: list[list[int]] = []
        for lv in levels:
            if lv not in seen:
                seen.append(lv)
        return seen

    def _columns(self, codes: list[np.ndarray], band: np.ndarray) -> list[np.ndarray]:
        """Key columns in level positions: groups, band, split."""
        g = len(self.groups)
        return [*codes[:g], band, *codes[g:]]

    def _radix(self) -> list[int]:
        """Number of values of each key column (categories, bands)."""
        n = [len(c) for c in self.key_categories_]
        g = len(self.groups)
        return [*n[:g], len(self.band_edges_) + 1, *n[g:]]

    def _key(self, cols: list[np.ndarray], lv: list[int], n: int) -> np.ndarray:
        """One int64 key per row for level ``lv``; -1 where a key column is missing."""
        key = np.zeros(n, dtype=np.int64)
        ok = np.ones(n, dtype=bool)
        radix = self._radix()
        for c in lv:
            key = key * radix[c] + np.maximum(cols[c], 0)
            ok &= cols[c] >= 0
        return np.where(ok, key, -1)

    def _band_label(self, b: int) -> str:
        e = self.band_edges_
        k = int(b)
        if len(e) == 0:
            return f"any {self.size_label}"
        if k == 0:
            return f"<{_fmt(e[0])} {self.size_label}"
        if k == len(e):
            return f"{_fmt(e[-1])}+ {self.size_label}"
        return f"{_fmt(e[k - 1])}-{_fmt(e[k])} {self.size_label}"

    def _label(self, lv: list[int], key: int) -> str:
        """The readable name of group ``key`` of level ``lv``: its parts joined by x."""
        if not lv:
            return "all buyers"
        radix = self._radix()
        parts = []
        for c in reversed(lv):
            key, code = divmod(key, radix[c])
            parts.append(self._part(c, code))
        return " x ".join(reversed(parts))

    def _part(self, c: int, code: int) -> str:
        g = len(self.groups)
        if c == g:
            return self._band_label(code)
        cats = self.key_categories_[c if c < g else c - 1]
        return cats[code]

    # -- fit / predict -----------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> PeerPotential:
        """Learn the spend-intensity quantiles of every peer group from the buyers."""
        if not 0.5 < self.quantile < 1:
            raise ValueError(f"quantile must lie in (0.5, 1), got {self.quantile}")
        if not 0 < self.interval < 1:
            raise ValueError(f"interval must lie in (0, 1), got {self.interval}")
        y_arr = check_y(y)
        size, codes = self._frame(X, reset=True)
        if len(y_arr) != len(size):
            raise ValueError(f"X has {len(size)} rows but y has {len(y_arr)}")
        ok = np.isfinite(size) & (size > 0)
        if self.size_band_edges is not None:
            edges = np.asarray(self.size_band_edges, dtype=float)
        elif ok.sum() >= 4:
            edges = np.unique([_round2(v) for v in np.quantile(size[ok], [0.25, 0.5, 0.75])])
        else:
            edges = np.array([], dtype=float)
        self.band_edges_ = edges
        q, hi = self.quantile, upper_level(self.quantile, self.interval)
        buyer = y_arr > 0
        sized = buyer & ok
        cols = [c[sized] for c in self._columns(codes, self._bands(size))]
        intensity, sz = y_arr[sized] / size[sized], size[sized]
        by_int = np.argsort(intensity, kind="stable")
        by_size = np.argsort(sz, kind="stable")
        self.levels_ = self._levels()
        self.tables_: list[pd.DataFrame] = []
        for lv in self.levels_:
            key = self._key(cols, lv, len(sz))
            keys, n, (qv, hv) = _group_quantiles(key, intensity, by_int, (q, hi))
            _, _, (med,) = _group_quantiles(key, sz, by_size, (0.5,))
            if not lv and not len(keys):  # no buyers at all: everyone's wallet is zero
                keys, n, qv, hv, med = (np.zeros(1, np.int64), np.zeros(1, np.int64),
                                        np.zeros(1), np.zeros(1), np.full(1, np.nan))
            keep = n >= (self.min_group_size if lv else 0)
            self.tables_.append(pd.DataFrame({
                "key": keys[keep], "n": n[keep], "q": qv[keep], "hi": hv[keep],
                "size_med": med[keep]}))
        spend = y_arr[buyer]
        self.spend_q_ = float(np.quantile(spend, q)) if len(spend) else 0.0
        self.spend_hi_ = float(np.quantile(spend, hi)) if len(spend) else 0.0
        self.n_buyers_ = int(buyer.sum())
        return self

    def _check(self) -> None:
        check_fitted(self, "tables_")

    def estimate(self, X: Any) -> pd.DataFrame:
        """Per row: potential, low, high, peer_group (categorical), level (0 = finest),
        low_confidence, and the two drivers: size vs the group's median and the group's
        intensity vs all."""
        self._check()
        size, codes = self._frame(X)
        n = len(size)
        cols = self._columns(codes, self._bands(size))
        q_int = np.full(n, np.nan)
        hi_int = np.full(n, np.nan)
        size_med = np.full(n, np.nan)
        level = np.full(n, -1, dtype=np.int64)
        group = np.full(n, -1, dtype=np.int64)  # row of the level's table
        for k, (lv, t) in enumerate(zip(self.levels_, self.tables_, strict=True)):
            todo = np.flatnonzero(level < 0)
            if not len(todo) or t.empty:
                continue
            key = self._key([c[todo] for c in cols], lv, len(todo))
            keys = t["key"].to_numpy()
            pos = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
            found = (key >= 0) & (keys[pos] == key)
            idx, pos = todo[found], pos[found]
            q_int[idx] = t["q"].to_numpy()[pos]
            hi_int[idx] = t["hi"].to_numpy()[pos]
            size_med[idx] = t["size_med"].to_numpy()[pos]
            level[idx], group[idx] = k, pos
        has_size = np.isfinite(size) & (size > 0)
        pot = np.where(has_size, q_int * size, self.spend_q_)
        high = np.where(has_size, hi_int * size, self.spend_hi_)
        pot = np.nan_to_num(pot, nan=self.spend_q_)
        high = np.nan_to_num(high, nan=self.spend_hi_)
        coarsest = len(self.levels_)  # the no-size fallback
        level = np.where(has_size & (level >= 0), level, coarsest)
        g_all = self.tables_[-1]["q"].iloc[0] if not self.tables_[-1].empty else np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            size_ratio = np.where(has_size, size / size_med, np.nan)
            group_ratio = np.where(has_size, q_int / g_all, np.nan)
        return pd.DataFrame({
            "potential": pot, "low": mirror_low(pot, high), "high": np.maximum(high, pot),
            "peer_group": self._labels(level, group), "level": level,
            "low_confidence": level >= len(self.levels_) - 1,
            "size_ratio": size_ratio, "group_ratio": group_ratio,
        })

    def _labels(self, level: np.ndarray, group: np.ndarray) -> pd.Categorical:
        """The peer group of each row as a categorical: one label per group used."""
        offsets = np.cumsum([0] + [len(t) for t in self.tables_])
        code = np.where(level < len(self.levels_),
                        offsets[np.minimum(level, len(self.levels_) - 1)] + group,
                        offsets[-1])
        used = np.unique(code)
        labels = []
        for c in used:
            if c == offsets[-1]:
                labels.append(f"all buyers (no {self.size_label})")
                continue
            k = int(np.searchsorted(offsets, c, side="right") - 1)
            key = int(self.tables_[k]["key"].iloc[int(c - offsets[k])])
            labels.append(self._label(self.levels_[k], key))
        # two groups could read alike (an industry named like a size band): one category
        cat_codes, cats = pd.factorize(pd.Index(labels, dtype=object))
        return pd.Categorical.from_codes(cat_codes[np.searchsorted(used, code)],
                                         categories=pd.Index(cats, dtype=object))

    def predict(self, X: Any) -> np.ndarray:
        """The potential of each row."""
        return self.estimate(X)["potential"].to_numpy()

    def predict_interval(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(low, potential, high) of each row."""
        e = self.estimate(X)
        return e["low"].to_numpy(), e["potential"].to_numpy(), e["high"].to_numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.regressor_tags.poor_score = True
        return tags
