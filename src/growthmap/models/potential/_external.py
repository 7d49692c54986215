"""The ``external`` potential: wallet figures bought from a data vendor.

It learns nothing; it looks the vendor's figure up by key (account and family).  It
still follows the estimator contract so the stage can treat all three sources alike:
``fit(keys, potential, low=..., high=...)`` stores the figures, ``predict(keys)`` returns
them, NaN where the vendor has none.  Vendor rows that name the same key twice are
averaged: the contract says one row per key, and a mean is the least surprising repair.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from growthmap.models.potential._inputs import check_fitted, check_X, check_y

__all__ = ["ExternalPotential"]


class ExternalPotential(RegressorMixin, BaseEstimator):
    """Vendor wallet per key; ``keys`` are the key columns (names or positions, default all)."""

    def __init__(self, keys: Any = None) -> None:
        self.keys = keys

    def _keys(self, X: Any, *, reset: bool = False) -> pd.DataFrame:
        df = check_X(self, X, reset=reset)
        cols = list(df.columns) if self.keys is None else list(self.keys)
        out = df[cols].copy()
        out.columns = [f"_k{i}" for i in range(len(cols))]
        for c in out.columns:
            if pd.api.types.is_numeric_dtype(out[c]):
                v = out[c].to_numpy(dtype=float)
                if not np.isfinite(v).all():
                    raise ValueError("Input X contains NaN or infinity in a key column")
            else:
                out[c] = out[c].astype("string")
        return out.reset_index(drop=True)

    def fit(self, X: Any, y: Any, low: Any = None, high: Any = None) -> ExternalPotential:
        """Store the vendor figures ``y`` (and optional bounds) under the keys in ``X``."""
        k = self._keys(X, reset=True)
        n = len(k)
        y = check_y(y)
        if len(y) != n:
            raise ValueError(f"X has {n} rows but y has {len(y)}")
        lo = np.full(n, np.nan) if low is None else np.asarray(low, dtype=float).ravel()
        hi = np.full(n, np.nan) if high is None else np.asarray(high, dtype=float).ravel()
        t = k.assign(_pot=y, _low=lo, _high=hi)
        self.table_ = t.groupby(list(k.columns), as_index=False, dropna=False).mean()
        return self

    def predict_interval(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(low, potential, high) per row; NaN where the vendor has no figure or bound."""
        check_fitted(self, "table_")
        k = self._keys(X)
        m = k.merge(self.table_, on=list(k.columns), how="left")
        return (m["_low"].to_numpy(dtype=float), m["_pot"].to_numpy(dtype=float),
                m["_high"].to_numpy(dtype=float))

    def predict(self, X: Any) -> np.ndarray:
        """The vendor's figure per row (NaN where there is none)."""
        return self.predict_interval(X)[1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        return tags
