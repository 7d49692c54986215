"""Need / value / behaviour scores: config criteria mapped to 0-1 and weighted.

Each criterion turns one source (a column of the accounts, a computed figure such as
whitespace or PtB, or an assessment answer) into a 0-1 score: by percentile rank,
min-max, or a fixed range, reversed when lower is better.  An account without a value
gets the criterion's ``missing`` score (neutral 0.5 by default) *and a flag*, so a
missing assessment is visible on the card, never silently treated as an answer.

Weights may depend on the product life-cycle stage: an account's *stage mix* (the
share of its whitespace in introduction / growth / maturity / decline families, or
the stage of the config's focus family) scales each criterion's weight by
``sum(mix[stage] * stage_weights.get(stage, 1))``.

Everything here is plain pandas in, pandas out, so tiny hand-made frames test it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from growthmap.config._segments import Criterion, SegmentsConfig
from growthmap.contract import LIFECYCLE_STAGES
from growthmap.errors import ConfigError

__all__ = [
    "GROUPS",
    "NEUTRAL",
    "CriteriaResult",
    "family_stages",
    "latest_assessments",
    "scale_values",
    "score_criteria",
    "stage_mix",
]

#: Output column of each group in ``criteria_scores``.
GROUPS = {"need": "need", "value": "value_score", "behaviour": "behaviour"}
NEUTRAL = 0.5
_MISSING_SCORE = {"neutral": NEUTRAL, "low": 0.0, "high": 1.0}


@dataclass
class CriteriaResult:
    """Scores per account (``criteria_scores``) and what the run should be told."""

    scores: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    #: account_id x criterion name: True where the account had no value (score imputed).
    missing: pd.DataFrame = field(default_factory=pd.DataFrame)


def scale_values(x: pd.Series, crit: Criterion) -> pd.Series:
    """Map raw values to 0-1 (nulls stay null) by the criterion's scale and direction."""
    x = pd.to_numeric(x, errors="coerce").astype("float64")
    ok = x.notna()
    s = pd.Series(np.nan, index=x.index, dtype="float64")
    if ok.any():
        v = x[ok]
        if crit.scale == "percentile":
            n = len(v)
            s[ok] = (v.rank(method="average") - 1) / (n - 1) if n > 1 else NEUTRAL
        elif crit.scale == "minmax":
            lo, hi = v.min(), v.max()
            s[ok] = (v - lo) / (hi - lo) if hi > lo else NEUTRAL
        else:
            lo, hi = crit.effective_range  # type: ignore[misc]
            s[ok] = ((v - lo) / (hi - lo)).clip(0.0, 1.0)
    if crit.direction == "lower":
        s = 1.0 - s
    return s


def latest_assessments(assessments: pd.DataFrame | None, as_of: dt.date | None) -> pd.DataFrame:
    """One answer per account x criterion: the latest on or before ``as_of``.

    Answers dated after ``as_of`` are ignored (no leakage); undated answers count as
    known at any as-of.  Returns a wide frame: account_id index, one column per criterion.
    """
    if assessments is None or assessments.empty:
        return pd.DataFrame(index=pd.Index([], name="account_id"))
    a = assessments.copy()
    if "date" in a.columns and as_of is not None:
        d = pd.to_datetime(a["date"])
        a = a[d.isna() | (d <= pd.Timestamp(as_of))]
        a = a.assign(_d=pd.to_datetime(a["date"])).sort_values("_d", na_position="first")
    a = a.dropna(subset=["score"])
    last = a.groupby(["account_id", "criterion"], sort=True)["score"].last()
    return last.unstack("criterion")


def family_stages(products: pd.DataFrame | None) -> pd.Series:
    """Life-cycle stage of each family: the most common stage among its products."""
    if products is None or "lifecycle_stage" not in products or "family" not in products:
        return pd.Series(dtype="object")
    p = products.dropna(subset=["family", "lifecycle_stage"])
    p = p[p.lifecycle_stage.isin(LIFECYCLE_STAGES)]
    if p.empty:
        return pd.Series(dtype="object")
    counts = p.groupby(["family", "lifecycle_stage"]).size().rename("n").reset_index()
    counts = counts.sort_values(["family", "n", "lifecycle_stage"], ascending=[True, False, True])
    return counts.drop_duplicates("family").set_index("family")["lifecycle_stage"]


def stage_mix(accounts: pd.Index, *, potential: pd.DataFrame | None,
              stages: pd.Series, mode: str, focus_family: str | None) -> pd.DataFrame | None:
    """Each account's share of weight per life-cycle stage (rows sum to 1, or to 0).

    ``whitespace``: the account's whitespace by family, summed per family stage;
    ``focus_family``: that family's stage for every account.  ``None`` when no mix
    applies (stage weights then leave the base weight unchanged).
    """
    if mode == "none" or stages.empty:
        return None
    mix = pd.DataFrame(0.0, index=accounts, columns=list(LIFECYCLE_STAGES))
    if mode == "focus_family":
        if focus_family not in stages.index:
            raise ConfigError(
                f"segments.focus_family = {focus_family!r} is not a family with a life-cycle "
                "stage in the products table",
                hint="use one of: " + ", ".join(map(str, stages.index)))
        mix[stages[focus_family]] = 1.0
        return mix
    if potential is None or "whitespace" not in potential:
        return None
    p = potential[["account_id", "family", "whitespace"]].copy()
    p["stage"] = p["family"].map(stages)
    p = p[p.stage.notna() & (p.whitespace > 0)]
    w = p.pivot_table(index="account_id", columns="stage", values="whitespace",
                      aggfunc="sum", fill_value=0.0)
    w = w.div(w.sum(axis=1), axis=0)
    mix.update(w.reindex(index=mix.index.intersection(w.index)))
    return mix


def _weights(crit: Criterion, mix: pd.DataFrame | None, index: pd.Index) -> pd.Series:
    """The criterion's weight per account after life-cycle stage multipliers."""
    base = pd.Series(crit.weight, index=index, dtype="float64")
    if mix is None or not crit.stage_weights:
        return base
    mult = np.array([crit.stage_weights.get(s, 1.0) for s in mix.columns])
    m = mix.to_numpy()
    total = m.sum(axis=1)
    factor = np.where(total > 0, (m @ mult) / np.where(total > 0, total, 1.0), 1.0)
    return base * factor


def _source(frame: pd.DataFrame, answers: pd.DataFrame, crit: Criterion, i: int,
            notes: list[str]) -> pd.Series:
    """The raw values of a criterion's source per account (null when unknown)."""
    if crit.kind == "assessment":
        if crit.source in answers.columns:
            return answers[crit.source].reindex(frame.index)
        notes.append(f"no assessment answers for {crit.source!r}: criterion {crit.name!r} "
                     "is neutral for every account (flagged)")
        return pd.Series(np.nan, index=frame.index)
    if crit.source in frame.columns:
        return frame[crit.source]
    if crit.kind == "column":
        cols = [c for c in frame.columns if not c.startswith("_")]
        raise ConfigError(
            f"segments.criteria[{i}] ({crit.name!r}): column {crit.source!r} is in neither "
            "accounts nor account_value",
            hint="use one of: " + ", ".join(cols) + " (or kind = 'figure' / 'assessment')")
    notes.append(f"figure {crit.source!r} is not available in this run: criterion "
                 f"{crit.name!r} is neutral for every account (flagged)")
    return pd.Series(np.nan, index=frame.index)


def _flag(crit: Criterion) -> str:
    what = "no assessment" if crit.kind == "assessment" else "no value"
    return f"{crit.name}: {what} ({crit.missing} {_MISSING_SCORE[crit.missing]:g} used)"


def score_criteria(frame: pd.DataFrame, cfg: SegmentsConfig, *,
                   assessments: pd.DataFrame | None = None,
                   mix: pd.DataFrame | None = None) -> CriteriaResult:
    """Score every account on every criterion and combine them per group.

    ``frame`` has one row per account (``account_id`` column) with the account columns
    and one column per available figure (named as in ``FIGURES``); a figure that is
    absent makes its criteria neutral for everyone, flagged.  ``assessments`` is the
    wide frame of :func:`latest_assessments`; ``mix`` the frame of :func:`stage_mix`.
    Returns ``criteria_scores``: account_id, need, value_score, behaviour, flags (plain
    words, ``;``-separated, empty when none), n_missing, and one ``c_<name>`` per criterion.
    """
    f = frame.set_index("account_id", drop=False)
    answers = assessments if assessments is not None else pd.DataFrame()
    notes: list[str] = []
    index = f.index
    if mix is not None:
        mix = mix.reindex(index).fillna(0.0)
    out = pd.DataFrame({"account_id": f["account_id"].to_numpy()}, index=index)
    num = {g: pd.Series(0.0, index=index) for g in GROUPS}
    den = {g: pd.Series(0.0, index=index) for g in GROUPS}
    flags: list[pd.Series] = []
    missing = pd.DataFrame(index=index)
    for i, crit in enumerate(cfg.criteria):
        raw = _source(f, answers, crit, i, notes)
        s = scale_values(raw, crit)
        miss = s.isna()
        missing[crit.name] = miss
        s = s.fillna(_MISSING_SCORE[crit.missing])
        out[f"c_{crit.name}"] = s.to_numpy()
        w = _weights(crit, mix, index)
        num[crit.group] += w * s
        den[crit.group] += w
        flags.append(pd.Series(np.where(miss, _flag(crit), ""), index=index))
    for g, col in GROUPS.items():
        if not any(c.group == g for c in cfg.criteria):
            notes.append(f"no {g} criterion is configured: every account's {g} score is "
                         f"neutral {NEUTRAL}")
        out[col] = np.where(den[g] > 0, num[g] / den[g].where(den[g] > 0, 1.0), NEUTRAL)
    if flags:
        fl = pd.concat(flags, axis=1)
        out["n_missing"] = (fl != "").sum(axis=1).astype("int64").to_numpy()
        out["flags"] = ["; ".join(x for x in row if x) for row in fl.itertuples(index=False)]
    else:
        out["n_missing"] = 0
        out["flags"] = ""
    cols = ["account_id", "need", "value_score", "behaviour", "flags", "n_missing"]
    out = out[cols + [c for c in out.columns if c.startswith("c_")]]
    return CriteriaResult(out.reset_index(drop=True), notes, missing)
