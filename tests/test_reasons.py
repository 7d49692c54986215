"""The column-wise reasons text is exactly what row-by-row f-strings give.

The reference below is the straightforward per-row formatting the segments stage used
to run; random frames cover every tier path, missing data, thresholds and offers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from growthmap.config import Config
from growthmap.config._segments import SegmentsConfig
from growthmap.segments.reasons import (
    QUADRANT_WORDS,
    ROAD_WORDS,
    ROLE_WORDS,
    cond_words,
    fmt_2f,
    fmt_money,
    segment_reasons,
)


def _top(share: float, n: int) -> int:
    return min(n, math.ceil(share * n - 1e-9)) if n else 0


def _reference(r: dict, cfg: SegmentsConfig, missing: str, r_t: float | None,
               p_t: float | None) -> str:
    scores = f"value {r['value_score']:.2f}, need {r['need']:.2f}"
    where = ("prospects are not ranked (tier_universe = customers)"
             if pd.isna(r["priority_rank"]) else
             f"rank {int(r['priority_rank'])} of {int(r['ranked'])}")
    pct1, pct2 = f"{cfg.tier1_share:.0%}", f"{cfg.tier2_share:.0%}"
    thr = f"{cfg.behaviour_threshold:g}"
    if r["tier"] in ("1a", "1b"):
        head = f"Tier {r['tier']}: top {pct1} on value and need ({scores}, {where})"
        if r["tier"] == "1a":
            tier = f"{head} and behaviour {r['behaviour']:.2f} above {thr}"
        else:
            gap = f" (no data for {missing}: neutral used)" if missing else ""
            tier = f"{head}, but behaviour {r['behaviour']:.2f} not above {thr}{gap}"
    elif r["tier"] == "2":
        if not pd.isna(r["priority_rank"]) and \
                r["priority_rank"] <= _top(cfg.tier2_share, r["ranked"]):
            tier = f"Tier 2: within the top {pct2} on value and need ({scores}, {where})"
        else:
            rule = cfg.tier2_rules[int(r["tier_rule"])]
            cond = ", ".join(f"{k} {cond_words(v)}" for k, v in rule.items())
            tier = f"Tier 2 by rule: {cond} ({scores}, {where})"
    else:
        tier = f"Tier 3: outside the top {pct2} on value and need ({scores}, {where})"
    words = [tier]
    if isinstance(r["road"], str):
        words.append(f"{r['road']}: {ROAD_WORDS.get(r['road'], r['road'])}")
    risk = "risk unknown" if pd.isna(r["risk"]) or r_t is None else \
        f"risk {r['risk']:.2f} {'at or above' if r['risk'] >= r_t else 'below'} {r_t:.2f}"
    ready = "readiness unknown" if pd.isna(r["ptb"]) or p_t is None else \
        f"readiness (PtB) {r['ptb']:.2f} {'at or above' if r['ptb'] >= p_t else 'below'} " \
        f"{p_t:.2f}"
    q = r["risk_readiness"]
    words.append(f"{q}: {QUADRANT_WORDS[q]} ({ready}, {risk})")
    rule = "default" if pd.isna(r["care_rule"]) else f"rule {int(r['care_rule']) + 1}"
    role = ROLE_WORDS.get(r["coverage_role"], r["coverage_role"])
    by = "" if role == r["care_model"] else f" by {role}"
    words.append(f"Care: {r['care_model']}{by}, {r['touches_per_year']:g} touches a year x "
                 f"{r['hours_per_touch']:g} h ({rule})")
    if isinstance(r["next_best_offer"], str):
        words.append(f"Next best offer: {r['next_best_offer']} (whitespace "
                     f"{r['nbo_whitespace']:,.0f} x PtB {r['nbo_ptb']:.2f})")
    return "; ".join(words)


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ranked = rng.random(n) < 0.8
    rank = pd.array(np.where(ranked, rng.integers(1, n + 1, n), 0), dtype="Int64")
    rank[~ranked] = pd.NA
    tier = rng.choice(["1a", "1b", "2", "3"], n)
    rule = pd.array(rng.integers(0, 2, n), dtype="Int64")
    rule[tier != "2"] = pd.NA
    offer = pd.array(rng.choice(["Cloud", "IoT", None], n), dtype="string")
    care = rng.integers(-1, 2, n)
    return pd.DataFrame({
        "tier": tier, "value_score": rng.choice([0.0, 1.0, 0.125, 0.005, 0.994999],
                                                n) * rng.random(n),
        "need": rng.random(n), "behaviour": rng.random(n), "priority_rank": rank,
        "ranked": n, "tier_rule": rule,
        "road": pd.array(rng.choice(["Retain", "Develop", None, "Odd"], n), dtype="string"),
        "risk": np.where(rng.random(n) < 0.3, np.nan, rng.random(n)),
        "ptb": np.where(rng.random(n) < 0.2, np.nan, rng.random(n) * 1.2 - 0.1),
        "risk_readiness": rng.choice(list(QUADRANT_WORDS), n),
        "care_rule": pd.Series(care, dtype="Int64").where(pd.Series(care >= 0)),
        "care_model": np.where(care < 0, "digital / self-service", "key"),
        "coverage_role": np.where(care < 0, "digital", "key_account_manager"),
        "touches_per_year": np.where(care < 0, 4.0, 12.5),
        "hours_per_touch": np.where(care < 0, 0.25, 2.0),
        "next_best_offer": offer,
        "nbo_whitespace": rng.lognormal(8, 3, n) * rng.choice([1, -1], n),
        "nbo_ptb": rng.random(n),
    })


@pytest.mark.parametrize("seed, thresholds", [(1, (0.5, 0.4)), (2, (None, 0.3)),
                                              (3, (0.7, None))])
def test_reasons_equal_row_by_row_formatting(seed, thresholds):
    cfg = Config.from_dict({"segments": {
        "tier2_rules": [{"road": "Develop"}, {"ptb": {"min": 0.5, "max": 0.9}}],
        "tier1_share": 0.15, "behaviour_threshold": 0.55}}).segments
    seg = _frame(3000, seed)
    rng = np.random.default_rng(seed)
    missing = rng.choice(["", "buyer_empowerment", "buyer_empowerment, strategic_fit"],
                         len(seg)).astype(object)
    r_t, p_t = thresholds
    got = segment_reasons(seg, cfg, missing, r_t, p_t).to_pylist()
    want = [_reference(r, cfg, m, r_t, p_t)
            for r, m in zip(seg.to_dict("records"), missing, strict=True)]
    assert got == want


def test_number_formatting_is_pythons():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.random(20000), rng.uniform(-3, 3, 2000), np.arange(0, 1.001, 0.0005),
                        [0.005, 0.015, 0.125, 0.375, 0.625, 0.875, -0.0, 0.0, 1.0, np.nan,
                         np.inf, -np.inf, 0.994999999999, 0.995, 0.9950000000001]])
    assert fmt_2f(x).to_pylist() == [f"{v:.2f}" for v in x]
    y = np.concatenate([rng.lognormal(8, 4, 20000) * rng.choice([1, -1], 20000),
                        np.arange(0, 3000, 0.25),
                        [0.5, 1.5, 2.5, -0.5, -0.3, 999.5, 1000.5, 999999.5, 1e15, 1e15 - 0.5,
                         1e14 + 0.5, 123456789012345.6, 1e300, np.nan, np.inf, 0.0, -0.0]])
    assert fmt_money(y).to_pylist() == [f"{v:,.0f}" for v in y]
