"""The ``quantile_gbm`` potential: LightGBM quantile regression, cross-fitted.

Per family, the model learns the ``quantile`` of buyers' (log) spend from firmographics
— size, industry, region and any attribute the config names — and a second model the
upper spend quantile that bounds the wallet (see :func:`potential.upper_level`).

Cross-fitting is what keeps it honest: every row belongs to one of ``n_folds`` folds,
and a row is scored by the models trained on the *other* folds, so an account's own
spend never sets its own potential.  Pass the same ``folds`` to :meth:`fit` and
:meth:`predict_interval` to get these out-of-fold figures; without ``folds``, new rows
get the average of the fold models (on the log scale).

Spend is modelled on the log scale: quantiles survive monotone transforms, so the
exponent of the log-spend quantile is the spend quantile, and the trees split on
relative rather than absolute differences.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from growthmap.models.potential._combine import mirror_low, upper_level
from growthmap.models.potential._inputs import check_fitted, check_X, check_y

__all__ = ["QuantileGBMPotential"]

_THREADED_ROWS = 100_000


class _Constant:
    """Stand-in model when a fold has too few buyers to learn from: one quantile."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.value)


class QuantileGBMPotential(RegressorMixin, BaseEstimator):
    """Wallet = exp(LightGBM ``quantile`` of buyers' log spend), trained out-of-fold.

    Parameters
    ----------
    quantile : quantile of buyers' spend that sets the potential.
    interval : nominal coverage of the low-high interval.
    n_folds : cross-fitting folds.
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM settings.
    max_train_rows : buyers sampled per fold to train on (``None``: all).
    n_jobs : LightGBM threads.
    random_state : seed of the folds, the sampling and LightGBM.
    """

    def __init__(
        self,
        quantile: float = 0.8,
        interval: float = 0.8,
        n_folds: int = 4,
        n_estimators: int = 150,
        learning_rate: float = 0.1,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        max_train_rows: int | None = None,
        n_jobs: int = 2,
        random_state: int = 0,
    ) -> None:
        self.quantile = quantile
        self.interval = interval
        self.n_folds = n_folds
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.max_train_rows = max_train_rows
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- data ------------------------------------------------------------------------
    def _prepare(self, X: Any, *, fitting: bool) -> pd.DataFrame:
        """Numeric columns as float, text columns as categories fixed at fit time."""
        df = check_X(self, X, reset=fitting, numeric=not isinstance(X, pd.DataFrame)).copy()
        df.columns = [str(c) if isinstance(X, pd.DataFrame) else f"x{c}" for c in df.columns]
        if fitting:
            self.features_ = list(df.columns)
            self.categories_: dict[str, list[str]] = {}
            for c in df.columns:
                if not pd.api.types.is_numeric_dtype(df[c]) or pd.api.types.is_bool_dtype(df[c]):
                    vals = df[c].astype("string").dropna().unique()
                    self.categories_[c] = sorted(str(v) for v in vals)
        df.columns = self.features_
        for c in df.columns:
            if c in self.categories_:
                df[c] = pd.Categorical(df[c].astype("string").astype(object),
                                       categories=self.categories_[c])
            else:
                v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
                if np.isinf(v).any():
                    raise ValueError("Input X contains infinity or a value too large for "
                                     f"dtype('float64') in column {c!r}")
                df[c] = v
        return df

    def _params(self, alpha: float, rows: int) -> dict[str, Any]:
        # below ~100k rows one thread is faster: starting and syncing threads costs more
        # than it saves, and on a busy machine waiting threads spin for a long time
        threads = self.n_jobs if rows >= _THREADED_ROWS else 1
        return dict(objective="quantile", alpha=alpha, n_estimators=self.n_estimators,
                    learning_rate=self.learning_rate, num_leaves=self.num_leaves,
                    min_child_samples=self.min_child_samples, n_jobs=threads,
                    random_state=self.random_state, verbose=-1, subsample_freq=0,
                    min_data_per_group=max(5, self.min_child_samples // 2), cat_smooth=10)

    # -- fit / predict -----------------------------------------------------------------
    def fit(self, X: Any, y: Any, folds: Any = None) -> QuantileGBMPotential:
        """Train ``n_folds`` pairs of quantile models, each without one fold's rows.

        ``folds`` gives each row's fold (0 .. n_folds-1); default: a seeded random split.
        Rows with no positive spend are not buyers: they are never training targets.
        """
        if not 0.5 < self.quantile < 1:
            raise ValueError(f"quantile must lie in (0.5, 1), got {self.quantile}")
        if not 0 < self.interval < 1:
            raise ValueError(f"interval must lie in (0, 1), got {self.interval}")
        if int(self.n_folds) < 2:
            raise ValueError(f"n_folds must be at least 2, got {self.n_folds}")
        df = self._prepare(X, fitting=True)
        y_arr = check_y(y)
        if len(y_arr) != len(df):
            raise ValueError(f"X has {len(df)} rows but y has {len(y_arr)}")
        rng = np.random.default_rng(self.random_state)
        if folds is None:
            folds = rng.permutation(len(df)) % self.n_folds
        folds = np.asarray(folds, dtype=np.int64)
        if len(folds) != len(df) or folds.min() < 0 or folds.max() >= self.n_folds:
            raise ValueError(f"folds must give each of the {len(df)} rows a fold in "
                             f"0..{self.n_folds - 1}")
        buyer = y_arr > 0
        target = np.log(np.where(buyer, y_arr, 1.0))
        ref_rows = df[buyer] if buyer.any() else df
        self.reference_: dict[str, Any] = {}
        for c in df.columns:
            if c in self.categories_:
                mode = ref_rows[c].mode(dropna=True)
                self.reference_[c] = mode.iloc[0] if len(mode) else None
            else:
                med = np.nanmedian(ref_rows[c].to_numpy()) if ref_rows[c].notna().any() else 0
                self.reference_[c] = float(med)
        hi = upper_level(self.quantile, self.interval)
        self.estimators_: list[tuple[Any, Any]] = []
        min_rows = max(2 * self.min_child_samples, 10)
        for k in range(self.n_folds):
            idx = np.flatnonzero(buyer & (folds != k))
            if self.max_train_rows is not None and len(idx) > self.max_train_rows:
                idx = np.sort(rng.choice(idx, self.max_train_rows, replace=False))
            pair = []
            for alpha in (self.quantile, hi):
                if len(idx) < min_rows:
                    val = float(np.quantile(target[idx], alpha)) if len(idx) else -np.inf
                    pair.append(_Constant(val))
                    continue
                model = lgb.LGBMRegressor(**self._params(alpha, len(idx)))
                model.fit(df.iloc[idx], target[idx])
                pair.append(model)
            self.estimators_.append((pair[0], pair[1]))
        gain = np.zeros(len(self.features_))
        for m in self.estimators_:
            if not isinstance(m[0], _Constant):
                gain += m[0].booster_.feature_importance(importance_type="gain")
        order = np.argsort(-gain, kind="stable")
        self.important_features_ = [self.features_[i] for i in order]
        self.n_buyers_ = int(buyer.sum())
        return self

    def _check(self) -> None:
        check_fitted(self, "estimators_")

    def _log_predict(self, df: pd.DataFrame, which: int, folds: Any) -> np.ndarray:
        """Log-scale prediction of model ``which`` (0 = potential, 1 = upper bound)."""
        def pred(model: Any, rows: pd.DataFrame) -> np.ndarray:
            if isinstance(model, _Constant):
                return model.predict(rows)
            threads = self.n_jobs if len(rows) >= _THREADED_ROWS else 1
            return model.predict(rows, num_threads=threads)

        if folds is None:
            return np.mean([pred(m[which], df) for m in self.estimators_], axis=0)
        folds = np.asarray(folds, dtype=np.int64)
        if len(folds) != len(df):
            raise ValueError("folds must give one fold per row of X")
        out = np.zeros(len(df))
        for k, m in enumerate(self.estimators_):
            sel = folds == k
            if sel.any():
                out[sel] = pred(m[which], df[sel])
        return out

    def predict_interval(self, X: Any, folds: Any = None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(low, potential, high) per row; out-of-fold when ``folds`` is the fit's."""
        self._check()
        df = self._prepare(X, fitting=False)
        with np.errstate(over="ignore"):
            pot = np.exp(self._log_predict(df, 0, folds))
            high = np.maximum(np.exp(self._log_predict(df, 1, folds)), pot)
        return mirror_low(pot, high), pot, high

    def predict(self, X: Any, folds: Any = None) -> np.ndarray:
        """The potential of each row (out-of-fold when ``folds`` is the fit's)."""
        return self.predict_interval(X, folds)[1]

    def effects(self, X: Any, folds: Any = None, features: Any = None) -> pd.DataFrame:
        """How much each feature moves each row's potential, on the log scale.

        The effect of a feature is the log potential minus the log potential the same
        account would get were that feature typical (the buyers' median for a number,
        the most common value for a text column): ``exp(effect) - 1`` reads "+0.8 = this
        feature puts the potential 80% above a typical account's".  Unlike SHAP values
        this costs one prediction per feature, which keeps millions of rows affordable.
        ``features`` lists the columns to explain, or caps them to the most important
        ones when it is a number (default: all).
        """
        check_fitted(self, "estimators_")
        df = self._prepare(X, fitting=False)
        base = self._log_predict(df, 0, folds)
        if features is None or isinstance(features, int):
            cols = self.important_features_[: features or None]
        else:
            cols = list(features)
        out = {}
        for c in cols:
            alt = df.copy()
            ref = self.reference_[c]
            if c in self.categories_:
                alt[c] = pd.Categorical([ref] * len(alt), categories=self.categories_[c])
            else:
                alt[c] = ref
            out[c] = base - self._log_predict(alt, 0, folds)
        return pd.DataFrame(out, index=range(len(df)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.regressor_tags.poor_score = True
        return tags
