"""Model and baselines on the same rows, label by label, and the choice of what to publish.

The models stage hands every backtest fold (or, when the history is too short for a
backtest, the out-of-fold scores of the training cut-offs) to a :class:`Comparison`,
which keeps the model's scores, every baseline's and the decision labels of those rows.
From the pooled rows it

* measures every score on each decision label, reported apart (PtB: its own label, the
  first purchase of prospects, the expansion of customers and whether they buy again at
  all; risk: decline and churn; per family: cross-sell of a family not bought yet, apart
  from repeat purchases), with bootstrap intervals (:func:`growthmap.scores.baselines.compare`);
* chooses, segment by segment, what the run publishes (:meth:`Comparison.choose`): the
  model where it ranks every decision label of the segment at least as well as the best
  baseline; otherwise, of the baselines and the blends of model and baseline ranks that
  are never worse than the best baseline on any label, the best on average (or, when
  none is, the one whose worst margin is least bad).  Choosing on the rows that are
  reported is a mild optimism, which the docs state; the candidates are few and fixed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from growthmap.models._backtest import roc_auc
from growthmap.scores.baselines import apply_signs, baseline_frame, compare, pct_rank
from growthmap.scores.publish import MIN_POSITIVES, Choice, Published, baseline_name

__all__ = [
    "PTB_SEGMENTS",
    "Comparison",
    "family_sublabels",
    "ptb_sublabels",
    "risk_sublabels",
]

#: Model weights tried in a blend of model and baseline ranks (0 = the baseline alone).
BLEND_WEIGHTS = (0.9, 0.75, 0.6, 0.5, 0.4, 0.25, 0.1, 0.0)
#: PtB's segments and the decision labels each is judged on (the first one calibrates).
PTB_SEGMENTS = {"prospects": ("first_purchase",), "customers": ("expansion", "buys_again")}

Labels = dict[str, tuple[str, np.ndarray, np.ndarray]]
#: (cutoff, account ids, feature matrix, own labels) -> {name: (description, rows, labels)}
SubLabels = Callable[[dt.date, np.ndarray, pd.DataFrame, np.ndarray], Labels]


@dataclass
class _Part:
    y: np.ndarray
    model: np.ndarray
    baselines: pd.DataFrame
    sub: Labels


def _logit(rate: float) -> float:
    rate = min(max(rate, 1e-6), 1 - 1e-6)
    return float(np.log(rate / (1 - rate)))


def _platt(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Rank score -> log-odds on these rows; the slope kept positive (never reorders)."""
    if len(np.unique(y)) < 2:
        return 1.0, _logit((y.sum() + 1) / (len(y) + 2)) - 0.5
    lr = LogisticRegression(C=1e4).fit(s.reshape(-1, 1), y)
    a, c = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    if a <= 1e-3:  # no slope: the rate, with the order kept by a tiny one
        a, c = 1e-3, _logit(float(y.mean()))
    return round(a, 6), round(c, 6)


class Comparison:
    """Model and baselines on the same rows, one cut-off at a time, then pooled.

    ``own`` describes the model's own label; ``sublabels`` gives the decision labels
    reported apart; ``direction`` is +1 when a high baseline means the outcome (PtB) and
    -1 when it means the opposite (risk); ``segments`` names the decision labels each
    segment is judged on (default: one segment, ``all``, on every label).  Scores are
    compared as ranks within their cut-off, so cut-offs with different base rates pool.
    """

    def __init__(self, own: str, columns: tuple[str, ...] = (),
                 sublabels: SubLabels | None = None, *, direction: int = 1,
                 segments: dict[str, tuple[str, ...]] | None = None,
                 source: str = "backtest") -> None:
        self.own, self.columns, self.sublabels = own, columns, sublabels
        self.direction, self.segments, self.source = direction, segments, source
        self.parts: list[_Part] = []

    def add(self, cutoff: dt.date, x_tr: pd.DataFrame, y_tr: np.ndarray, x_te: pd.DataFrame,
            y_te: np.ndarray, ids_te: np.ndarray, p: np.ndarray) -> None:
        """One fold (the ``on_fold`` of the rolling backtest): its test rows' scores."""
        b = baseline_frame(x_te, self.columns)
        b = apply_signs(b, {c: self.direction for c in b.columns})
        sub = self.sublabels(cutoff, ids_te, x_te, y_te) if self.sublabels else {}
        self.parts.append(_Part(np.asarray(y_te, int), pct_rank(p),
                                b.reset_index(drop=True), sub))

    def add_out_of_fold(self, data: Callable[[dt.date], tuple[pd.DataFrame, np.ndarray,
                                                               np.ndarray]],
                        cutoffs: list[dt.date], model: Any) -> None:
        """Without a backtest fold: the final model's out-of-fold scores of its training
        cut-offs (cross-fitted by account, not out of time; ``source`` says so)."""
        self.source = "out_of_fold"
        oof = getattr(model, "oof_raw_", None)
        if oof is None:
            return
        start = 0
        for c in cutoffs:
            xc, yc, gc = data(c)
            part = oof[start:start + len(yc)]
            start += len(yc)
            held = np.isfinite(part)
            if held.sum() and len(np.unique(yc[held])) == 2:
                self.add(c, xc, yc, xc[held].reset_index(drop=True), yc[held], gc[held],
                         part[held])

    def _pooled(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        y = np.concatenate([p.y for p in self.parts])
        scores = {"model": np.concatenate([p.model for p in self.parts])}
        for c in self.parts[0].baselines.columns:
            scores[c] = np.concatenate([p.baselines[c].to_numpy() for p in self.parts])
        return y, scores

    def _labels(self, y: np.ndarray) -> Labels:
        """Every decision label over the pooled rows: (description, rows, labels)."""
        out = {"own": (self.own, np.arange(len(y)), y)}
        offsets = np.cumsum([0] + [len(p.y) for p in self.parts])
        for name in self.parts[0].sub:
            rows = np.concatenate([off + p.sub[name][1]
                                   for off, p in zip(offsets, self.parts, strict=False)])
            ys = np.concatenate([p.sub[name][2] for p in self.parts])
            out[name] = (self.parts[0].sub[name][0], rows.astype(np.int64), ys)
        return out

    def _segments(self, labels: Labels) -> dict[str, tuple[str, ...]]:
        segs = self.segments or {"all": tuple(labels)}
        return {k: tuple(n for n in v if n in labels) for k, v in segs.items()
                if any(n in labels for n in v)}

    def choose(self) -> Published:
        """Segment by segment: the model, or the baseline / blend never worse than the
        baselines (see the module).  A label counts with :data:`MIN_POSITIVES` of each
        class; a segment with none keeps the model -- except prospects with a score of the
        user's (``baseline_columns``), which are ranked by it: a model that never saw a
        first purchase cannot rank them, the user's score may."""
        if not self.parts:
            return Published(columns=self.columns)
        y, scores = self._pooled()
        bases = [c for c in scores if c != "model"]
        signs = {c: self.direction for c in bases}
        labels = self._labels(y)
        choices = {}
        for seg, names in self._segments(labels).items():
            choices[seg] = self._choose(seg, names, labels, scores, bases)
        return Published(choices or {"all": Choice()}, signs, self.columns)

    def _choose(self, seg: str, names: tuple[str, ...], labels: Labels,
                scores: dict[str, np.ndarray], bases: list[str]) -> Choice:
        first = labels[names[0]]
        usable = {n: labels[n] for n in names
                  if min(int(labels[n][2].sum()), int(len(labels[n][2]) - labels[n][2].sum()))
                  >= MIN_POSITIVES}
        if not usable:
            user = [c for c in self.columns if c in scores]
            if seg == "prospects" and user:
                return Choice("baseline", user[0], 0.0, _platt(scores[user[0]][first[1]],
                                                              first[2]),
                              f"no {names[0].replace('_', ' ')}s to learn from")
            return Choice(why="too few outcomes to compare with a baseline")
        if not bases:
            return Choice()
        best = {n: max((roc_auc(v, scores[b][r]), b) for b in bases)
                for n, (_, r, v) in usable.items()}

        def margin(s: np.ndarray) -> tuple[float, float]:
            a = {n: roc_auc(v, s[r]) for n, (_, r, v) in usable.items()}
            return min(a[n] - best[n][0] for n in usable), float(np.mean(list(a.values())))

        m_model = margin(scores["model"])
        if m_model[0] >= 0:
            return Choice()
        cands = [(margin(w * scores["model"] + (1 - w) * scores[b]), w, b)
                 for b in bases for w in BLEND_WEIGHTS]
        safe = [c for c in cands if c[0][0] >= 0]
        # never worse than the best baseline on any label: of those, the best on average;
        # when none is, the one whose worst label is least bad
        (m, _), w, b = (max(safe, key=lambda t: (t[0][1], t[1])) if safe else
                        max(cands, key=lambda t: (t[0][0], t[0][1], t[1])))
        if m <= m_model[0]:
            return Choice(why="no baseline or blend does better")
        worst = min(usable, key=lambda n: roc_auc(usable[n][2],
                                                  scores["model"][usable[n][1]]) - best[n][0])
        a_model = roc_auc(usable[worst][2], scores["model"][usable[worst][1]])
        why = (f"on {worst.replace('_', ' ')} the model's AUC was {a_model:.2f} where "
               f"{baseline_name(best[worst][1])} had {best[worst][0]:.2f}")
        s = w * scores["model"] + (1 - w) * scores[b]
        return Choice("blend" if w > 0 else "baseline", b, w, _platt(s[first[1]], first[2]),
                      why)

    def result(self, published: Published, seed: int = 0) -> dict[str, Any]:
        """Per decision label: every score's AUC with its interval, model minus each
        baseline; and the published score's where it is not the model."""
        if not self.parts:
            return {"source": self.source, "labels": {}}
        y, scores = self._pooled()
        labels = self._labels(y)
        if published.score != "model":
            b = pd.DataFrame({k: v for k, v in scores.items() if k != "model"})
            pub = scores["model"].copy()
            for seg, names in self._segments(labels).items():
                choice = published.segments.get(seg)
                if choice is not None and choice.score != "model":
                    rows = labels[names[0]][1]
                    pub[rows] = choice.rank(scores["model"][rows], b.iloc[rows])
            scores = {**scores, "published": pub}
        out = {}
        for name, (text, rows, ys) in labels.items():
            out[name] = {"label": text,
                         **compare(ys, {k: v[rows] for k, v in scores.items()}, seed=seed)}
        return {"source": self.source, "labels": out}


# -- the decision labels, reported apart -------------------------------------------------
def _per_account(window: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    per = window.groupby("account_id")[["last", "next"]].sum()
    return per.reindex(pd.Index(ids)).fillna(0.0)


def ptb_sublabels(window: pd.DataFrame, ids: np.ndarray, x: pd.DataFrame, own: np.ndarray
                  ) -> Labels:
    """PtB's decisions: prospects' (never bought) first purchase; customers' (bought
    before) expansion -- the own label among them -- and whether they buy again at all."""
    per = _per_account(window, ids)
    last, nxt = per["last"].to_numpy(), per["next"].to_numpy()
    never = (x["families_ever"].to_numpy() <= 0) if "families_ever" in x else last <= 0
    prospects, customers = np.flatnonzero(never), np.flatnonzero(~never)
    return {
        "first_purchase": ("prospects (never bought) that make a first purchase", prospects,
                           (nxt[prospects] > 0).astype(int)),
        "expansion": ("customers that buy a new family or grow", customers,
                      np.asarray(own)[customers]),
        "buys_again": ("customers that buy again at all", customers,
                       (nxt[customers] > 0).astype(int)),
    }


def risk_sublabels(window: pd.DataFrame, ids: np.ndarray) -> Labels:
    """Risk's decisions beside decline: churn (no revenue at all in the next H months)."""
    per = _per_account(window, ids)
    rows = np.arange(len(ids))
    return {"churn": ("customers that stop buying", rows,
                      (per["next"].to_numpy() <= 0).astype(int))}


def family_sublabels(window: pd.DataFrame, ids: np.ndarray, families: np.ndarray,
                     growth: float) -> Labels:
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
