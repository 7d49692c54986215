"""Propensity to buy (PtB): will the account buy a new family, or grow, in the next H months?

The estimator is gradient boosting (LightGBM) with *cross-fitted* calibration: the rows
are split into folds grouped by account (the same account at several cut-offs never
sits on both sides), a booster is trained on each fold's complement and a calibrator
(isotonic or sigmoid) maps its raw scores on the held-out fold to probabilities.  The
prediction averages the calibrated folds, like scikit-learn's
``CalibratedClassifierCV(ensemble=True)``, so every calibrator saw only data its
booster had not.

Labels (as of a cut-off T, horizon H, growth threshold g), per account and family:

* *new family*: the account buys the family in ``(T, T+H]`` (positive net amount) and
  had no positive net revenue in it in ``(T-H, T]``;
* *grows*: the account's total revenue in ``(T, T+H]`` exceeds ``(1+g)`` times that of
  ``(T-H, T]`` (and the latter was positive).

PtB's label is *new family or grows*; a prospect can only buy a new family.  The
per-family label is "buys the family more than (1+g) times the last H months".
"""

from __future__ import annotations

import datetime as dt
import json
from numbers import Integral, Real
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError as _SkNotFitted
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import validate_data

from growthmap.errors import NotFittedError

__all__ = [
    "ModelNotFittedError",
    "PropensityClassifier",
    "check_fitted",
    "drivers_json",
    "family_frame",
    "family_labels",
    "ptb_labels",
    "window_revenue",
]


class ModelNotFittedError(NotFittedError, _SkNotFitted):
    """growthmap's NotFittedError that scikit-learn's tools also recognise."""


def check_fitted(est: BaseEstimator, attr: str) -> None:
    """Raise :class:`ModelNotFittedError` (a growthmap NotFittedError) before ``fit``."""
    if not hasattr(est, attr):
        raise ModelNotFittedError(
            f"this {type(est).__name__} is not fitted yet",
            hint="call fit(X, y) before predicting")


def binary_target(est: BaseEstimator, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check a binary target; return the classes and the 0/1-encoded labels."""
    check_classification_targets(y)
    if len(np.unique(y)) < 2:
        raise ValueError(f"{type(est).__name__} needs two classes in y; got one class only")
    kind = type_of_target(y, input_name="y")
    if kind != "binary":
        raise ValueError("Only binary classification is supported. The type of the target "
                         f"is {kind}.")
    classes, enc = np.unique(y, return_inverse=True)
    return classes, enc


class _Calibrator:
    """Maps a booster's raw score to a probability (isotonic, sigmoid or identity)."""

    def __init__(self, method: str) -> None:
        self.method = method

    def fit(self, raw: np.ndarray, y: np.ndarray) -> _Calibrator:
        if self.method == "isotonic":
            self.model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            self.model.fit(raw, y)
        elif self.method == "sigmoid":
            self.model = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y)
        return self

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return self.model.predict(raw)
        if self.method == "sigmoid":
            return self.model.predict_proba(raw.reshape(-1, 1))[:, 1]
        return 1.0 / (1.0 + np.exp(-raw))


def lgbm(est: Any, seed: int) -> LGBMClassifier:
    """A LightGBM binary booster from an estimator's parameters (deterministic)."""
    sub = est.subsample
    return LGBMClassifier(
        n_estimators=est.n_estimators, learning_rate=est.learning_rate,
        num_leaves=est.num_leaves, min_child_samples=est.min_child_samples,
        subsample=sub, subsample_freq=1 if sub < 1 else 0, colsample_bytree=est.colsample_bytree,
        reg_lambda=est.reg_lambda, random_state=seed, n_jobs=est.n_jobs, verbose=-1,
        deterministic=True, force_row_wise=True)


_LGBM_CONSTRAINTS: dict[str, list] = {
    "n_estimators": [Interval(Integral, 1, None, closed="left")],
    "learning_rate": [Interval(Real, 0, None, closed="neither")],
    "num_leaves": [Interval(Integral, 2, None, closed="left")],
    "min_child_samples": [Interval(Integral, 1, None, closed="left")],
    "subsample": [Interval(Real, 0, 1, closed="right")],
    "colsample_bytree": [Interval(Real, 0, 1, closed="right")],
    "reg_lambda": [Interval(Real, 0, None, closed="left")],
    "categorical_features": [list, None],
    "random_state": ["random_state"],
    "n_jobs": [Integral],
}


class PropensityClassifier(ClassifierMixin, BaseEstimator):
    """Binary LightGBM classifier with cross-fitted, group-aware probability calibration.

    ``fit(X, y, groups=None)``: ``groups`` (e.g. account ids) keeps rows of one group in
    the same fold.  ``categorical_features`` names (or indexes) columns holding category
    codes.  ``calibration='none'`` or too few rows of a class for ``cv`` folds trains a
    single booster with its own (logistic) probabilities.
    """

    _parameter_constraints: ClassVar[dict] = {
        **_LGBM_CONSTRAINTS,
        "calibration": [StrOptions({"isotonic", "sigmoid", "none"})],
        "cv": [Interval(Integral, 2, None, closed="left")],
    }

    def __init__(self, *, n_estimators: int = 200, learning_rate: float = 0.05,
                 num_leaves: int = 15, min_child_samples: int = 20, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, reg_lambda: float = 1.0,
                 calibration: str = "isotonic", cv: int = 4,
                 categorical_features: list | None = None, random_state: Any = 0,
                 n_jobs: int = 1) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.calibration = calibration
        self.cv = cv
        self.categorical_features = categorical_features
        self.random_state = random_state
        self.n_jobs = n_jobs

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

    def fit(self, X: Any, y: Any, groups: Any = None) -> PropensityClassifier:
        """Train the fold boosters and their calibrators; returns self."""
        self._validate_params()
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=np.float64)
        self.classes_, y01 = binary_target(self, y)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        cat = self._cat_index()
        folds = min(self.cv, int(np.bincount(y01).min()))
        self.models_, self.calibrators_ = [], []
        if self.calibration == "none" or folds < 2:
            self.models_.append(lgbm(self, seed).fit(X, y01, categorical_feature=cat))
            self.calibrators_.append(_Calibrator("none"))
            return self
        if groups is not None:
            splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
            splits = splitter.split(X, y01, np.asarray(groups))
        else:
            splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y01)
        for k, (tr, te) in enumerate(splits):
            if len(np.unique(y01[tr])) < 2 or len(np.unique(y01[te])) < 2:
                continue
            m = lgbm(self, seed + k).fit(X[tr], y01[tr], categorical_feature=cat)
            raw = m.predict(X[te], raw_score=True)
            self.models_.append(m)
            self.calibrators_.append(_Calibrator(self.calibration).fit(raw, y01[te]))
        if not self.models_:  # every split lost a class: fall back to one booster
            self.models_.append(lgbm(self, seed).fit(X, y01, categorical_feature=cat))
            self.calibrators_.append(_Calibrator("none"))
        return self

    def _matrix(self, X: Any) -> np.ndarray:
        check_fitted(self, "models_")
        return validate_data(self, X, reset=False, ensure_all_finite="allow-nan",
                             dtype=np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities, averaged over the fold models: columns [0, 1]."""
        X = self._matrix(X)
        p = np.mean([cal(m.predict(X, raw_score=True))
                     for m, cal in zip(self.models_, self.calibrators_, strict=True)], axis=0)
        p = np.clip(p, 0.0, 1.0)
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """The more likely class."""
        p = self.predict_proba(X)[:, 1]
        return self.classes_[(p >= 0.5).astype(int)]

    def contributions(self, X: Any) -> np.ndarray:
        """Per-feature effects on the log-odds (TreeSHAP), averaged over fold models."""
        X = self._matrix(X)
        c = np.mean([m.booster_.predict(X, pred_contrib=True) for m in self.models_], axis=0)
        return c[:, :-1]


# -- labels -----------------------------------------------------------------------------
def window_revenue(lines: ir.Table, cutoff: dt.date, horizon: int) -> ir.Table:
    """Per account x family: net revenue in ``(T-H, T]`` (last) and ``(T, T+H]`` (next).

    ``lines`` must already stop at the run's as-of date; callers use it only for cut-offs
    with ``T + H <= as_of``.
    """
    lo = cutoff - relativedelta(months=horizon)
    hi = cutoff + relativedelta(months=horizon)
    t = lines.filter((lines.date > lo) & (lines.date <= hi))
    before = t.date <= cutoff
    return t.group_by(["account_id", "family"]).aggregate(
        last=ibis.cases((before, t.amount), else_=0.0).sum(),
        next=ibis.cases((~before, t.amount), else_=0.0).sum(),
    )


def ptb_labels(wr: pd.DataFrame, account_ids: pd.Series, growth: float) -> np.ndarray:
    """1 when the account buys a new family or grows by more than ``growth`` (see module)."""
    w = wr.assign(new=(wr["next"] > 0) & (wr["last"] <= 0))
    per = w.groupby("account_id").agg(last=("last", "sum"), next=("next", "sum"),
                                      new=("new", "any"))
    grew = (per["last"] > 0) & (per["next"] > per["last"] * (1 + growth))
    label = (per["new"] | grew).astype(int)
    return account_ids.map(label).fillna(0).astype(int).to_numpy()


def family_labels(wr: pd.DataFrame, keys: pd.DataFrame, growth: float) -> np.ndarray:
    """Per (account_id, family) row of ``keys``: buys the family more than (1+g) x last H."""
    w = wr.assign(label=((wr["next"] > 0)
                         & (wr["next"] > wr["last"].clip(lower=0) * (1 + growth))).astype(int))
    m = keys.merge(w[["account_id", "family", "label"]], on=["account_id", "family"],
                   how="left")
    return m["label"].fillna(0).astype(int).to_numpy()


def family_frame(x: pd.DataFrame, ids: pd.Series, slugs: dict[str, str]
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stack the account matrix once per family, with that family's own columns as fam_*.

    Returns the long matrix (with a ``family`` code column) and its (account_id, family)
    keys, in the same row order.
    """
    frames, keys = [], []
    for code, (fam, s) in enumerate(slugs.items()):
        own = {c: "fam_" + c[len(f"f_{s}_"):] for c in x.columns if c.startswith(f"f_{s}_")}
        f = x.copy()
        for c, new in own.items():
            f[new] = x[c]
        f["family"] = float(code)
        frames.append(f)
        keys.append(pd.DataFrame({"account_id": ids.to_numpy(), "family": fam}))
    return pd.concat(frames, ignore_index=True), pd.concat(keys, ignore_index=True)


def drivers_json(contrib: np.ndarray, names: list[str], k: int,
                 label: Any = None) -> list[str]:
    """Per row, the ``k`` largest effects as JSON ``[{feature, label, effect}]``."""
    if k <= 0:
        return ["[]"] * len(contrib)
    top = np.argsort(-np.abs(contrib), axis=1)[:, :k]
    out = []
    for row, idx in zip(contrib, top, strict=True):
        out.append(json.dumps([
            {"feature": names[i], "label": label(names[i]) if label else names[i],
             "effect": round(float(row[i]), 3)} for i in idx if row[i] != 0]))
    return out
