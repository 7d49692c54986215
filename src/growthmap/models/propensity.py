"""Propensity to buy (PtB): will the account buy a new family, or grow, in the next H months?

The estimator is gradient boosting (LightGBM) with *cross-fitted* calibration: the rows
are split into folds grouped by account (the same account at several cut-offs never
sits on both sides), a booster is trained on each fold's complement and scores the
held-out fold; one calibrator (isotonic or sigmoid) learns to map those out-of-fold raw
scores to probabilities, and a final booster trained on every row predicts through it,
like scikit-learn's ``CalibratedClassifierCV(ensemble=False)``.  The calibrator never
sees a score from a booster that trained on the same row, and scoring costs one booster.

With ``early_stopping_rounds``, the same folds also choose how many trees the model needs:
each fold's booster stops when its held-out fold's log loss has not improved for that
many rounds, and the final booster grows the mean of the folds' best rounds (at most
``n_estimators``).  On the demo world's samples that is 100-170 trees for PtB and the
per-family model and 60-110 for risk instead of 200: the trees past it did not lower the
held-out loss, and every tree costs scoring time on every account (six times per account
for the per-family model).

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
import os
from numbers import Integral, Real
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta
from lightgbm import Booster, LGBMClassifier, early_stopping
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import validate_data

from growthmap.errors import NotFittedError
from growthmap.models._trees import CompiledTrees

#: Rows from which predictions use several threads (below, starting threads costs more).
_THREADED_ROWS = 100_000


def predict_threads(rows: int, n_jobs: int) -> int:
    """Threads for predicting ``rows`` rows: the cores (up to 4) on large inputs.

    ``n_jobs`` is for training, where threads wait on each other after every tree and
    spin for a long time on a busy machine; prediction splits the rows once, so it uses
    the cores whatever ``n_jobs`` says.
    """
    if rows < _THREADED_ROWS:
        return 1
    return max(n_jobs, min(os.cpu_count() or 1, 4))

__all__ = [
    "PackedClassifier",
    "PropensityClassifier",
    "check_fitted",
    "drivers_json",
    "family_block",
    "family_frame",
    "family_labels",
    "fold_of",
    "ptb_labels",
    "window_revenue",
]


def check_fitted(est: BaseEstimator, attr: str) -> None:
    """Raise :class:`~growthmap.errors.NotFittedError` (scikit-learn's too) before ``fit``."""
    if not hasattr(est, attr):
        raise NotFittedError(
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
    """Maps a booster's raw score to a probability (isotonic, sigmoid or identity).

    Isotonic calibration is *centred* (Oron & Flournoy): the pool-adjacent-violators fit
    is a step function, which would give whole blocks of accounts one probability and
    throw away the booster's ranking inside each block; interpolating linearly between
    the centres of the blocks keeps the fit monotone and the calibration, and keeps
    accounts with different scores apart.
    """

    def __init__(self, method: str) -> None:
        self.method = method

    def fit(self, raw: np.ndarray, y: np.ndarray) -> _Calibrator:
        if self.method == "isotonic":
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
            xs, ys = iso.X_thresholds_, iso.y_thresholds_
            first = np.flatnonzero(np.r_[True, ys[1:] != ys[:-1]])  # of each block
            lo, hi = np.minimum.reduceat(xs, first), np.maximum.reduceat(xs, first)
            self.knots_ = ((lo + hi) / 2.0, ys[first])
        elif self.method == "sigmoid":
            self.model = LogisticRegression(C=1e6).fit(raw.reshape(-1, 1), y)
        return self

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return np.interp(raw, *self.knots_)
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
        "early_stopping_rounds": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(self, *, n_estimators: int = 200, learning_rate: float = 0.05,
                 num_leaves: int = 15, min_child_samples: int = 20, subsample: float = 0.8,
                 colsample_bytree: float = 0.8, reg_lambda: float = 1.0,
                 calibration: str = "isotonic", cv: int = 4,
                 categorical_features: list | None = None, random_state: Any = 0,
                 n_jobs: int = 1, early_stopping_rounds: int | None = None) -> None:
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
        self.early_stopping_rounds = early_stopping_rounds

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

    def _fold_fit(self, X: np.ndarray, y01: np.ndarray, tr: np.ndarray, te: np.ndarray,
                  seed: int, cat: Any) -> LGBMClassifier:
        """One calibration fold's booster; stopped on its held-out rows when asked."""
        m = lgbm(self, seed)
        if self.early_stopping_rounds is None:
            return m.fit(X[tr], y01[tr], categorical_feature=cat)
        return m.fit(X[tr], y01[tr], categorical_feature=cat, eval_X=X[te], eval_y=y01[te],
                     callbacks=[early_stopping(self.early_stopping_rounds, verbose=False)])

    def fit(self, X: Any, y: Any, groups: Any = None) -> PropensityClassifier:
        """Cross-fitted calibration, then one booster on every row; returns self.

        The fold boosters only serve to score their held-out rows: the calibrator learns
        on those out-of-fold raw scores, and a final booster trained on all rows is what
        predicts (scikit-learn's ``CalibratedClassifierCV(ensemble=False)``).  Scoring a
        million accounts then costs one booster, not one per fold.  ``groups`` keeps every
        row of a group (an account at several cut-offs) in one fold, chosen by a seeded
        hash of the group so that it does not depend on the row order.
        """
        self._validate_params()
        X, y = validate_data(self, X, y, ensure_all_finite="allow-nan", dtype=np.float64)
        self.classes_, y01 = binary_target(self, y)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        cat = self._cat_index()
        folds = min(self.cv, int(np.bincount(y01).min()))
        self.calibrator_ = _Calibrator("none")
        self.n_calibration_rows_ = 0
        self.oof_raw_ = np.full(len(y01), np.nan)
        rounds: list[int] = []
        if self.calibration != "none" and folds >= 2:
            oof = np.full(len(y01), np.nan)
            for k, (tr, te) in enumerate(_splits(y01, folds, groups, seed)):
                if len(np.unique(y01[tr])) < 2 or len(np.unique(y01[te])) < 2:
                    continue
                m = self._fold_fit(X, y01, tr, te, seed + 1 + k, cat)
                if self.early_stopping_rounds is not None:
                    rounds.append(int(m.best_iteration_ or self.n_estimators))
                oof[te] = m.predict(X[te], raw_score=True)
            held = np.isfinite(oof)
            #: out-of-fold raw scores of the training rows (NaN where none was made)
            self.oof_raw_ = oof
            if held.any() and len(np.unique(y01[held])) == 2:
                self.calibrator_ = _Calibrator(self.calibration).fit(oof[held], y01[held])
                self.n_calibration_rows_ = int(held.sum())
        #: trees of the final booster: the folds' mean best round when they stopped early
        self.n_trees_ = (min(self.n_estimators, max(1, round(float(np.mean(rounds)))))
                         if rounds else self.n_estimators)
        final = lgbm(self, seed).set_params(n_estimators=self.n_trees_)
        self.booster_ = final.fit(X, y01, categorical_feature=cat).booster_
        return self

    def _matrix(self, X: Any) -> np.ndarray:
        check_fitted(self, "booster_")
        return validate_data(self, X, reset=False, ensure_all_finite="allow-nan",
                             dtype=np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated probabilities of the final booster: columns [0, 1]."""
        X = self._matrix(X)
        threads = predict_threads(len(X), self.n_jobs)
        p = np.clip(self.calibrator_(self.booster_.predict(X, raw_score=True,
                                                          num_threads=threads)), 0.0, 1.0)
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """The more likely class."""
        p = self.predict_proba(X)[:, 1]
        return self.classes_[(p >= 0.5).astype(int)]

    def explain(self, X: Any, top: int = 3, n_jobs: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probability of class 1, top feature indexes, their effects on the log-odds).

        One pass over each row's decision paths gives the score and its ``top`` drivers
        (Saabas path effects, see :mod:`growthmap.models._trees`); the probability is the
        same as :meth:`predict_proba`'s.
        """
        X = self._matrix(X)
        if not hasattr(self, "_compiled"):
            self._compiled = CompiledTrees(self.booster_)
        threads = n_jobs or predict_threads(len(X), self.n_jobs)
        raw, idx, eff = self._compiled.predict(X, top=top, n_jobs=threads)
        return np.clip(self.calibrator_(raw), 0.0, 1.0), idx, eff

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_compiled", None)  # rebuilt on demand from the booster
        return state

    def pack(self) -> PackedClassifier:
        """The fitted model reduced to what scoring needs (see :class:`PackedClassifier`)."""
        check_fitted(self, "booster_")
        return PackedClassifier(self.booster_.model_to_string(), self.calibrator_,
                                tuple(str(c) for c in self.feature_names_in_), self.n_jobs)


class PackedClassifier:
    """A fitted :class:`PropensityClassifier` as scoring needs it: cheap to pickle and ship.

    Scoring on Spark sends the model to every executor.  What travels is LightGBM's model
    text, the calibrator (isotonic knots, or the sigmoid's one-feature logistic fit) and
    the feature names -- not the estimator's training state; the booster and the compiled
    trees of :meth:`explain` (numba arrays, not picklable) are rebuilt from the text on
    first use wherever the object lands.  Its scores are bit-identical to the estimator's
    (the text keeps every threshold and leaf value exactly; a test checks), so a run gives
    the same figures whether it scores in-process or on a cluster.
    """

    def __init__(self, model_str: str, calibrator: _Calibrator,
                 feature_names: tuple[str, ...], n_jobs: int = 1) -> None:
        self.model_str = model_str
        self.calibrator = calibrator
        self.feature_names = tuple(feature_names)
        self.n_jobs = n_jobs
        self._booster: Booster | None = None
        self._compiled: CompiledTrees | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"model_str": self.model_str, "calibrator": self.calibrator,
                "feature_names": self.feature_names, "n_jobs": self.n_jobs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def _matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The float matrix in training column order (a missing column is an error)."""
        missing = [c for c in self.feature_names if c not in X.columns]
        if missing:
            raise ValueError(f"the scoring frame lacks feature(s) {missing[:5]} the model was "
                             "trained on")
        return X.loc[:, list(self.feature_names)].to_numpy(dtype=np.float64)

    @property
    def booster(self) -> Booster:
        if self._booster is None:
            self._booster = Booster(model_str=self.model_str)
        return self._booster

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """As :meth:`PropensityClassifier.predict_proba`: columns [0, 1]."""
        p = self.probability(self._matrix(X))
        return np.column_stack([1 - p, p])

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probability of class 1 of a float matrix in training column order
        (a caller that scores many variants of one matrix fills it once, in place)."""
        raw = self.booster.predict(x, raw_score=True,
                                   num_threads=predict_threads(len(x), self.n_jobs))
        return np.clip(self.calibrator(raw), 0.0, 1.0)

    def explain(self, X: pd.DataFrame, top: int = 3, n_jobs: int | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`PropensityClassifier.explain`: probability, driver indexes, effects."""
        x = self._matrix(X)
        if self._compiled is None:
            self._compiled = CompiledTrees(self.booster)
        threads = n_jobs or predict_threads(len(x), self.n_jobs)
        raw, idx, eff = self._compiled.predict(x, top=top, n_jobs=threads)
        return np.clip(self.calibrator(raw), 0.0, 1.0), idx, eff


def _splits(y01: np.ndarray, folds: int, groups: Any, seed: int
            ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test indexes of the calibration folds: by a seeded hash of the group when
    there are groups (linear in the rows, unlike a stratified group split), else
    stratified."""
    if groups is None:
        return list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(y01, y01))
    fold = fold_of(pd.Series(np.asarray(groups)).astype(str), folds, seed)
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(folds)]


def fold_of(keys: pd.Series, n_folds: int, seed: int) -> np.ndarray:
    """Fold of each key from a seeded hash of the key alone (stable under row order)."""
    salted = (str(seed) + "\x1f") + pd.Series(keys, dtype="string").fillna("")
    h = pd.util.hash_pandas_object(salted, index=False).to_numpy()
    return (h % np.uint64(n_folds)).astype(np.int64)


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


def family_block(x: pd.DataFrame, code: int, slug: str) -> pd.DataFrame:
    """The account matrix for one family: its own columns copied as ``fam_*``, and the
    family's code in a ``family`` column."""
    prefix = f"f_{slug}_"
    own = {"fam_" + c[len(prefix):]: x[c] for c in x.columns if c.startswith(prefix)}
    return x.assign(**own, family=float(code))


def family_frame(x: pd.DataFrame, ids: pd.Series, slugs: dict[str, str]
                 ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stack the account matrix once per family (:func:`family_block`).

    Returns the long matrix and its (account_id, family) keys, in the same row order.
    """
    frames, keys = [], []
    for code, (fam, s) in enumerate(slugs.items()):
        frames.append(family_block(x, code, s))
        keys.append(pd.DataFrame({"account_id": ids.to_numpy(), "family": fam}))
    return pd.concat(frames, ignore_index=True), pd.concat(keys, ignore_index=True)


def drivers_json(index: np.ndarray, effect: np.ndarray, names: list[str],
                 label: Any = None) -> np.ndarray:
    """Per row, JSON ``[{feature, label, effect}, ...]`` of its drivers, largest first.

    ``index`` and ``effect`` are (rows x k) as :meth:`PropensityClassifier.explain` gives
    them (index -1 or effect 0: no driver in that place; a row's drivers come first, so
    the first empty place ends them).  The text of each feature is made once and joined
    with its rounded effect in plain list comprehensions: ``json.dumps`` per row cost
    seconds per million rows, and pandas' element-wise string concatenation twice this.
    """
    index = np.asarray(index, dtype=np.int64)
    effect = np.asarray(effect, dtype=float)
    n = len(index)
    if n == 0 or index.ndim != 2 or index.shape[1] == 0:
        return np.full(n, "[]", dtype=object)
    heads = ['{"feature": ' + json.dumps(str(c)) + ', "label": '
             + json.dumps(str(label(c) if label else c)) + ', "effect": ' for c in names]
    ok = np.logical_and.accumulate((index >= 0) & (effect != 0), axis=1)
    rounded = np.round(effect, 3)
    places = [[heads[i] + repr(e) + "}" if o else None
               for i, e, o in zip(index[:, j].tolist(), rounded[:, j].tolist(),
                                  ok[:, j].tolist(), strict=True)]
              for j in range(index.shape[1])]
    return np.array(["[" + ", ".join([p for p in row if p is not None]) + "]"
                     for row in zip(*places, strict=True)], dtype=object)
