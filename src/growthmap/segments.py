"""The ``segments`` stage: tiers 1a/1b/2/3, risk/readiness, care model, next best offer.

One row per account brings together what the earlier stages decided (value tier,
potential band, matrix cell, ROAD, PtB, risk) and what this stage adds:

* **tier** — accounts ranked by *priority* (value and need together); the top
  ``tier1_share`` are Tier 1, split into 1a (behaviour above the threshold: easy to
  work with) and 1b (needs work); the rest of the top ``tier2_share`` and any account
  matching a ``tier2_rules`` condition are Tier 2; everyone else Tier 3;
* **risk_readiness** — the 2x2 of risk (the ``risk`` output) and readiness (PtB);
* **care model** — the first ``care_models`` rule whose ``when`` matches, else the default;
* **next best offer** — the family with the largest whitespace x PtB;
* **reasons** — the above in plain words, ``;``-separated.

Every input from another stage is optional: when one is absent its fields are null
(or neutral for scores), the run notes it, and nothing crashes.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd

from growthmap.config._segments import Between, CareModel, SegmentsConfig, When
from growthmap.criteria import (
    CriteriaResult,
    family_stages,
    latest_assessments,
    score_criteria,
    stage_mix,
)
from growthmap.errors import ConfigError
from growthmap.pipeline import RunContext, register_stage

__all__ = [
    "QUADRANTS",
    "SEGMENT_COLUMNS",
    "TIER_ORDER",
    "assign_care",
    "assign_tiers",
    "build_segments",
    "gather_figures",
    "match_rule",
    "next_best_offer",
    "risk_readiness",
]

TIER_ORDER = ("1a", "1b", "2", "3")
#: (at risk?, ready?) -> quadrant name.
QUADRANTS = {(False, True): "Grow", (True, True): "Defend",
             (False, False): "Nurture", (True, False): "Rescue"}
QUADRANT_WORDS = {"Grow": "ready to buy and low risk", "Defend": "ready to buy but at risk",
                  "Nurture": "not ready yet, low risk", "Rescue": "not ready and at risk"}
ROAD_WORDS = {"Retain": "high value now, little headroom",
              "Develop": "high value now, much headroom",
              "Acquire": "low value now, much headroom",
              "Opportunistic": "low value now, little headroom"}
ROLE_WORDS = {"account_director": "account director", "key_account_manager": "key account manager",
              "field_rep": "field rep", "inside_sales": "inside sales",
              "digital": "digital / self-service"}

#: Columns of the ``segments`` output, in order (the agreed ones first).
SEGMENT_COLUMNS = [
    "account_id", "owner_rep_id", "territory_id", "status", "value_tier", "potential_band",
    "matrix_cell", "road", "tier", "risk_readiness", "care_model", "coverage_role",
    "touches_per_year", "hours_per_touch", "next_best_offer", "nbo_score", "reasons",
    "name", "value_band", "value", "potential", "whitespace", "priority", "priority_rank",
    "need", "value_score", "behaviour", "ptb", "risk", "care_rule",
]
_TEXT = ["owner_rep_id", "territory_id", "status", "value_tier", "potential_band",
         "matrix_cell", "road", "tier", "risk_readiness", "care_model", "coverage_role",
         "next_best_offer", "reasons", "name", "value_band"]
# Fields a rule may name even when the stage that makes them did not run (they are null).
_FROM_OTHERS = {"potential_account": ["value_band", "potential_band", "matrix_cell", "road",
                                      "potential", "whitespace", "share_of_wallet",
                                      "low_confidence"],
                "propensity": ["ptb", "ptb_decile"], "icp": ["icp_fit", "is_best"],
                "risk": ["risk"]}


# -- inputs ------------------------------------------------------------------------
def _maybe(ctx: RunContext, name: str, cols: list[str]) -> pd.DataFrame | None:
    """An earlier output restricted to the columns it has, or ``None`` (with a note)."""
    if not ctx.has(name):
        return None
    df = ctx.frame(name)
    if "account_id" not in df:
        ctx.note(f"output {name!r} has no account_id column: segments ignore it")
        return None
    return df[["account_id", *[c for c in cols if c in df.columns]]]


def gather_figures(ctx: RunContext) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One row per account: account columns, figures and others' segment fields.

    Returns the frame and the per-family ``potential`` output (or ``None``).
    """
    av = ctx.frame("account_value")
    acc = ctx.input("accounts")
    if acc is not None:
        extra = [c for c in acc.columns if c not in av.columns]
        if extra:
            a = ctx.source.backend.to_pandas(acc.select("account_id", *extra))
            av = av.merge(a.drop_duplicates("account_id"), on="account_id", how="left")
    frame = av.assign(current=av["value"])
    for out, cols in _FROM_OTHERS.items():
        df = _maybe(ctx, out, cols)
        if df is None:
            ctx.note(f"no {out!r} output in this run: segments use neutral values for "
                     f"{', '.join(cols)}")
        else:
            frame = frame.drop(columns=[c for c in df.columns if c != "account_id"
                                        and c in frame.columns])
            frame = frame.merge(df.drop_duplicates("account_id"), on="account_id", how="left")
        for c in cols:
            if c not in frame:
                frame[c] = np.nan
    potential = _maybe(ctx, "potential", ["family", "whitespace", "whitespace_open"])
    if potential is not None and "whitespace_open" in potential:
        frame = frame.merge(potential.groupby("account_id", as_index=False)["whitespace_open"]
                            .sum(), on="account_id", how="left")
    bc = _buying_centre(ctx)
    if bc is not None:
        frame = frame.merge(bc, on="account_id", how="left")
    return frame, potential


def _buying_centre(ctx: RunContext) -> pd.DataFrame | None:
    """Buying-centre coverage (0-1) per account: the models stage's, else from contacts.

    Accounts without contacts get a null coverage (scored neutral and flagged).
    """
    if ctx.has("buying_centre"):
        df = ctx.frame("buying_centre")
        col = next((c for c in ("buying_centre_coverage", "coverage") if c in df.columns), None)
        if col is not None and "account_id" in df:
            return df[["account_id", col]].rename(columns={col: "buying_centre"}) \
                .drop_duplicates("account_id")
    contacts = ctx.input("contacts")
    if contacts is None:
        return None
    from growthmap.buying_centre import buying_centre

    sc = ctx.config.scores
    bc = buying_centre(ctx.require("accounts", "buying-centre coverage"), contacts, ctx.as_of,
                       weights=getattr(sc, "buying_role_weights", None),
                       engagement_months=getattr(sc, "engagement_months", 12))
    df = ctx.source.backend.to_pandas(bc.select("account_id", "buying_centre_coverage"))
    return df.rename(columns={"buying_centre_coverage": "buying_centre"})


# -- tiers ---------------------------------------------------------------------------
def _top(share: float, n: int) -> int:
    return min(n, math.ceil(share * n - 1e-9)) if n else 0


def assign_tiers(frame: pd.DataFrame, cfg: SegmentsConfig) -> pd.DataFrame:
    """Tier per account from need, value_score, behaviour (and tier2_rules fields).

    Priority = mean (or min) of value and need; ranked descending, ties by account_id.
    Returns account_id, priority, priority_rank (null outside the ranked universe),
    ranked (size of the universe), tier, tier_rule (index of the tier2 rule that
    matched, else null).
    """
    f = frame.reset_index(drop=True)
    pair = f[["value_score", "need"]].astype("float64")
    priority = pair.mean(axis=1) if cfg.tier_combine == "mean" else pair.min(axis=1)
    ranked = (f["status"] == "customer") if cfg.tier_universe == "customers" \
        else pd.Series(True, index=f.index)
    order = pd.DataFrame({"p": priority, "id": f["account_id"]})[ranked]
    order = order.sort_values(["p", "id"], ascending=[False, True], kind="mergesort")
    rank = pd.Series(pd.NA, index=f.index, dtype="Int64")
    rank[order.index] = np.arange(1, len(order) + 1)
    n = len(order)
    n1, n2 = _top(cfg.tier1_share, n), _top(cfg.tier2_share, n)
    tier1 = rank.le(n1).fillna(False).astype(bool)
    in_top2 = rank.le(n2).fillna(False).astype(bool)
    rule = pd.Series(pd.NA, index=f.index, dtype="Int64")
    for i, when in reversed(list(enumerate(cfg.tier2_rules))):
        rule[match_rule(f, when, f"segments.tier2_rules[{i}]")] = i
    behaviour_ok = f["behaviour"].astype("float64") > cfg.behaviour_threshold
    tier = np.select([tier1 & behaviour_ok, tier1, in_top2 | rule.notna()],
                     ["1a", "1b", "2"], default="3")
    return pd.DataFrame({"account_id": f["account_id"], "priority": priority.to_numpy(),
                         "priority_rank": rank, "ranked": n, "tier": tier,
                         "tier_rule": rule.where(pd.Series(tier == "2")).astype("Int64")})


def _threshold(values: pd.Series, setting: float | str) -> float | None:
    if setting != "median":
        return float(setting)
    v = values.dropna()
    return float(v.median()) if len(v) else None


def risk_readiness(frame: pd.DataFrame, cfg: SegmentsConfig) -> tuple[pd.Series, float | None,
                                                                       float | None]:
    """The quadrant per account and the thresholds used (``None`` when no data).

    Unknown risk (prospects, or no risk model) counts as not at risk; unknown
    readiness as not ready: a quadrant claims only what the data shows.
    """
    risk = frame["risk"].astype("float64")
    ptb = frame["ptb"].astype("float64")
    cust = frame["status"] == "customer"
    r_t = _threshold(risk[cust], cfg.risk_threshold)
    p_t = _threshold(ptb, cfg.readiness_threshold)
    at_risk = (cust & (risk >= r_t)).fillna(False).astype(bool) if r_t is not None else \
        pd.Series(False, index=frame.index)
    ready = (ptb >= p_t).fillna(False).astype(bool) if p_t is not None else \
        pd.Series(False, index=frame.index)
    quad = [QUADRANTS[(bool(a), bool(b))] for a, b in zip(at_risk, ready, strict=True)]
    return pd.Series(quad, index=frame.index, dtype="string"), r_t, p_t


# -- rules ---------------------------------------------------------------------------
def _condition(col: pd.Series, cond: object) -> pd.Series:
    if isinstance(cond, Between):
        x = pd.to_numeric(col, errors="coerce")
        ok = x.notna()
        if cond.min is not None:
            ok &= x >= cond.min
        if cond.max is not None:
            ok &= x <= cond.max
        return ok.fillna(False).astype(bool)
    values = cond if isinstance(cond, list) else [cond]
    hit = pd.Series(False, index=col.index)
    numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    for v in values:
        if isinstance(v, bool):
            hit |= col.astype("boolean").eq(v).fillna(False).astype(bool)
        elif isinstance(v, int | float) and numeric:
            hit |= col.astype("float64").eq(float(v)).fillna(False).astype(bool)
        else:
            hit |= col.astype("string").eq(str(v)).fillna(False).astype(bool)
    return hit


def match_rule(frame: pd.DataFrame, when: When, where: str) -> pd.Series:
    """Accounts for which every condition of ``when`` holds; an unknown field is an error."""
    ok = pd.Series(True, index=frame.index)
    for key, cond in when.items():
        if key not in frame.columns:
            fields = sorted(c for c in frame.columns if not c.startswith(("_", "c_")))
            raise ConfigError(f"{where}.when names {key!r}, which is not a segment field or "
                              "account column", hint="use one of: " + ", ".join(fields))
        ok &= _condition(frame[key], cond)
    return ok


def assign_care(frame: pd.DataFrame, rules: list, default: CareModel) -> pd.DataFrame:
    """care_model, coverage_role, touches_per_year, hours_per_touch, care_rule per account.

    The first matching rule wins; ``care_rule`` is its index (null for the default).
    """
    n = len(frame)
    chosen = np.full(n, -1)
    for i, r in enumerate(rules):
        m = match_rule(frame, r.when, f"segments.care_models[{i}]").to_numpy()
        chosen = np.where((chosen < 0) & m, i, chosen)
    models = [*rules, default]
    pick = [models[i] for i in chosen]  # -1 picks the default (last)
    return pd.DataFrame({
        "care_model": pd.array([m.care_model for m in pick], dtype="string"),
        "coverage_role": pd.array([m.role for m in pick], dtype="string"),
        "touches_per_year": np.array([m.touches_per_year for m in pick], dtype="float64"),
        "hours_per_touch": np.array([m.hours_per_touch for m in pick], dtype="float64"),
        "care_rule": pd.array([i if i >= 0 else pd.NA for i in chosen], dtype="Int64"),
    }, index=frame.index)


# -- next best offer -------------------------------------------------------------------
def next_best_offer(potential: pd.DataFrame | None, family_ptb: pd.DataFrame | None,
                    account_ptb: pd.Series, min_whitespace: float = 0.0) -> pd.DataFrame:
    """Per account the family with the largest whitespace x PtB (ties: family name).

    PtB per family from ``propensity_family`` when present, else the account's PtB,
    else neutral 0.5 (the offer is then simply the largest whitespace).  Returns
    account_id, next_best_offer, nbo_score, nbo_whitespace, nbo_ptb.
    """
    cols = ["account_id", "next_best_offer", "nbo_score", "nbo_whitespace", "nbo_ptb"]
    if potential is None or not {"family", "whitespace"} <= set(potential.columns):
        return pd.DataFrame(columns=cols)
    p = potential[["account_id", "family", "whitespace"]]
    p = p[p["whitespace"].astype("float64") > min_whitespace].copy()
    if family_ptb is not None and {"family", "ptb"} <= set(family_ptb.columns):
        fp = family_ptb[["account_id", "family", "ptb"]].drop_duplicates(["account_id", "family"])
        p = p.merge(fp, on=["account_id", "family"], how="left")
    else:
        p["ptb"] = np.nan
    p["ptb"] = p["ptb"].astype("float64").fillna(p["account_id"].map(account_ptb)) \
        .fillna(0.5)
    p["nbo_score"] = p["whitespace"].astype("float64") * p["ptb"]
    p = p.sort_values(["account_id", "nbo_score", "family"], ascending=[True, False, True],
                      kind="mergesort").drop_duplicates("account_id")
    return p.rename(columns={"family": "next_best_offer", "whitespace": "nbo_whitespace",
                             "ptb": "nbo_ptb"})[cols]


# -- reasons ---------------------------------------------------------------------------
def _pct(share: float) -> str:
    return f"{share:.0%}"


def _tier_reason(r: SimpleNamespace, cfg: SegmentsConfig, missing_behaviour: str) -> str:
    scores = f"value {r.value_score:.2f}, need {r.need:.2f}"
    if pd.isna(r.priority_rank):
        where = "prospects are not ranked (tier_universe = customers)"
    else:
        where = f"rank {int(r.priority_rank)} of {int(r.ranked)}"
    if r.tier in ("1a", "1b"):
        head = f"Tier {r.tier}: top {_pct(cfg.tier1_share)} on value and need ({scores}, {where})"
        if r.tier == "1a":
            return f"{head} and behaviour {r.behaviour:.2f} above {cfg.behaviour_threshold:g}"
        gap = f" ({missing_behaviour})" if missing_behaviour else ""
        return (f"{head}, but behaviour {r.behaviour:.2f} not above "
                f"{cfg.behaviour_threshold:g}{gap}")
    if r.tier == "2":
        if not pd.isna(r.priority_rank) and r.priority_rank <= _top(cfg.tier2_share, r.ranked):
            return f"Tier 2: within the top {_pct(cfg.tier2_share)} on value and need " \
                   f"({scores}, {where})"
        rule = cfg.tier2_rules[int(r.tier_rule)]
        cond = ", ".join(f"{k} {_cond_words(v)}" for k, v in rule.items())
        return f"Tier 2 by rule: {cond} ({scores}, {where})"
    return f"Tier 3: outside the top {_pct(cfg.tier2_share)} on value and need " \
           f"({scores}, {where})"


def _cond_words(v: object) -> str:
    if isinstance(v, Between):
        parts = [f"at least {v.min:g}" if v.min is not None else "",
                 f"at most {v.max:g}" if v.max is not None else ""]
        return " and ".join(p for p in parts if p)
    if isinstance(v, list):
        return "is one of " + ", ".join(map(str, v))
    return f"is {v}"


def _money(x: float) -> str:
    return f"{x:,.0f}"


def _reasons(seg: pd.DataFrame, cfg: SegmentsConfig, crit: CriteriaResult,
             r_t: float | None, p_t: float | None) -> list[str]:
    beh = [c.name for c in cfg.criteria if c.group == "behaviour"]
    miss = crit.missing.reindex(columns=beh, fill_value=False)
    names = np.array(beh, dtype=object)
    miss_words = {a: ", ".join(names[row]) for a, row in
                  zip(miss.index, miss.to_numpy(dtype=bool), strict=True)}
    cols = ["account_id", "tier", "value_score", "need", "behaviour", "priority_rank", "ranked",
            "tier_rule", "road", "risk", "ptb", "risk_readiness", "care_rule", "care_model",
            "coverage_role", "touches_per_year", "hours_per_touch", "next_best_offer",
            "nbo_whitespace", "nbo_ptb"]
    out = []
    for rec in seg[cols].to_dict("records"):
        r = SimpleNamespace(**rec)
        m = miss_words.get(r.account_id, "")
        words = [_tier_reason(r, cfg, f"no data for {m}: neutral used" if m else "")]
        if isinstance(r.road, str):
            words.append(f"{r.road}: {ROAD_WORDS.get(r.road, r.road)}")
        risk = "risk unknown" if pd.isna(r.risk) or r_t is None else \
            f"risk {r.risk:.2f} {'at or above' if r.risk >= r_t else 'below'} {r_t:.2f}"
        ready = "readiness unknown" if pd.isna(r.ptb) or p_t is None else \
            f"readiness (PtB) {r.ptb:.2f} {'at or above' if r.ptb >= p_t else 'below'} {p_t:.2f}"
        words.append(f"{r.risk_readiness}: {QUADRANT_WORDS[r.risk_readiness]} ({ready}, {risk})")
        rule = "default" if pd.isna(r.care_rule) else f"rule {int(r.care_rule) + 1}"
        role = ROLE_WORDS.get(r.coverage_role, r.coverage_role)
        by = "" if role == r.care_model else f" by {role}"
        words.append(f"Care: {r.care_model}{by}, {r.touches_per_year:g} touches a year x "
                     f"{r.hours_per_touch:g} h ({rule})")
        if isinstance(r.next_best_offer, str):
            words.append(f"Next best offer: {r.next_best_offer} (whitespace "
                         f"{_money(r.nbo_whitespace)} x PtB {r.nbo_ptb:.2f})")
        out.append("; ".join(words))
    return out


# -- the stage -----------------------------------------------------------------------
def build_segments(frame: pd.DataFrame, crit: CriteriaResult, cfg: SegmentsConfig, *,
                   potential: pd.DataFrame | None = None,
                   family_ptb: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``segments`` table from the gathered frame and the criteria scores."""
    f = frame.merge(crit.scores[["account_id", "need", "value_score", "behaviour"]],
                    on="account_id", how="left").reset_index(drop=True)
    tiers = assign_tiers(f, cfg)
    f = f.assign(**{c: tiers[c].to_numpy() for c in tiers.columns if c != "account_id"})
    quad, r_t, p_t = risk_readiness(f, cfg)
    f["risk_readiness"] = quad.to_numpy()
    care = assign_care(f, cfg.care_models, cfg.care_default)
    f = pd.concat([f, care], axis=1)
    nbo = next_best_offer(potential, family_ptb,
                          f.set_index("account_id")["ptb"].astype("float64"),
                          cfg.nbo_min_whitespace)
    f = f.merge(nbo, on="account_id", how="left")
    f["reasons"] = _reasons(f, cfg, crit, r_t, p_t)
    for c in SEGMENT_COLUMNS:
        if c not in f:
            f[c] = np.nan
    out = f[SEGMENT_COLUMNS].copy()
    for c in _TEXT:
        out[c] = out[c].astype("string")
    for c in ("value", "potential", "whitespace", "priority", "need", "value_score",
              "behaviour", "ptb", "risk", "nbo_score", "touches_per_year", "hours_per_touch"):
        out[c] = pd.to_numeric(out[c], errors="coerce").astype("float64")
    out["priority_rank"] = out["priority_rank"].astype("Int64")
    out["care_rule"] = out["care_rule"].astype("Int64")
    return out.sort_values("account_id").reset_index(drop=True)


@register_stage("segments")
def stage(ctx: RunContext) -> None:
    """Need/value/behaviour scores, tiers, risk/readiness, care models, next best offer."""
    cfg = ctx.config.segments
    frame, potential = gather_figures(ctx)
    products = ctx.input("products")
    prod = ctx.source.backend.to_pandas(products) if products is not None else None
    stages = family_stages(prod)
    if cfg.lifecycle_mix != "none" and stages.empty:
        ctx.note("no life-cycle stages in the products table: criterion stage weights are "
                 "not applied")
    mix = stage_mix(pd.Index(frame["account_id"]), potential=potential, stages=stages,
                    mode=cfg.lifecycle_mix, focus_family=cfg.focus_family)
    a = ctx.input("assessments")
    answers = latest_assessments(ctx.source.backend.to_pandas(a) if a is not None else None,
                                 ctx.as_of)
    crit = score_criteria(frame, cfg, assessments=answers, mix=mix)
    for n in crit.notes:
        ctx.note(n)
    ctx.put("criteria_scores", crit.scores)
    fam_ptb = _maybe(ctx, "propensity_family", ["family", "ptb"])
    seg = build_segments(frame, crit, cfg, potential=potential, family_ptb=fam_ptb)
    if potential is None:
        ctx.note("no 'potential' output in this run: no next best offer")
    ctx.put("segments", seg)
