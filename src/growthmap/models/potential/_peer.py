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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from growthmap.models.potential._combine import mirror_low, upper_level
from growthmap.models.potential._inputs import check_fitted, check_X, check_y

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
    def _frame(self, X: Any, *, reset: bool = False) -> pd.DataFrame:
        """Size, band and group keys of ``X`` as a frame with canonical column names."""
        df = check_X(self, X, reset=reset)
        cols = [self.size, *self.groups] + ([self.split] if self.split is not None else [])
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise ValueError(f"X lacks the column(s) {missing} the peer method needs")
        size = pd.to_numeric(pd.Series(df[self.size].to_numpy()), errors="coerce")
        out = pd.DataFrame({"_size": size.to_numpy(dtype=float)})
        for i, g in enumerate(self.groups):
            out[f"_g{i}"] = pd.Series(df[g].to_numpy()).astype("string").to_numpy()
        if self.split is not None:
            out["_split"] = pd.Series(df[self.split].to_numpy()).astype("string").to_numpy()
        return out

    def _bands(self, size: np.ndarray) -> np.ndarray:
        band = np.searchsorted(self.band_edges_, size, side="right").astype(float)
        band[~(np.isfinite(size) & (size > 0))] = np.nan
        return band

    def _levels(self) -> list[list[str]]:
        g = [f"_g{i}" for i in range(len(self.groups))]
        levels = [g + [_BAND] + (["_split"] if self.split is not None else []),
                  [*g, _BAND], g, [_BAND], []]
        seen: list[list[str]] = []
        for lv in levels:
            if lv not in seen:
                seen.append(lv)
        return seen

    def _band_label(self, b: float) -> str:
        e = self.band_edges_
        k = int(b)
        if len(e) == 0:
            return f"any {self.size_label}"
        if k == 0:
            return f"<{_fmt(e[0])} {self.size_label}"
        if k == len(e):
            return f"{_fmt(e[-1])}+ {self.size_label}"
        return f"{_fmt(e[k - 1])}-{_fmt(e[k])} {self.size_label}"

    # -- fit / predict -----------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> PeerPotential:
        """Learn the spend-intensity quantiles of every peer group from the buyers."""
        if not 0.5 < self.quantile < 1:
            raise ValueError(f"quantile must lie in (0.5, 1), got {self.quantile}")
        if not 0 < self.interval < 1:
            raise ValueError(f"interval must lie in (0, 1), got {self.interval}")
        y_arr = check_y(y)
        df = self._frame(X, reset=True)
        if len(y_arr) != len(df):
            raise ValueError(f"X has {len(df)} rows but y has {len(y_arr)}")
        size = df["_size"].to_numpy()
        ok = np.isfinite(size) & (size > 0)
        if self.size_band_edges is not None:
            edges = np.asarray(self.size_band_edges, dtype=float)
        elif ok.sum() >= 4:
            edges = np.unique([_round2(v) for v in np.quantile(size[ok], [0.25, 0.5, 0.75])])
        else:
            edges = np.array([], dtype=float)
        self.band_edges_ = edges
        df[_BAND] = self._bands(size)
        q, hi = self.quantile, upper_level(self.quantile, self.interval)
        buyer = y_arr > 0
        sized = buyer & ok
        b = df[sized].assign(_int=y_arr[sized] / size[sized], _sz=size[sized])
        self.levels_ = self._levels()
        self.tables_: list[pd.DataFrame] = []
        for lv in self.levels_:
            if lv:
                g = b.groupby(lv, dropna=True, observed=True)
                t = pd.DataFrame({"n": g.size(), "q": g["_int"].quantile(q),
                                  "hi": g["_int"].quantile(hi), "size_med": g["_sz"].median()})
                t = t[t["n"] >= self.min_group_size].reset_index()
            else:
                t = pd.DataFrame({
                    "n": [len(b)],
                    "q": [b["_int"].quantile(q) if len(b) else 0.0],
                    "hi": [b["_int"].quantile(hi) if len(b) else 0.0],
                    "size_med": [b["_sz"].median() if len(b) else np.nan]})
            self.tables_.append(t)
        spend = y_arr[buyer]
        self.spend_q_ = float(np.quantile(spend, q)) if len(spend) else 0.0
        self.spend_hi_ = float(np.quantile(spend, hi)) if len(spend) else 0.0
        self.n_buyers_ = int(buyer.sum())
        return self

    def _check(self) -> None:
        check_fitted(self, "tables_")

    def estimate(self, X: Any) -> pd.DataFrame:
        """Per row: potential, low, high, peer_group, level (0 = finest), low_confidence,
        and the two drivers: size vs the group's median and the group's intensity vs all."""
        self._check()
        df = self._frame(X)
        size = df["_size"].to_numpy()
        df[_BAND] = self._bands(size)
        n = len(df)
        q_int = np.full(n, np.nan)
        hi_int = np.full(n, np.nan)
        size_med = np.full(n, np.nan)
        level = np.full(n, -1, dtype=np.int64)
        for k, (lv, t) in enumerate(zip(self.levels_, self.tables_, strict=True)):
            todo = level < 0
            if not todo.any() or t.empty:
                continue
            if lv:
                m = df.loc[todo, lv].merge(t, on=lv, how="left")
                qv, hv, sm = m["q"].to_numpy(), m["hi"].to_numpy(), m["size_med"].to_numpy()
            else:
                qv = np.full(todo.sum(), t["q"].iloc[0])
                hv = np.full(todo.sum(), t["hi"].iloc[0])
                sm = np.full(todo.sum(), t["size_med"].iloc[0])
            found = np.isfinite(qv)
            idx = np.flatnonzero(todo)[found]
            q_int[idx], hi_int[idx], size_med[idx] = qv[found], hv[found], sm[found]
            level[idx] = k
        has_size = np.isfinite(size) & (size > 0)
        pot = np.where(has_size, q_int * size, self.spend_q_)
        high = np.where(has_size, hi_int * size, self.spend_hi_)
        pot = np.nan_to_num(pot, nan=self.spend_q_)
        high = np.nan_to_num(high, nan=self.spend_hi_)
        coarsest = len(self.levels_)  # the no-size fallback
        level = np.where(has_size & (level >= 0), level, coarsest)
        labels = self._labels(df, level)
        g_all = self.tables_[-1]["q"].iloc[0] if not self.tables_[-1].empty else np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            size_ratio = np.where(has_size, size / size_med, np.nan)
            group_ratio = np.where(has_size, q_int / g_all, np.nan)
        return pd.DataFrame({
            "potential": pot, "low": mirror_low(pot, high), "high": np.maximum(high, pot),
            "peer_group": labels, "level": level,
            "low_confidence": level >= len(self.levels_) - 1,
            "size_ratio": size_ratio, "group_ratio": group_ratio,
        })

    def _labels(self, df: pd.DataFrame, level: np.ndarray) -> np.ndarray:
        labels = np.empty(len(df), dtype=object)
        for k, lv in enumerate(self.levels_):
            sel = level == k
            if not sel.any():
                continue
            if not lv:
                labels[sel] = "all buyers"
                continue
            parts = []
            for c in lv:
                col = df.loc[sel, c]
                if c == _BAND:
                    codes = pd.Series(col.to_numpy(dtype=float))
                    names = {b: self._band_label(b) for b in codes.unique()}
                    parts.append(codes.map(names).astype(object))
                else:
                    parts.append(col.astype(object).reset_index(drop=True))
            lab = parts[0].astype(str)
            for p in parts[1:]:
                lab = lab + " x " + p.astype(str)
            labels[sel] = lab.to_numpy()
        labels[level >= len(self.levels_)] = f"all buyers (no {self.size_label})"
        return labels

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
