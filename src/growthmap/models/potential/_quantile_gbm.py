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

At a million accounts the cost is in scoring, not training (each fold model is trained
on at most ``max_train_rows`` buyers but scores a quarter of all accounts), so the
models are scored by :class:`._quickscorer.QuickScorer` (or, for trees it does not
handle, :class:`growthmap.models._trees.CompiledTrees`): one pass gives the log
potential and the row's drivers together (Saabas path effects, :meth:`explain`), the
same figures as LightGBM's own prediction.  The fold models are trained side by side on ``n_jobs``
threads, each on one thread, so the figures do not depend on how many threads ran.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from growthmap.models._trees import CompiledTrees
from growthmap.models.potential._combine import mirror_low, upper_level
from growthmap.models.potential._inputs import (
    categories_of,
    check_fitted,
    check_X,
    check_y,
    codes_of,
)
from growthmap.models.potential._quickscorer import QuickScorer, Unsupported

__all__ = ["QuantileGBMPotential"]

#: Rows from which scoring uses ``n_jobs`` threads (below, starting threads costs more).
_THREADED_ROWS = 100_000


class _Constant:
    """Stand-in model when a fold has too few buyers to learn from: one quantile."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, X: np.ndarray, *, top: int = 0, n_jobs: int = 1
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(X)
        return (np.full(n, self.value), np.full((n, top), -1, dtype=np.int32),
                np.zeros((n, top)))


def _scorer(booster: Any) -> Any:
    """The fastest exact scorer the model allows (see :mod:`._quickscorer`)."""
    try:
        return QuickScorer(booster)
    except Unsupported:
        return CompiledTrees(booster)


class QuantileGBMPotential(RegressorMixin, BaseEstimator):
    """Wallet = exp(LightGBM ``quantile`` of buyers' log spend), trained out-of-fold.

    Parameters
    ----------
    quantile : quantile of buyers' spend that sets the potential.
    interval : nominal coverage of the low-high interval.
    n_folds : cross-fitting folds.
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM settings.
    max_train_rows : buyers sampled per fold to train on (``None``: all).
    n_jobs : threads: fold models trained side by side, and scoring of large inputs.
    random_state : seed of the folds, the sampling and LightGBM.
    upper : also train the upper-quantile models that bound the interval.  ``False``
        halves the training when the interval comes from elsewhere (calibration to
        vendor figures) or is not needed (the backtest); :meth:`predict_interval` then
        raises.
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
        upper: bool = True,
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
        self.upper = upper

    # -- data ------------------------------------------------------------------------
    def _matrix(self, X: Any, *, fitting: bool) -> np.ndarray:
        """``X`` as a float matrix: numbers as they are, text as codes of the categories
        seen at fit time (NaN for missing or unseen), the layout LightGBM trains on."""
        is_df = isinstance(X, pd.DataFrame)
        df = check_X(self, X, reset=fitting, numeric=not is_df)
        names = [str(c) if is_df else f"x{c}" for c in df.columns]
        if fitting:
            self.features_ = names
            self.categories_: dict[str, list[str]] = {}
            for name, c in zip(names, df.columns, strict=True):
                col = df[c]
                if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                    self.categories_[name] = categories_of(col)
        out = np.empty((len(df), len(names)), dtype=np.float64)
        for j, (name, c) in enumerate(zip(self.features_, df.columns, strict=True)):
            if name in self.categories_:
                codes = codes_of(df[c], self.categories_[name])
                out[:, j] = np.where(codes >= 0, codes, np.nan)
            else:
                v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
                if np.isinf(v).any():
                    raise ValueError("Input X contains infinity or a value too large for "
                                     f"dtype('float64') in column {c!r}")
                out[:, j] = v
        return out

    def _params(self, alpha: float) -> dict[str, Any]:
        return dict(objective="quantile", alpha=alpha, n_estimators=self.n_estimators,
                    learning_rate=self.learning_rate, num_leaves=self.num_leaves,
                    min_child_samples=self.min_child_samples, n_jobs=1,
                    random_state=self.random_state, verbose=-1, subsample_freq=0,
                    min_data_per_group=max(5, self.min_child_samples // 2), cat_smooth=10,
                    force_col_wise=True)  # not chosen by timing: the same model every run

    # -- fit / predict -----------------------------------------------------------------
    def fit(self, X: Any, y: Any, folds: Any = None) -> QuantileGBMPotential:
        """Train ``n_folds`` quantile models (pairs with ``upper``), each without one
        fold's rows.

        ``folds`` gives each row's fold (0 .. n_folds-1); default: a seeded random split.
        Rows with no positive spend are not buyers: they are never training targets.
        """
        if not 0.5 < self.quantile < 1:
            raise ValueError(f"quantile must lie in (0.5, 1), got {self.quantile}")
        if not 0 < self.interval < 1:
            raise ValueError(f"interval must lie in (0, 1), got {self.interval}")
        if int(self.n_folds) < 2:
            raise ValueError(f"n_folds must be at least 2, got {self.n_folds}")
        x = self._matrix(X, fitting=True)
        y_arr = check_y(y)
        if len(y_arr) != len(x):
            raise ValueError(f"X has {len(x)} rows but y has {len(y_arr)}")
        rng = np.random.default_rng(self.random_state)
        if folds is None:
            folds = rng.permutation(len(x)) % self.n_folds
        folds = np.asarray(folds, dtype=np.int64)
        if len(folds) != len(x) or folds.min() < 0 or folds.max() >= self.n_folds:
            raise ValueError(f"folds must give each of the {len(x)} rows a fold in "
                             f"0..{self.n_folds - 1}")
        buyer = y_arr > 0
        target = np.log(np.where(buyer, y_arr, 1.0))
        alphas = [self.quantile] + ([upper_level(self.quantile, self.interval)]
                                    if self.upper else [])
        cat = [j for j, f in enumerate(self.features_) if f in self.categories_]
        min_rows = max(2 * self.min_child_samples, 10)
        jobs = []
        for k in range(self.n_folds):
            idx = np.flatnonzero(buyer & (folds != k))
            if self.max_train_rows is not None and len(idx) > self.max_train_rows:
                idx = np.sort(rng.choice(idx, self.max_train_rows, replace=False))
            jobs += [(idx, alpha) for alpha in alphas]

        def train(job: tuple[np.ndarray, float]) -> tuple[Any, Any]:
            """A model and its scorer (built here, while the other thread trains)."""
            idx, alpha = job
            if len(idx) < min_rows:
                c = _Constant(float(np.quantile(target[idx], alpha)) if len(idx) else -np.inf)
                return c, c
            model = lgb.LGBMRegressor(**self._params(alpha))
            model.fit(x[idx], target[idx], categorical_feature=cat)
            return model, _scorer(model.booster_)

        with ThreadPoolExecutor(max(1, min(int(self.n_jobs), len(jobs)))) as pool:
            done = list(pool.map(train, jobs))
        per = len(alphas)
        self.estimators_: list[tuple[Any, ...]] = [
            tuple(m for m, _ in done[k * per:(k + 1) * per]) for k in range(self.n_folds)]
        self.compiled_ = [tuple(c for _, c in done[k * per:(k + 1) * per])
                          for k in range(self.n_folds)]
        gain = np.zeros(len(self.features_))
        for pair in self.estimators_:
            if not isinstance(pair[0], _Constant):
                gain += pair[0].booster_.feature_importance(importance_type="gain")
        order = np.argsort(-gain, kind="stable")
        self.important_features_ = [self.features_[i] for i in order]
        self.n_buyers_ = int(buyer.sum())
        return self

    def _check(self) -> None:
        check_fitted(self, "estimators_")

    def _log_predict(self, x: np.ndarray, which: int, folds: Any, top: int = 0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Log-scale prediction of model ``which`` (0 = potential, 1 = upper bound) and
        each row's ``top`` drivers (feature index, effect); see :meth:`explain`."""
        if which >= len(self.compiled_[0]):
            raise ValueError("this QuantileGBMPotential was fitted with upper=False: it has "
                             "no upper models to give an interval")

        def pred(model: Any, rows: np.ndarray, k: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            threads = self.n_jobs if len(rows) >= _THREADED_ROWS else 1
            return model.predict(rows, top=k, n_jobs=threads)

        n = len(x)
        if folds is None:  # new rows: the average of the fold models, drivers too
            raw = np.zeros(n)
            eff = np.zeros((n, len(self.features_)))
            for pair in self.compiled_:
                r, i, e = pred(pair[which], x, len(self.features_) if top else 0)
                raw += r
                rows = np.broadcast_to(np.arange(n)[:, None], i.shape)
                ok = i >= 0
                np.add.at(eff, (rows[ok], i[ok]), e[ok])
            raw /= len(self.compiled_)
            eff /= len(self.compiled_)
            order = np.argsort(-np.abs(eff), axis=1, kind="stable")[:, :top]
            val = np.take_along_axis(eff, order, axis=1)
            return raw, np.where(val != 0, order, -1).astype(np.int32), val
        folds = np.asarray(folds, dtype=np.int64)
        if len(folds) != n:
            raise ValueError("folds must give one fold per row of X")
        raw = np.zeros(n)
        idx = np.full((n, top), -1, dtype=np.int32)
        val = np.zeros((n, top))
        for k, pair in enumerate(self.compiled_):
            sel = np.flatnonzero(folds == k)
            if len(sel):
                raw[sel], idx[sel], val[sel] = pred(pair[which], x[sel], top)
        return raw, idx, val

    def predict_interval(self, X: Any, folds: Any = None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(low, potential, high) per row; out-of-fold when ``folds`` is the fit's."""
        self._check()
        x = self._matrix(X, fitting=False)
        with np.errstate(over="ignore"):
            pot = np.exp(self._log_predict(x, 0, folds)[0])
            high = np.maximum(np.exp(self._log_predict(x, 1, folds)[0]), pot)
        return mirror_low(pot, high), pot, high

    def predict_upper(self, X: Any, folds: Any = None) -> np.ndarray:
        """The upper-quantile model's figure per row (the interval's high before it is
        floored at the potential); for callers that have the potential already."""
        self._check()
        x = self._matrix(X, fitting=False)
        with np.errstate(over="ignore"):
            return np.exp(self._log_predict(x, 1, folds)[0])

    def predict(self, X: Any, folds: Any = None) -> np.ndarray:
        """The potential of each row (out-of-fold when ``folds`` is the fit's)."""
        self._check()
        x = self._matrix(X, fitting=False)
        with np.errstate(over="ignore"):
            return np.exp(self._log_predict(x, 0, folds)[0])

    def explain(self, X: Any, folds: Any = None, top: int = 3
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(potential, top feature indexes, their effects on the log potential) per row.

        A feature's effect is its Saabas path effect: along the row's path through each
        tree, every split moves the prediction from the parent node's value to the
        child's, and the move is credited to the split's feature.  The effects add up to
        the log potential minus the model's base value (its average over the buyers it
        was trained on), so ``exp(effect) - 1`` reads "+0.8 = this feature puts the
        potential 80% above the average buyer's".  One pass gives the potential and the
        drivers together.  Index -1 (effect 0) where a row has fewer drivers; feature
        names are in ``features_``.
        """
        self._check()
        x = self._matrix(X, fitting=False)
        raw, idx, val = self._log_predict(x, 0, folds, top=top)
        with np.errstate(over="ignore"):
            return np.exp(raw), idx, val

    def effects(self, X: Any, folds: Any = None, features: Any = None) -> pd.DataFrame:
        """Every feature's effect on each row's log potential (see :meth:`explain`).

        ``features`` lists the columns to return, or caps them to the most important
        ones (by gain) when it is a number (default: all).
        """
        self._check()
        _, idx, val = self.explain(X, folds, top=len(self.features_))
        full = np.zeros((len(idx), len(self.features_)))
        rows = np.broadcast_to(np.arange(len(idx))[:, None], idx.shape)
        ok = idx >= 0
        full[rows[ok], idx[ok]] = val[ok]
        if features is None or isinstance(features, int):
            cols = self.important_features_[: features or None]
        else:
            cols = [str(c) for c in features]
        pos = {f: j for j, f in enumerate(self.features_)}
        return pd.DataFrame({c: full[:, pos[c]] for c in cols}, index=range(len(idx)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.regressor_tags.poor_score = True
        return tags

