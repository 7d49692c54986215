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
import pyarrow as pa
import pyarrow.compute as pc

from growthmap.config._segments import Criterion, SegmentsConfig
from growthmap.contract.inputs import LIFECYCLE_STAGES
from growthmap.errors import ConfigError

__all__ = [
    "GROUPS",
    "NEUTRAL",
    "Columns",
    "CriteriaResult",
    "column_names",
    "family_stages",
    "floats",
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
    v_all = x.to_numpy()
    ok = ~np.isnan(v_all)
    s = np.full(len(v_all), np.nan)
    if ok.any():  # numpy on positions: a boolean Series assignment would align indexes
        v = v_all[ok]
        if crit.scale == "percentile":
            n = len(v)
            s[ok] = ((pd.Series(v).rank(method="average") - 1) / (n - 1)).to_numpy() \
                if n > 1 else NEUTRAL
        elif crit.scale == "minmax":
            lo, hi = v.min(), v.max()
            s[ok] = (v - lo) / (hi - lo) if hi > lo else NEUTRAL
        else:
            lo, hi = crit.effective_range  # type: ignore[misc]
            s[ok] = np.clip((v - lo) / (hi - lo), 0.0, 1.0)
    if crit.direction == "lower":
        s = 1.0 - s
    return pd.Series(s, index=x.index)


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
    # the last answer per (account, criterion), as groupby(...).last().unstack() gives, by
    # integer codes and one dense table (a grouping of string pairs was most of the cost)
    acc, accounts = pd.factorize(a["account_id"], sort=True)
    crit, criteria = pd.factorize(a["criterion"], sort=True)
    ok = (acc >= 0) & (crit >= 0)
    key = pd.Series(acc * len(criteria) + crit)
    last = ok & ~key.duplicated(keep="last").to_numpy()
    table = np.full((len(accounts), len(criteria)), np.nan)
    table[acc[last], crit[last]] = a["score"].to_numpy(dtype="float64")[last]
    keep = np.zeros(len(accounts), dtype=bool)
    keep[acc[ok]] = True
    return pd.DataFrame(table[keep], index=pd.Index(accounts[keep], name="account_id"),
                        columns=pd.Index(criteria, name="criterion"))


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


def stage_mix(accounts: pd.Index, *, potential: Columns | None,
              stages: pd.Series, mode: str, focus_family: str | None,
              rows: np.ndarray | None = None) -> pd.DataFrame | None:
    """Each account's share of weight per life-cycle stage (rows sum to 1, or to 0).

    ``whitespace``: the account's whitespace by family, summed per family stage;
    ``focus_family``: that family's stage for every account.  ``None`` when no mix
    applies (stage weights then leave the base weight unchanged).  ``rows`` (optional)
    gives each potential row's account as a position in ``accounts`` (-1: not there).
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
    if potential is None or "whitespace" not in column_names(potential):
        return None
    # Accounts and stages are coded as integers by Arrow lookups and the whitespace is
    # summed per (account, stage) by pandas' grouped sum, as the pivot table did: the
    # same sums at a fraction of the cost on a six-million-row potential table.
    names = sorted({str(s) for s in stages.to_numpy()})
    fam_stage = np.array([names.index(str(s)) for s in stages.to_numpy()], dtype="int64")
    fam = _positions(potential["family"], pd.Series(stages.index))
    st = np.where(fam >= 0, fam_stage[np.maximum(fam, 0)], -1)
    acc = rows if rows is not None else _positions(potential["account_id"],
                                                   pd.Series(accounts))
    ws = floats(potential, "whitespace")
    ok = (acc >= 0) & (st >= 0) & (ws > 0)
    w = np.zeros((len(accounts), len(names)))
    for j in range(len(names)):  # one stage at a time: account keys stay in their order
        m = ok & (st == j)
        sums = pd.Series(ws[m]).groupby(acc[m]).sum()
        w[sums.index.to_numpy(), j] = sums.to_numpy()
    total = w[:, 0].copy()
    for j in range(1, len(names)):  # left to right, as a row sum over the stage columns
        total += w[:, j]
    has = np.zeros(len(accounts), dtype=bool)
    has[acc[ok]] = True
    for j, name in enumerate(names):
        if name in mix.columns:
            col = mix[name].to_numpy(copy=True)
            col[has] = w[has, j] / total[has]
            mix.loc[:, name] = col  # in place: one block, as the matrix product expects
    return mix


Columns = pd.DataFrame | pa.Table
"""A table the stage reads by column: Arrow as an earlier stage published it (not
converted to pandas: six million potential rows with their text columns cost seconds
to convert, and each lookup converted them back) or a pandas frame (tests, callers)."""


def column_names(t: Columns) -> list[str]:
    return list(t.column_names if isinstance(t, pa.Table) else t.columns)


def floats(t: Columns, name: str) -> np.ndarray:
    """A column as float64 numpy, NaN for nulls, from Arrow or pandas."""
    col = t[name]
    if isinstance(col, pa.ChunkedArray):
        return col.cast(pa.float64()).to_numpy()
    return col.to_numpy(dtype="float64", na_value=np.nan)


def _arrow(s: pd.Series | pa.ChunkedArray | pa.Array) -> pa.Array:
    """Values as one Arrow large_string array (the type both sides of a lookup share)."""
    a = s if isinstance(s, pa.ChunkedArray | pa.Array) else pa.array(s.astype("string"))
    a = a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
    return a if a.type == pa.large_string() else a.cast(pa.large_string())


def _positions(values: pd.Series | pa.ChunkedArray, universe: pd.Series) -> np.ndarray:
    """Position of each value in ``universe`` (its first occurrence; -1 when absent),
    by one Arrow hash lookup."""
    pos = pc.index_in(_arrow(values), value_set=_arrow(universe))
    return pos.fill_null(-1).to_numpy().astype("int64")


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


def _source(frame: pd.DataFrame, answers: pd.DataFrame, answer_pos: np.ndarray,
            crit: Criterion, i: int, notes: list[str]) -> pd.Series:
    """The raw values of a criterion's source per account (null when unknown).

    ``answer_pos`` is each account's row in ``answers`` (-1 when it has none).
    """
    if crit.kind == "assessment":
        if crit.source in answers.columns:
            vals = answers[crit.source].to_numpy()
            got = pd.Series(vals[np.maximum(answer_pos, 0)] if len(vals) else
                            np.full(len(frame), np.nan), index=frame.index)
            return got.where(answer_pos >= 0)
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


def _flag_words(missing: np.ndarray, flags: list[str]) -> np.ndarray:
    """Per account, the flags of its missing criteria joined by ``; `` (criteria order).

    Accounts share a few patterns of missing criteria, so each pattern (a bit mask) is
    worded once and spread back, instead of joining strings for every account.
    """
    if missing.shape[1] > 62:
        return np.array(["; ".join(f for f, m in zip(flags, row, strict=True) if m)
                         for row in missing], dtype=object)
    bits = missing @ (1 << np.arange(missing.shape[1], dtype="int64"))
    masks, codes = np.unique(bits, return_inverse=True)
    words = ["; ".join(f for j, f in enumerate(flags) if int(m) >> j & 1) for m in masks]
    return np.array(words, dtype=object)[codes]


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
    # Positions, not account ids, index every intermediate series: aligning a million
    # string labels on each assignment cost more than the scoring itself.
    f = frame.reset_index(drop=True)
    ids = f["account_id"]
    answers = assessments if assessments is not None else pd.DataFrame()
    answer_pos = _positions(ids, pd.Series(answers.index)) if len(answers.columns) else \
        np.full(len(f), -1)
    notes: list[str] = []
    if mix is not None:
        if not _arrow(pd.Series(mix.index)).equals(_arrow(ids)):
            mix = mix.reindex(pd.Index(ids))
        mix = mix.fillna(0.0).set_axis(f.index)
    out = pd.DataFrame({"account_id": ids})
    num = {g: pd.Series(0.0, index=f.index) for g in GROUPS}
    den = {g: pd.Series(0.0, index=f.index) for g in GROUPS}
    flags: list[str] = []
    miss_cols: list[np.ndarray] = []
    missing: dict[str, np.ndarray] = {}
    for i, crit in enumerate(cfg.criteria):
        raw = _source(f, answers, answer_pos, crit, i, notes)
        s = scale_values(raw, crit)
        miss = s.isna().to_numpy()
        missing[crit.name] = miss
        s = s.fillna(_MISSING_SCORE[crit.missing])
        out[f"c_{crit.name}"] = s.to_numpy()
        w = _weights(crit, mix, f.index)
        num[crit.group] += w * s
        den[crit.group] += w
        flags.append(_flag(crit))
        miss_cols.append(miss)
    for g, col in GROUPS.items():
        if not any(c.group == g for c in cfg.criteria):
            notes.append(f"no {g} criterion is configured: every account's {g} score is "
                         f"neutral {NEUTRAL}")
        out[col] = np.where(den[g] > 0, num[g] / den[g].where(den[g] > 0, 1.0), NEUTRAL)
    if flags:
        miss_all = np.column_stack(miss_cols)
        out["n_missing"] = miss_all.sum(axis=1).astype("int64")
        out["flags"] = _flag_words(miss_all, flags)
    else:
        out["n_missing"] = 0
        out["flags"] = ""
    cols = ["account_id", "need", "value_score", "behaviour", "flags", "n_missing"]
    out = out[cols + [c for c in out.columns if c.startswith("c_")]]
    missing_df = pd.DataFrame(missing, index=pd.Index(ids, name="account_id"))
    return CriteriaResult(out, notes, missing_df)
