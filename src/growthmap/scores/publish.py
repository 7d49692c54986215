"""What the run publishes for a score, and whether it knows anything.

Never worse than the baseline: for each segment of accounts a score serves (PtB:
prospects and customers; risk: customers), the evaluation (:mod:`growthmap.scores.compare`)
chooses the model, a baseline, or a blend of the two ranks (a :class:`Choice`).  A
:class:`Published` holds the choices of one score and turns the model's probabilities and
the baselines' inputs of every account into the published probabilities: a baseline or a
blend is a rank, mapped to a probability by a logistic fit on the evaluation's rows (its
slope kept positive, so the chosen order is never scrambled).

A score that knows nothing says so (:func:`informative`): too few positive labels to
learn from, a near-constant ranking, or an AUC interval that holds 0.5 on every decision
label flags it "not informative", with the reason in plain words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from growthmap.scores.baselines import RFM, apply_signs, baseline_frame, pct_rank

__all__ = [
    "MIN_POSITIVES",
    "Choice",
    "Published",
    "baseline_drivers",
    "baseline_name",
    "informative",
    "near_constant",
    "publish",
]

#: Fewer positive labels than this: a model cannot have learned the outcome, and an
#: evaluation cannot compare scores on it.
MIN_POSITIVES = 20
#: The column that tells prospects (0: never bought) from customers at scoring time.
EVER = "families_ever"


def baseline_name(name: str | None) -> str:
    """A baseline's name in words (a user column is named as such)."""
    if name is None:
        return "its baseline"
    return "the recency / frequency / monetary rank" if name == RFM else \
        f"the account column {name!r}"


@dataclass
class Choice:
    """One segment's published score: ``model``, ``baseline`` or ``blend`` (of ranks)."""

    score: str = "model"
    baseline: str | None = None
    weight: float = 1.0  #: the model's weight in a blend (0 = the baseline alone)
    platt: tuple[float, float] | None = None  #: rank score -> log-odds (slope, intercept)
    why: str = ""

    def rank(self, model_rank: np.ndarray, b: pd.DataFrame) -> np.ndarray:
        """The published rank score from the model's rank and the (oriented) baselines."""
        base = b[self.baseline].to_numpy() if self.baseline in b else 0.5
        return self.weight * model_rank + (1.0 - self.weight) * base

    def probability(self, s: np.ndarray) -> np.ndarray:
        a, c = self.platt or (1.0, 0.0)
        return 1.0 / (1.0 + np.exp(-(a * s + c)))

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "baseline": self.baseline, "model_weight": self.weight,
                "platt": list(self.platt) if self.platt else None, "why": self.why}


@dataclass
class Published:
    """The choices of one score by segment, and how to apply them to every account.

    ``segments`` maps ``prospects`` / ``customers`` (told apart by whether an account
    ever bought) or ``all`` to its :class:`Choice`.
    """

    segments: dict[str, Choice] = field(default_factory=lambda: {"all": Choice()})
    signs: dict[str, int] = field(default_factory=dict)
    columns: tuple[str, ...] = ()

    @property
    def score(self) -> str:
        """``model`` when every segment publishes the model, else what replaces it."""
        kinds = {c.score for c in self.segments.values()}
        return "model" if kinds == {"model"} else "/".join(sorted(kinds - {"model"}))

    def segment_of(self, x: pd.DataFrame) -> np.ndarray:
        """Each row's segment name."""
        if "all" in self.segments or EVER not in x:
            return np.full(len(x), next(iter(self.segments)), dtype=object)
        return np.where(x[EVER].to_numpy(dtype=float) > 0, "customers", "prospects")

    def apply(self, p: np.ndarray, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(published probabilities, published ranking score) of accounts the model scored
        ``p`` with features ``x`` (one population: every account for PtB, the customers for
        risk).  Ranks are taken over the whole population, as in the evaluation."""
        p = np.asarray(p, dtype=float)
        if self.score == "model" or len(p) == 0:
            return p, p
        b = apply_signs(baseline_frame(x, self.columns), self.signs).reset_index(drop=True)
        model_rank = pct_rank(p)
        out, rank = p.copy(), model_rank.copy()
        seg = self.segment_of(x)
        for name, choice in self.segments.items():
            rows = seg == name
            if choice.score == "model" or not rows.any():
                continue
            s = choice.rank(model_rank[rows], b[rows])
            rank[rows], out[rows] = s, choice.probability(s)
        return out, rank

    def describe(self, what: str) -> str:
        """A plain sentence: what the run publishes for ``what`` and why."""
        if self.score == "model":
            return f"{what}: the model is published (it ranks at least as well as its baselines)."
        parts = []
        for name, c in self.segments.items():
            who = "" if name == "all" else f" for {name}"
            if c.score == "model":
                parts.append(f"the model{who}")
            elif c.score == "baseline":
                parts.append(f"{self._base(c.baseline)}{who} ({c.why})")
            else:
                parts.append(f"a blend of the model ({c.weight:.0%}) and "
                             f"{self._base(c.baseline)}{who} ({c.why})")
        return f"{what}: the run publishes " + "; ".join(parts) + "."

    def _base(self, name: str | None) -> str:
        rev = " reversed (lowest first)" if self.signs.get(name or "", 1) < 0 else ""
        return baseline_name(name) + rev

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "signs": self.signs, "columns": list(self.columns),
                "segments": {k: c.to_json() for k, c in self.segments.items()}}

    @classmethod
    def from_json(cls, ev: dict[str, Any] | None) -> Published:
        """The choice stored in an evaluation (the model for everyone when absent)."""
        j = (ev or {}).get("published") or {}
        if not j:
            return cls()
        segs = {k: Choice(score=c["score"], baseline=c.get("baseline"),
                          weight=float(c.get("model_weight", 1.0)),
                          platt=tuple(c["platt"]) if c.get("platt") else None,
                          why=c.get("why", ""))
                for k, c in (j.get("segments") or {"all": {"score": "model"}}).items()}
        return cls(segs, dict(j.get("signs") or {}), tuple(j.get("columns") or ()))


def near_constant(p: np.ndarray) -> bool:
    """True when one value holds 90% of the scores or they span under 0.001."""
    p = np.asarray(p, dtype=float)
    p = p[np.isfinite(p)]
    if len(p) == 0:
        return True
    _, counts = np.unique(p, return_counts=True)
    return bool(counts.max() >= 0.9 * len(p) or np.ptp(p) < 1e-3)


def informative(evaluation: dict[str, Any], ranking: np.ndarray) -> list[str]:
    """Why a published score is not informative (empty list: it is)."""
    reasons = []
    pos = (evaluation.get("final_training") or {}).get("positives")
    if pos is not None and pos < MIN_POSITIVES:
        reasons.append(f"only {pos} positive labels to learn from (at least {MIN_POSITIVES} "
                       "are needed)")
    if near_constant(ranking):
        reasons.append("nearly every account gets the same score")
    labels = (evaluation.get("comparison") or {}).get("labels") or {}
    if not labels:
        reasons.append("no backtest or out-of-fold check was possible")
        return reasons
    measured = []
    for lab in labels.values():
        a = lab["auc"].get("published") or lab["auc"].get("model") or {}
        if a.get("auc") is not None and a.get("lo") is not None:
            measured.append((a["lo"], a["hi"]))
    if not measured:
        reasons.append("its evaluation held one class only")
    elif all(lo <= 0.5 for lo, _ in measured):
        lo, hi = measured[0]
        reasons.append(f"its AUC interval includes 0.5 on every decision label (own label: "
                       f"{lo:.2f} to {hi:.2f}), so it cannot be told from chance")
    return reasons


def publish(ev: dict[str, Any], p: np.ndarray, x: pd.DataFrame, what: str) -> np.ndarray:
    """The scores the run publishes (the model's, or its baseline's / blend's); records
    in ``ev`` what was published, in words, and whether it is informative."""
    chosen = Published.from_json(ev)
    out, ranking = chosen.apply(p, x)
    reasons = informative(ev, ranking)
    ev.setdefault("published", chosen.to_json())["sentence"] = chosen.describe(what)
    ev["informative"] = not reasons
    ev["not_informative"] = reasons
    return out


def baseline_drivers(baseline: str | None) -> str:
    """The drivers of a published baseline: the baseline itself."""
    label = ("recency, frequency and value of purchases" if baseline == RFM
             else f"the account's {baseline}")
    return json.dumps([{"feature": baseline, "label": label, "effect": None}])
