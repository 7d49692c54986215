"""Never worse than the baseline, and say when a score knows nothing.

The models stage collects, for every backtest fold (or, when the history is too short
for a backtest, for the out-of-fold scores of the training cut-offs), the model's score
and every baseline's on the same rows (:class:`Comparison`).  From the pooled rows it

* measures each score on the decision labels, reported apart (PtB: its own label, first
  purchase of prospects, expansion and "buys again" of customers; risk: decline and
  churn; per family: cross-sell of a family not bought yet, apart from repeats);
* chooses what the run publishes (:meth:`Comparison.choose`): the model when it ranks
  the decision's label at least as well as the best baseline, else the baseline or the
  blend of the two ranks that ranks best on those rows -- mapped to probabilities by a
  logistic fit on the same rows (:class:`Published`);
* says whether the published score is informative (:func:`informative`): too few
  positive labels to learn from, a near-constant score, or an AUC interval that holds
  0.5 flags it "not informative", with the reason in plain words.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from growthmap.models._backtest import roc_auc
from growthmap.scores.baselines import (
    RFM,
    apply_signs,
    baseline_frame,
    compare,
    orient,
    pct_rank,
)

__all__ = [
    "MIN_POSITIVES",
    "Comparison",
    "Published",
    "baseline_drivers",
    "family_sublabels",
    "informative",
    "near_constant",
    "ptb_sublabels",
    "publish",
    "published_from_json",
    "risk_sublabels",
]

#: Fewer positive training labels than this: the model cannot have learned the outcome.
MIN_POSITIVES = 20
#: Model weights tried in the blend of model and baseline ranks (0 = the baseline alone).
BLEND_WEIGHTS = (0.75, 0.5, 0.25, 0.0)

#: (cutoff, account ids, feature matrix, own labels) -> {name: (description, rows, labels)}
SubLabels = Callable[[dt.date, np.ndarray, pd.DataFrame, np.ndarray],
                     dict[str, tuple[str, np.ndarray, np.ndarray]]]


@dataclass
class Published:
    """What the run publishes for a score: the model, a baseline, or a blend of ranks."""

    score: str = "model"
    baseline: str | None = None
    weight: float = 1.0
    signs: dict[str, int] = field(default_factory=dict)
    columns: tuple[str, ...] = ()
    platt: tuple[float, float] | None = None

    def blend(self, model_rank: np.ndarray, b: pd.DataFrame) -> np.ndarray:
        """The published rank score from the model's rank and the (oriented) baselines."""
        base = b[self.baseline].to_numpy() if self.baseline else 0.0
        return self.weight * model_rank + (1.0 - self.weight) * base

    def apply(self, p: np.ndarray, x: pd.DataFrame) -> np.ndarray:
        """Published probabilities of accounts the model scored ``p`` with features ``x``
        (one population: every account for PtB, the customers for risk)."""
        if self.score == "model" or len(p) == 0:
            return p
        b = apply_signs(baseline_frame(x, self.columns), self.signs)
        s = self.blend(pct_rank(p), b)
        a, c = self.platt or (1.0, 0.0)
        return 1.0 / (1.0 + np.exp(-(a * s + c)))

    def describe(self, what: str) -> str:
        """A plain sentence: what the run publishes for ``what`` and why."""
        name = _name(self.baseline)
        if self.score == "model":
            return f"{what}: the model is published (it ranks at least as well as its baselines)."
        if self.score == "baseline":
            return (f"{what}: the model did not beat {name} in the evaluation, so the run "
                    f"publishes {name} (as a probability) instead of the model.")
        return (f"{what}: the model did not beat {name} in the evaluation, so the run "
                f"publishes a blend of the two ranks ({self.weight:.0%} model), the mix "
                "that ranked best there.")

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "baseline": self.baseline, "model_weight": self.weight,
                "signs": self.signs, "columns": list(self.columns),
                "platt": list(self.platt) if self.platt else None}


def _name(baseline: str | None) -> str:
    if baseline is None:
        return "its baseline"
    return "the recency / frequency / monetary rank" if baseline == "rfm" else \
        f"the account column {baseline!r}"


@dataclass
class _Part:
    y: np.ndarray
    model: np.ndarray
    baselines: pd.DataFrame
    sub: dict[str, tuple[str, np.ndarray, np.ndarray]]


class Comparison:
    """Model and baselines on the same rows, one cut-off at a time, then pooled.

    ``own`` describes the model's own label; ``sublabels`` gives the decision labels
    reported apart.  Scores are compared as ranks within their cut-off, so cut-offs with
    different base rates pool fairly.
    """

    def __init__(self, own: str, columns: tuple[str, ...] = (),
                 sublabels: SubLabels | None = None, source: str = "backtest") -> None:
        self.own, self.columns, self.sublabels, self.source = own, columns, sublabels, source
        self.parts: list[_Part] = []

    def add(self, cutoff: dt.date, x_tr: pd.DataFrame, y_tr: np.ndarray, x_te: pd.DataFrame,
            y_te: np.ndarray, ids_te: np.ndarray, p: np.ndarray) -> None:
        """One fold: baselines oriented on its training rows, measured on its test rows."""
        signs = orient(y_tr, baseline_frame(x_tr, self.columns))
        b = apply_signs(baseline_frame(x_te, self.columns), signs)
        sub = self.sublabels(cutoff, ids_te, x_te, y_te) if self.sublabels else {}
        self.parts.append(_Part(np.asarray(y_te, int), pct_rank(p),
                                b.reset_index(drop=True), sub))

    def _pooled(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        y = np.concatenate([p.y for p in self.parts])
        scores = {"model": np.concatenate([p.model for p in self.parts])}
        for c in self.parts[0].baselines.columns:
            scores[c] = np.concatenate([p.baselines[c].to_numpy() for p in self.parts])
        return y, scores

    def choose(self, signs: dict[str, int]) -> Published:
        """The model, or the baseline / blend that ranks the own label best on these rows."""
        if not self.parts:
            return Published(columns=self.columns, signs=signs)
        y, scores = self._pooled()
        aucs = {k: roc_auc(y, v) for k, v in scores.items()}
        base = {k: v for k, v in aucs.items() if k != "model" and v is not None}
        if aucs["model"] is None or not base:
            return Published(columns=self.columns, signs=signs)
        best = max(sorted(base), key=lambda k: base[k])
        if aucs["model"] >= base[best]:
            return Published(columns=self.columns, signs=signs)
        w_best, auc_best = 0.0, base[best]
        for w in BLEND_WEIGHTS[:-1]:
            a = roc_auc(y, w * scores["model"] + (1 - w) * scores[best])
            if a is not None and a > auc_best:
                w_best, auc_best = w, a
        pub = Published(score="blend" if w_best > 0 else "baseline", baseline=best,
                        weight=w_best, signs=signs, columns=self.columns)
        s = w_best * scores["model"] + (1 - w_best) * scores[best]
        lr = LogisticRegression(C=1e4).fit(s.reshape(-1, 1), y)
        pub.platt = (round(float(lr.coef_[0, 0]), 6), round(float(lr.intercept_[0]), 6))
        if pub.platt[0] <= 0:  # a flat or reversed fit would scramble the chosen ranking
            pub.platt = (1e-3, float(np.log(max(y.mean(), 1e-6) / max(1 - y.mean(), 1e-6))))
        return pub

    def result(self, published: Published, seed: int = 0) -> dict[str, Any]:
        """Per decision label: every score's AUC with its interval, model minus each
        baseline; and the published score's own-label AUC when it is not the model."""
        if not self.parts:
            return {"source": self.source, "labels": {}}
        y, scores = self._pooled()
        if published.score != "model":
            b = pd.DataFrame({k: v for k, v in scores.items() if k != "model"})
            scores = {**scores, "published": published.blend(scores["model"], b)}
        labels = {"own": {"label": self.own, **compare(y, scores, seed=seed)}}
        names = list(self.parts[0].sub)
        offsets = np.cumsum([0] + [len(p.y) for p in self.parts])
        for name in names:
            rows = np.concatenate([off + p.sub[name][1]
                                   for off, p in zip(offsets, self.parts, strict=False)])
            ys = np.concatenate([p.sub[name][2] for p in self.parts])
            labels[name] = {"label": self.parts[0].sub[name][0],
                            **compare(ys, {k: v[rows] for k, v in scores.items()}, seed=seed)}
        return {"source": self.source, "labels": labels}


def near_constant(p: np.ndarray) -> bool:
    """True when one value holds 90% of the scores or they span under 0.001."""
    p = np.asarray(p, dtype=float)
    p = p[np.isfinite(p)]
    if len(p) == 0:
        return True
    _, counts = np.unique(p, return_counts=True)
    return bool(counts.max() >= 0.9 * len(p) or np.ptp(p) < 1e-3)


def informative(evaluation: dict[str, Any], published: np.ndarray) -> list[str]:
    """Why a published score is not informative (empty list: it is)."""
    reasons = []
    pos = (evaluation.get("final_training") or {}).get("positives")
    if pos is not None and pos < MIN_POSITIVES:
        reasons.append(f"only {pos} positive labels to learn from (at least {MIN_POSITIVES} "
                       "are needed)")
    if near_constant(published):
        reasons.append("nearly every account gets the same score")
    own = ((evaluation.get("comparison") or {}).get("labels") or {}).get("own")
    if not own:
        reasons.append("no backtest or out-of-fold check was possible")
    else:
        key = "published" if "published" in own["auc"] else "model"
        a = own["auc"][key]
        if a["auc"] is None:
            reasons.append("its evaluation held one class only")
        elif a["lo"] is not None and a["lo"] <= 0.5 <= a["hi"]:
            reasons.append(f"its AUC interval ({a['lo']:.2f} to {a['hi']:.2f}) includes 0.5, "
                           "so it cannot be told from chance")
    return reasons


def published_from_json(ev: dict[str, Any] | None) -> Published:
    """The :class:`Published` choice stored in an evaluation (the model when absent)."""
    j = (ev or {}).get("published") or {}
    if not j:
        return Published()
    return Published(score=j["score"], baseline=j.get("baseline"),
                     weight=float(j.get("model_weight", 1.0)), signs=dict(j.get("signs") or {}),
                     columns=tuple(j.get("columns") or ()),
                     platt=tuple(j["platt"]) if j.get("platt") else None)


def publish(ev: dict[str, Any], p: np.ndarray, x: pd.DataFrame, what: str) -> np.ndarray:
    """The scores the run publishes (the model's, or its baseline's / blend's, see
    :mod:`growthmap.scores.publish`); records in ``ev`` what was published and whether
    it is informative."""
    chosen = published_from_json(ev)
    out = chosen.apply(p, x)
    reasons = informative(ev, out)
    ev["published"]["sentence"] = chosen.describe(what)
    ev["informative"] = not reasons
    ev["not_informative"] = reasons
    return out


def baseline_drivers(baseline: str) -> str:
    """The drivers of a published baseline: the baseline itself."""
    label = ("recency, frequency and value of purchases" if baseline == RFM
             else f"the account's {baseline}")
    return json.dumps([{"feature": baseline, "label": label, "effect": None}])


# -- the decision labels, reported apart -------------------------------------------------
def _per_account(window: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    per = window.groupby("account_id")[["last", "next"]].sum()
    return per.reindex(pd.Index(ids)).fillna(0.0)


def ptb_sublabels(window: pd.DataFrame, ids: np.ndarray, x: pd.DataFrame, own: np.ndarray
                  ) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
    """PtB's decisions: prospects' first purchase; customers' expansion (the own label
    among customers) and whether they buy again at all."""
    per = _per_account(window, ids)
    last, nxt = per["last"].to_numpy(), per["next"].to_numpy()
    never = (x["families_ever"].to_numpy() <= 0) if "families_ever" in x else last <= 0
    prospects, customers = np.flatnonzero(never), np.flatnonzero(last > 0)
    return {
        "first_purchase": ("prospects (never bought) that make a first purchase", prospects,
                           (nxt[prospects] > 0).astype(int)),
        "expansion": ("customers that buy a new family or grow", customers,
                      np.asarray(own)[customers]),
        "buys_again": ("customers that buy again at all", customers,
                       (nxt[customers] > 0).astype(int)),
    }


def risk_sublabels(window: pd.DataFrame, ids: np.ndarray
                   ) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
    """Risk's decisions beside decline: churn (no revenue at all in the next H months)."""
    per = _per_account(window, ids)
    rows = np.arange(len(ids))
    return {"churn": ("customers that stop buying", rows,
                      (per["next"].to_numpy() <= 0).astype(int))}


def family_sublabels(window: pd.DataFrame, ids: np.ndarray, families: np.ndarray,
                     growth: float) -> dict[str, tuple[str, np.ndarray, np.ndarray]]:
    """Per family: cross-sell (a family the account did not buy in the last H months is
    bought) apart from repeat purchases (a family it buys grows)."""
    keys = pd.DataFrame({"account_id": ids, "family": families})
    w = keys.merge(window, on=["account_id", "family"], how="left").fillna(
        {"last": 0.0, "next": 0.0})
    last, nxt = w["last"].to_numpy(), w["next"].to_numpy()
    new, old = np.flatnonzero(last <= 0), np.flatnonzero(last > 0)
    return {
        "cross_sell": ("families not bought in the last H months that the account adopts",
                       new, (nxt[new] > 0).astype(int)),
        "repeat": ("families the account buys that grow", old,
                   (nxt[old] > last[old] * (1 + growth)).astype(int)),
    }
