"""ICP fit: 0-100, how closely an account resembles the best customers.

Learned as *positive-unlabelled* data: the best customers are labelled positives; every
other account — smaller customers and prospects alike — is unlabelled, since some of
them would be best customers too if we served them.  Following Elkan & Noto (2008), a
classifier ``g(x) = P(labelled | x)`` is trained out-of-fold; under "labelled at
random among positives", ``P(positive | x) = g(x) / c`` with ``c = P(labelled |
positive)`` estimated as the mean out-of-fold ``g`` over the labelled positives.  The
fit is ``100 * min(g / c, 1)``: 100 means "looks exactly like our best customers".

Every account's own fit is out-of-fold, so being a best customer never sets one's own
score.  Each score is explained by the few most similar best customers: nearest
neighbours in a scaled firmographic space (log size standardised, one-hot categories).
"""

from __future__ import annotations

import itertools
import json
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import validate_data

from growthmap.models._backtest import roc_auc
from growthmap.models.propensity import _LGBM_CONSTRAINTS, binary_target, check_fitted, lgbm

__all__ = ["LookalikeClassifier", "icp_evaluation", "similar_best"]


class LookalikeClassifier(ClassifierMixin, BaseEstimator):
    """Positive-unlabelled classifier (Elkan-Noto) on a LightGBM base.

    ``fit(X, y)`` takes ``y = 1`` for labelled positives (best customers) and ``0`` for
    unlabelled rows.  Learned: ``c_`` (share of positives that are labelled),
    ``oof_proba_`` (out-of-fold ``P(positive | x)`` of every training row — use it to
    score the training rows themselves) and the fold models.
    """

    _parameter_constraints: ClassVar[dict] = {
        **_LGBM_CONSTRAINTS,
        "cv": [Interval(Integral, 2, None, closed="left")],
        "max_train_rows": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, *, n_estimators: int = 150, learning_rate: float = 0.05,
                 num_leaves: int = 7, min_child_samples: int = 10, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, reg_lambda: float = 1.0, cv: int = 5,
                 categorical_features: list | None = None, random_state: Any = 0,
                 n_jobs: int = 1, max_train_rows: int | None = None) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.cv = cv
        self.categorical_features = categorical_features
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.max_train_rows = max_train_rows

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags

    def _cat_index(self) -> list[int] | str:
        if not self.categorical_features:
            return "auto"
        names = list(getattr(self, "feature_names_in_", []))
        return [names.index(c) if isinstance(c, str) else int(c)
                for c in self.categorical_features if not isinstance(c, str) or c in names]

    def fit(self, X: Any, y: Any) -> LookalikeClassifier:
        """Out-of-fold labelled-vs-unlabelled boosters, then the Elkan-Noto constant.

        Each fold's booster learns from at most ``max_train_rows`` rows of the other
        folds (a seeded uniform sample, which keeps the share of labelled positives and
        so the constant ``c``) and scores every row of its own fold.
        """
        self._validate_params()
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=np.float64)
        self.classes_, s = binary_target(self, y)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        cat = self._cat_index()
        folds = min(self.cv, int(np.bincount(s).min()))
        oof = np.full(len(s), np.nan)
        self.models_ = []
        if folds >= 2:
            split = StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, s)
            rng = np.random.default_rng(seed)
            for k, (tr, te) in enumerate(split):
                if self.max_train_rows is not None and len(tr) > self.max_train_rows:
                    tr = np.sort(rng.choice(tr, self.max_train_rows, replace=False))
                m = lgbm(self, seed + k).fit(X[tr], s[tr], categorical_feature=cat)
                oof[te] = m.predict_proba(X[te])[:, 1]
                self.models_.append(m)
        else:  # too few labelled rows to hold any out: in-sample (flagged by oof_is_in_sample_)
            m = lgbm(self, seed).fit(X, s, categorical_feature=cat)
            oof = m.predict_proba(X)[:, 1]
            self.models_.append(m)
        self.oof_is_in_sample_ = folds < 2
        self.label_scores_ = oof
        self.c_ = float(max(oof[s == 1].mean(), 1e-9))
        self.oof_proba_ = np.clip(oof / self.c_, 0.0, 1.0)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """``P(positive | x)`` for new rows (fold models averaged): columns [0, 1]."""
        check_fitted(self, "models_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan",
                          dtype=np.float64)
        g = np.mean([m.predict_proba(X)[:, 1] for m in self.models_], axis=0)
        p = np.clip(g / self.c_, 0.0, 1.0)
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """Positive when ``P(positive | x) >= 0.5``."""
        p = self.predict_proba(X)[:, 1]
        return self.classes_[(p >= 0.5).astype(int)]


def _numeric(frame: pd.DataFrame, numeric: list[str]) -> np.ndarray:
    """Log sizes, standardised (missing: the median), as (rows x columns)."""
    cols = []
    for c in numeric:
        v = np.log1p(pd.to_numeric(frame[c], errors="coerce").clip(lower=0).astype(float))
        v = v.fillna(v.median() if v.notna().any() else 0.0)
        sd = v.std()
        cols.append(((v - v.mean()) / sd if sd > 0 else v * 0).to_numpy())
    return np.column_stack(cols) if cols else np.zeros((len(frame), 1))


def _codes(frame: pd.DataFrame, categorical: list[str]) -> np.ndarray:
    """Category codes per column, missing as a category of its own, as (rows x columns)."""
    cols = [pd.factorize(frame[c].astype("string").fillna("(none)"))[0] for c in categorical]
    return np.column_stack(cols) if cols else np.zeros((len(frame), 0), dtype=np.int64)


def _merge(dist: np.ndarray, near: np.ndarray, rows: np.ndarray, d: np.ndarray,
           j: np.ndarray) -> None:
    """Merge candidates ``j`` at distances ``d`` into the rows' nearest lists (in place):
    by distance, then position; a candidate already listed (found by another set of
    columns, at the same distance) counts once."""
    cand_d = np.hstack([dist[rows], d])
    cand_j = np.hstack([near[rows], j])
    pick = np.lexsort((cand_j, cand_d), axis=1)
    cand_d = np.take_along_axis(cand_d, pick, axis=1)
    cand_j = np.take_along_axis(cand_j, pick, axis=1)
    dup = np.zeros(cand_j.shape, dtype=bool)
    dup[:, 1:] = (cand_j[:, 1:] == cand_j[:, :-1]) & (cand_j[:, 1:] >= 0)
    if dup.any():
        cand_d[dup], cand_j[dup] = np.inf, -1
        pick = np.lexsort((cand_j, cand_d), axis=1)
        cand_d = np.take_along_axis(cand_d, pick, axis=1)
        cand_j = np.take_along_axis(cand_j, pick, axis=1)
    want = dist.shape[1]
    dist[rows], near[rows] = cand_d[:, :want], cand_j[:, :want]


def similar_best(frame: pd.DataFrame, is_best: np.ndarray, *, numeric: list[str],
                 categorical: list[str], k: int = 3) -> np.ndarray:
    """For every row, JSON list of the ``k`` nearest best customers' account_ids (not itself).

    Distance: squared difference of standardised log sizes, plus 1 for every category
    (industry, country, ...) that differs.  Searched exactly, without comparing every row
    with every best customer (a million by tens of thousands): for each set ``S`` of
    category columns, largest first, the best customers are grouped by their values in
    ``S`` with a k-d tree on the sizes per group, and each row asks its group for the
    ``k + 1`` nearest by size.  That finds the true nearest: a best customer ``b`` that
    matches the row in exactly the columns ``S`` is either among the ``k + 1`` nearest by
    size of those matching at least ``S`` (so found), or ``k + 1`` of them are nearer
    than ``b`` by size and differ in no more columns, so ``b`` is not needed.  A set of
    ``m`` fewer columns is skipped for a row that already has ``k + 1`` neighbours closer
    than ``m``.  So every row makes at most one query per set of columns (8 for three
    columns) wherever its best customers are -- searching every group of differing
    categories instead took a minute at a million accounts when the best customers were
    all large and most rows small.
    """
    n = len(frame)
    best = np.flatnonzero(is_best)
    if len(best) == 0:
        return np.full(n, "[]", dtype=object)
    num, cat = _numeric(frame, numeric), _codes(frame, categorical)
    n_cat = cat.shape[1]
    want = k + 1  # one more, in case the row itself is among them
    dist = np.full((n, want), np.inf)
    near = np.full((n, want), -1, dtype=np.int64)  # positions in ``best``
    for size in range(n_cat, -1, -1):
        for cols in itertools.combinations(range(n_cat), size):
            pending = np.flatnonzero(dist[:, -1] > n_cat - size)
            if len(pending) == 0:
                continue
            key = np.zeros(n, dtype=np.int64)  # the row's values in ``cols`` as one number
            for c in cols:
                key = key * (int(cat[:, c].max()) + 1) + cat[:, c]
            block_keys, block_of = np.unique(key[best], return_inverse=True)
            order_b = np.argsort(block_of, kind="stable")
            cut = np.searchsorted(block_of[order_b], np.arange(len(block_keys) + 1))
            at = np.minimum(np.searchsorted(block_keys, key[pending]), len(block_keys) - 1)
            found = block_keys[at] == key[pending]
            pending, at = pending[found], at[found]
            if len(at) == 0:  # no row left to match shares a block with a best customer
                continue
            order = np.argsort(at, kind="stable")
            pending, at = pending[order], at[order]
            starts = np.flatnonzero(np.r_[True, at[1:] != at[:-1]])
            for lo, hi in zip(starts, np.r_[starts[1:], len(at)], strict=True):
                rows, members = pending[lo:hi], order_b[cut[at[lo]]:cut[at[lo] + 1]]
                kk = min(want, len(members))
                # every core on large queries (the results do not depend on it)
                d, j = cKDTree(num[best[members]]).query(
                    num[rows], k=kk, workers=-1 if len(rows) > 20_000 else 1)
                j = members[j.reshape(len(rows), kk)]
                differ = (cat[rows][:, None, :] != cat[best[j]]).sum(axis=2)
                _merge(dist, near, rows, d.reshape(len(rows), kk) ** 2 + differ, j)
    ids = frame["account_id"].astype(str).to_numpy()
    best_ids = np.append(ids[best], "")
    found = np.where(near >= 0, near, len(best))
    names = best_ids[found]
    names[names == ids[:, None]] = ""  # never oneself
    quoted = np.array([json.dumps(x) for x in best_ids], dtype=object)[found]
    quoted[names == ""] = ""
    out = pd.Series(["["] * n, dtype=object)
    taken = np.zeros(n, dtype=np.int64)
    for c in range(want):
        ok = (quoted[:, c] != "") & (taken < k)
        sep = np.where(taken > 0, ", ", "")
        out = out.where(~ok, out + sep + quoted[:, c])
        taken += ok
    return (out + "]").to_numpy(dtype=object)


def icp_evaluation(model: LookalikeClassifier, is_best: np.ndarray, fit: np.ndarray,
                   is_customer: np.ndarray) -> dict[str, Any]:
    """What can be measured without ground truth, JSON-able.

    ``pu_roc_auc`` separates labelled best customers from all others out-of-fold; with
    hidden positives among the others it is a lower bound of the true ranking quality.
    """
    def mean(m: np.ndarray) -> float | None:
        return round(float(fit[m].mean()), 2) if m.any() else None

    auc = roc_auc(is_best.astype(int), model.label_scores_)
    return {
        "best_customers": int(is_best.sum()),
        "accounts": len(is_best),
        "label_frequency_c": round(model.c_, 4),
        "pu_roc_auc": None if auc is None else round(auc, 4),
        "out_of_fold": not model.oof_is_in_sample_,
        "mean_fit_best": mean(is_best),
        "mean_fit_other_customers": mean(is_customer & ~is_best),
        "mean_fit_prospects": mean(~is_customer),
        "prospects_fit_50_plus": int(((fit >= 50) & ~is_customer).sum()),
    }
