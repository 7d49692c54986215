"""Transparent baselines beside every score, and the paired comparison with intervals.

An analyst without growthmap ranks accounts by recency, frequency and monetary value
(RFM), or by a score the CRM already holds (an engagement or lead score).  A model earns
its place only by ranking the decision's outcome better than that, on the same rows.

* :func:`baseline_frame` turns a feature matrix into baseline scores: ``rfm`` (the mean
  of the percentile ranks of recency -- days since the last purchase, reversed -- of the
  purchases and of the revenue of the last 12 months; never-bought accounts rank last)
  and one column per user score named in ``[scores].baseline_columns``.  Ranks are taken
  within the rows given (one cut-off's population), so they compare across cut-offs.
* A baseline points the way an analyst would use it, fixed in advance rather than
  learned (a learned sign flips with the population: prospects, last on RFM, can hold
  most of the first purchases): high RFM or a high user score means likely to buy, so
  PtB is compared with them as they are and risk with them reversed (``10 - engagement``).
* :func:`compare` measures ROC AUC of every score on the same rows with a Poisson
  bootstrap (the same weights for every score, so the differences are paired) and gives
  90% intervals of each AUC and of the model's difference from each baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from growthmap.models._backtest import roc_auc

__all__ = [
    "RFM",
    "RFM_COLUMNS",
    "baseline_frame",
    "bootstrap_auc",
    "compare",
    "pct_rank",
]

#: Name of the recency / frequency / monetary baseline.
RFM = "rfm"
#: Feature columns the RFM rank reads: recency, frequency, monetary value.
RFM_COLUMNS = ("recency_days", "lines_12m", "rev_12m")
#: Bootstrap replicates and the interval's level.
REPLICATES = 200
LEVEL = 0.90
#: Fewer rows of a class than this: the AUC is reported without an interval (a bootstrap
#: of one positive says nothing about its spread).
MIN_CLASS = 10


def pct_rank(v: Any, missing: float = 0.0) -> np.ndarray:
    """Average rank / n in (0, 1]; missing values take ``missing`` (0 = below everyone)."""
    a = np.asarray(v, dtype=float)
    out = np.full(len(a), missing, dtype=float)
    ok = np.isfinite(a)
    if ok.any():
        out[ok] = rankdata(a[ok]) / ok.sum()
    return out


def baseline_frame(x: pd.DataFrame, columns: Sequence[str] = ()) -> pd.DataFrame:
    """Baseline scores of the rows of a feature matrix (higher = more of the outcome).

    ``rfm`` needs the recency, frequency and monetary features (absent ones are left
    out); each of ``columns`` is the user's own score, ranked (missing: the middle).
    """
    out: dict[str, np.ndarray] = {}
    parts = []
    if "recency_days" in x:
        parts.append(pct_rank(-x["recency_days"].to_numpy(dtype=float)))
    for c in RFM_COLUMNS[1:]:
        if c in x:
            parts.append(pct_rank(x[c].to_numpy(dtype=float)))
    if parts:
        out[RFM] = np.mean(parts, axis=0)
    for c in columns:
        if c in x:
            out[c] = pct_rank(x[c].to_numpy(dtype=float), missing=0.5)
    return pd.DataFrame(out, index=x.index)


def apply_signs(b: pd.DataFrame, signs: Mapping[str, int]) -> pd.DataFrame:
    """Baselines turned the way their sign says (a rank r reversed is 1 - r)."""
    return pd.DataFrame({c: (b[c] if signs.get(c, 1) > 0 else 1.0 - b[c]) for c in b.columns},
                        index=b.index)


def bootstrap_auc(y: np.ndarray, scores: Mapping[str, np.ndarray], *,
                  replicates: int = REPLICATES, seed: int = 0) -> dict[str, np.ndarray]:
    """ROC AUC of every score under ``replicates`` Poisson-bootstrap weightings.

    The same weights serve every score (paired).  Each weighted AUC is computed in one
    pass over the rows sorted by score, ties counting half, so the cost is a sort per
    score and a few array sums per replicate; replicates are drawn 50 at a time, so the
    weights of a large backtest never sit in memory all at once.
    """
    y = np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    prepared = {}
    for name, s in scores.items():
        s = np.asarray(s, dtype=float)
        order = np.argsort(s, kind="mergesort")
        ss = s[order]
        prepared[name] = (order, np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]]))
    out: dict[str, list[np.ndarray]] = {name: [] for name in scores}
    for start in range(0, replicates, 50):
        w = rng.poisson(1.0, size=(min(50, replicates - start), len(y))).astype(np.float64)
        for name, (order, first) in prepared.items():
            wo, yo = w[:, order], y[order]
            gp = np.add.reduceat(wo * yo, first, axis=1)
            gn = np.add.reduceat(wo * (1.0 - yo), first, axis=1)
            below = np.cumsum(gn, axis=1) - gn
            num = (gp * (below + 0.5 * gn)).sum(axis=1)
            den = gp.sum(axis=1) * gn.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name].append(np.where(den > 0, num / den, np.nan))
    return {name: np.concatenate(v) for name, v in out.items()}


def _ci(v: np.ndarray) -> tuple[float | None, float | None]:
    v = v[np.isfinite(v)]
    if len(v) < 10:
        return None, None
    a = (1 - LEVEL) / 2
    return round(float(np.quantile(v, a)), 4), round(float(np.quantile(v, 1 - a)), 4)


def compare(y: np.ndarray, scores: Mapping[str, np.ndarray], *, model: str = "model",
            seed: int = 0) -> dict[str, Any]:
    """AUC of every score with its interval, and ``model`` minus each other score.

    Returns ``{"n", "positives", "auc": {score: {"auc", "lo", "hi"}}, "vs": {score:
    {"diff", "lo", "hi"}}}``; AUCs are None with one class only, intervals None with
    fewer than :data:`MIN_CLASS` rows of a class.
    """
    y = np.asarray(y, dtype=int)
    res: dict[str, Any] = {"n": len(y), "positives": int(y.sum()), "auc": {}, "vs": {}}
    if len(y) == 0 or y.min() == y.max():
        for name in scores:
            res["auc"][name] = {"auc": None, "lo": None, "hi": None}
        return res
    point = {name: roc_auc(y, s) for name, s in scores.items()}
    few = min(res["positives"], len(y) - res["positives"]) < MIN_CLASS
    boot = {} if few else bootstrap_auc(y, scores, seed=seed)
    for name in scores:
        lo, hi = (None, None) if few else _ci(boot[name])
        res["auc"][name] = {"auc": round(point[name], 4), "lo": lo, "hi": hi}
    if model in scores:
        for name in scores:
            if name == model:
                continue
            lo, hi = (None, None) if few else _ci(boot[model] - boot[name])
            res["vs"][name] = {"diff": round(point[model] - point[name], 4), "lo": lo, "hi": hi}
    return res
