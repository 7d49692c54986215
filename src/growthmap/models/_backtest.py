"""Rolling temporal backtest and the metrics every scoring model reports.

A model that predicts what happens in the H months after a date can only be judged on
dates whose H months are over.  The backtest therefore walks back from the as-of date:
for each test cut-off T (``as_of - H``, then a step earlier each time) it trains on
cut-offs whose outcome was known by T (``T' <= T - H``), scores the accounts as of T,
and compares with what they did after T.  Nothing after T is in the features, and no
outcome after T is in the training labels.

The metrics are computed here with plain numpy (the tests check them against
scikit-learn): ROC AUC, PR AUC (average precision), lift in the top decile, Brier
score, expected calibration error (ECE, equal-width bins) and the calibration table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta
from scipy.stats import rankdata
from sklearn.base import clone

__all__ = [
    "CutoffPlan",
    "binary_metrics",
    "brier",
    "calibration_table",
    "ece",
    "plan_cutoffs",
    "pr_auc",
    "roc_auc",
    "rolling_backtest",
    "top_decile_lift",
]


def _arrays(y: Sequence, p: Sequence) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError("labels and scores must be 1-d arrays of the same length")
    return y, p


def roc_auc(y: Sequence, p: Sequence) -> float | None:
    """Probability that a random positive outscores a random negative (ties count half)."""
    y, p = _arrays(y, p)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(p)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pr_auc(y: Sequence, p: Sequence) -> float | None:
    """Average precision: precision at each distinct threshold weighted by recall gained."""
    y, p = _arrays(y, p)
    n_pos = y.sum()
    if n_pos == 0:
        return None
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), len(ps) - 1]  # last index of each score
    tp = np.cumsum(ys)[last]
    seen = last + 1
    precision = tp / seen
    recall_gain = np.diff(np.r_[0.0, tp]) / n_pos
    return float((precision * recall_gain).sum())


def top_decile_lift(y: Sequence, p: Sequence) -> float | None:
    """Positive rate among the top 10% of scores over the overall positive rate."""
    y, p = _arrays(y, p)
    if len(y) == 0 or y.mean() == 0:
        return None
    k = max(1, int(np.ceil(0.1 * len(y))))
    top = np.argsort(-p, kind="mergesort")[:k]
    return float(y[top].mean() / y.mean())


def brier(y: Sequence, p: Sequence) -> float:
    """Mean squared difference between probability and outcome (lower is better)."""
    y, p = _arrays(y, p)
    return float(np.mean((p - y) ** 2))


def calibration_table(y: Sequence, p: Sequence, bins: int = 10) -> list[dict[str, float]]:
    """Equal-width probability bins: count, mean predicted and observed rate per bin.

    Bins are closed on the right — [0, 0.1], (0.1, 0.2], ... — as in scikit-learn's
    ``calibration_curve``; only bins holding a score are listed.
    """
    y, p = _arrays(y, p)
    idx = np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], p)
    rows = []
    for b in range(bins):
        m = idx == b
        if not m.any():
            continue
        rows.append({"bin": b, "lower": b / bins, "upper": (b + 1) / bins, "n": int(m.sum()),
                     "mean_predicted": float(p[m].mean()), "observed_rate": float(y[m].mean())})
    return rows


def ece(y: Sequence, p: Sequence, bins: int = 10) -> float:
    """Expected calibration error: count-weighted |mean predicted - observed| over bins."""
    y, _ = _arrays(y, p)
    table = calibration_table(y, p, bins)
    return float(sum(r["n"] * abs(r["mean_predicted"] - r["observed_rate"]) for r in table)
                 / max(len(y), 1))


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def binary_metrics(y: Sequence, p: Sequence, bins: int = 10) -> dict[str, Any]:
    """Every metric of a set of scored outcomes, JSON-able."""
    y, p = _arrays(y, p)
    return {
        "n": len(y),
        "positives": int(y.sum()),
        "base_rate": _round(y.mean() if len(y) else None),
        "mean_predicted": _round(p.mean() if len(p) else None),
        "roc_auc": _round(roc_auc(y, p)),
        "pr_auc": _round(pr_auc(y, p)),
        "top_decile_lift": _round(top_decile_lift(y, p)),
        "brier": _round(brier(y, p)) if len(y) else None,
        "ece": _round(ece(y, p, bins)) if len(y) else None,
        "calibration": [{k: (_round(v) if isinstance(v, float) else v) for k, v in r.items()}
                        for r in calibration_table(y, p, bins)],
    }


@dataclass(frozen=True)
class CutoffPlan:
    """The cut-offs of one model: backtest folds and the final training set."""

    #: test cut-off -> the training cut-offs used for it (outcomes known by the test date).
    folds: dict[dt.date, list[dt.date]]
    #: cut-offs the final model trains on (outcomes known by the as-of date).
    final: list[dt.date]

    def all_cutoffs(self) -> list[dt.date]:
        s = set(self.final) | set(self.folds)
        for v in self.folds.values():
            s |= set(v)
        return sorted(s)


def plan_cutoffs(as_of: dt.date, *, horizon: int, step: int, n_test: int, n_train: int,
                 data_start: dt.date | None, min_history: int) -> CutoffPlan:
    """Choose cut-offs: every ``step`` months back from ``as_of - horizon``.

    A cut-off is eligible only with ``max(min_history, horizon)`` months of data before
    it: the labels compare the H months after a cut-off with the H months before, and a
    window cut short by the start of the data would make every yearly purchase look
    "new".  The final model trains on the ``n_train`` latest cut-offs with a known
    outcome; test cut-off T trains on the ``n_train`` latest cut-offs at or before
    ``T - horizon``.
    """
    months = max(min_history, horizon)
    earliest = (data_start + relativedelta(months=months) - dt.timedelta(days=1)
                if data_start else None)

    def candidates(end: dt.date) -> list[dt.date]:
        out = []
        for k in range(0, 240):
            c = end - relativedelta(months=k * step)
            if earliest is not None and c < earliest:
                break
            out.append(c)
            if len(out) == n_train:
                break
        return sorted(out)

    latest = as_of - relativedelta(months=horizon)
    final = candidates(latest)
    folds: dict[dt.date, list[dt.date]] = {}
    for k in range(n_test):
        t = latest - relativedelta(months=k * step)
        if earliest is not None and t < earliest:
            break
        train = candidates(t - relativedelta(months=horizon))
        if train:
            folds[t] = train
    return CutoffPlan(folds=dict(sorted(folds.items())), final=final)


#: cut-off -> (X, y, groups, mask of rows that are scored); built once per cut-off.
CutoffData = Callable[[dt.date], tuple[pd.DataFrame, np.ndarray, np.ndarray]]


def rolling_backtest(estimator: Any, data: CutoffData, plan: CutoffPlan,
                     bins: int = 10, on_fold: Callable[..., None] | None = None
                     ) -> dict[str, Any]:
    """Fit a clone per fold on its training cut-offs, score the test cut-off, measure.

    Returns JSON-able results: per fold (cut-off, training cut-offs, metrics) and the
    metrics of all folds' predictions pooled.  ``data(cutoff)`` returns the matrix, the
    labels and the account ids of that cut-off.  ``on_fold(test, x_train, y_train,
    x_test, y_test, ids_test, scores)`` sees every scored fold (the baselines are
    compared there, on the same rows).
    """
    folds, ys, ps = [], [], []
    for test, train in plan.folds.items():
        parts = [data(c) for c in train]
        x_tr = pd.concat([p[0] for p in parts], ignore_index=True)
        y_tr = np.concatenate([p[1] for p in parts])
        g_tr = np.concatenate([p[2] for p in parts])
        if len(np.unique(y_tr)) < 2:
            folds.append({"cutoff": test.isoformat(), "train_cutoffs": [c.isoformat()
                          for c in train], "skipped": "training labels have one class only"})
            continue
        x_te, y_te, g_te = data(test)
        est = clone(estimator).fit(x_tr, y_tr, groups=g_tr)
        p = est.predict_proba(x_te)[:, 1]
        if on_fold is not None:
            on_fold(test, x_tr, y_tr, x_te, y_te, g_te, p)
        m = binary_metrics(y_te, p, bins)
        folds.append({"cutoff": test.isoformat(), "train_cutoffs": [c.isoformat() for c in train],
                      "n_train": len(y_tr), "train_base_rate": _round(y_tr.mean()), **m})
        ys.append(y_te)
        ps.append(p)
    pooled = binary_metrics(np.concatenate(ys), np.concatenate(ps), bins) if ys else None
    return {"folds": folds, "pooled": pooled}
