"""Tiers, risk/readiness, care models, next best offer and the segments stage.

Hand-made frames whose tiers are worked out by hand, and a small world loaded through
the real loader into a real workspace for the stage itself.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from growthmap.config import Config
from growthmap.errors import ConfigError
from growthmap.load import load_table
from growthmap.runner.duckdb_run import run
from growthmap.runner.pipeline import RunContext, run_stages, stages
from growthmap.runner.snapshot import write_snapshot
from growthmap.workspace import Workspace

# Register the built-in stages in their run order before importing one of them directly
# (the registry keeps import order).
stages()
from growthmap.segments.stage import (  # noqa: E402
    assign_care,
    assign_tiers,
    next_best_offer,
    risk_readiness,
)

AS_OF = dt.date(2025, 6, 30)
AGREED = ["account_id", "owner_rep_id", "territory_id", "status", "value_tier",
          "potential_band", "matrix_cell", "road", "tier", "risk_readiness", "care_model",
          "coverage_role", "touches_per_year", "hours_per_touch", "next_best_offer",
          "nbo_score", "reasons"]
FAMILIES = {"Hardware": "maturity", "Cloud": "growth", "IoT": "introduction"}


# -- a small world through the real loader -----------------------------------------------
def small_world(n: int = 40, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Accounts A00..; the first 75% buy, the rest are prospects; half are assessed."""
    rng = np.random.default_rng(seed)
    ids = [f"A{i:02d}" for i in range(n)]
    accounts = pd.DataFrame({
        "account_id": ids, "name": [f"Company {i}" for i in range(n)],
        "industry": rng.choice(["steel", "food", "pharma"], n),
        "region": rng.choice(["north", "south"], n),
        "employees": rng.integers(10, 2000, n)})
    products = pd.DataFrame({
        "product_id": [f"P{i}" for i in range(6)],
        "family": ["Hardware", "Hardware", "Cloud", "Cloud", "IoT", "IoT"],
        "lifecycle_stage": [FAMILIES[f] for f in
                            ["Hardware", "Hardware", "Cloud", "Cloud", "IoT", "IoT"]]})
    buyers = ids[: int(n * 0.75)]
    m = 900
    tx = pd.DataFrame({
        "line_id": [f"L{i}" for i in range(m)],
        "account_id": rng.choice(buyers, m),
        "date": [dt.date(2024, 1, 1) + dt.timedelta(days=int(d))
                 for d in rng.integers(0, 546, m)],
        "product_id": rng.choice(products.product_id, m),
        "amount": np.round(rng.lognormal(7, 1.0, m), 2)})
    assessed = ids[: n // 2]
    assessments = pd.DataFrame({
        "account_id": np.repeat(assessed, 2),
        "criterion": ["buyer_empowerment", "strategic_fit"] * len(assessed),
        "score": rng.integers(1, 6, 2 * len(assessed)).astype(float)})
    return {"accounts": accounts, "products": products, "transactions": tx,
            "assessments": assessments}


def load_world(ws: Workspace, world: dict[str, pd.DataFrame], folder: Path) -> None:
    """Write each table as a CSV file and load it like a user's export."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("accounts", "products", "transactions", "assessments"):
        if name in world:
            path = folder / f"{name}.csv"
            world[name].to_csv(path, index=False)
            load_table(ws, name, path, mode="replace")


def make_workspace(tmp_path: Path, world: dict[str, pd.DataFrame] | None = None) -> Workspace:
    ws = Workspace.create(tmp_path / "ws.duckdb")
    load_world(ws, world or small_world(), tmp_path / "files")
    return ws


def others_outputs(world: dict[str, pd.DataFrame], seed: int = 3) -> dict[str, pd.DataFrame]:
    """Known outputs of the potential and models stages for the small world."""
    rng = np.random.default_rng(seed)
    ids = world["accounts"].account_id.tolist()
    n = len(ids)
    fams = list(FAMILIES)
    pot = pd.DataFrame([(a, f) for a in ids for f in fams], columns=["account_id", "family"])
    pot["current"] = 0.0
    pot["potential"] = np.round(rng.uniform(1000, 50000, len(pot)), 2)
    pot["whitespace"] = pot["potential"]
    pot["low"], pot["high"] = pot.potential * 0.7, pot.potential * 1.4
    pot["whitespace_competitor"] = np.round(pot.whitespace * rng.choice([0, 0.3], len(pot)), 2)
    pot["whitespace_open"] = pot.whitespace - pot.whitespace_competitor
    pot["share_of_wallet"] = 0.0
    pot["method"] = "peer_quantile"
    pot["peer_group"] = "industry"
    pot["low_confidence"] = False
    pot["drivers"] = '[{"feature": "employees", "effect": 0.4}]'
    pa = pot.groupby("account_id", as_index=False)[["current", "potential", "whitespace"]].sum()
    pa["low"], pa["high"] = pa.potential * 0.7, pa.potential * 1.4
    pa["share_of_wallet"] = 0.0
    pa["value_band"] = rng.choice(["high", "medium", "low"], n)
    pa["potential_band"] = rng.choice(["high", "medium", "low"], n)
    pa["matrix_cell"] = pa.value_band + "/" + pa.potential_band
    pa["road"] = rng.choice(["Retain", "Develop", "Acquire", "Opportunistic"], n)
    pa["low_confidence"] = False
    prop = pd.DataFrame({"account_id": ids, "ptb": np.round(rng.uniform(0, 1, n), 3)})
    prop["ptb_decile"] = (rankdata(prop.ptb) * 10 // (n + 1) + 1).astype(int)
    prop["drivers"] = '[{"feature": "recency_days", "effect": -0.2}]'
    fam_ptb = pot[["account_id", "family"]].copy()
    fam_ptb["ptb"] = np.round(rng.uniform(0, 1, len(fam_ptb)), 3)
    icp = pd.DataFrame({"account_id": ids, "icp_fit": np.round(rng.uniform(0, 100, n), 1),
                        "similar_best": '["A00", "A01"]', "is_best": False})
    risk = pd.DataFrame({"account_id": ids, "risk": np.round(rng.uniform(0, 1, n), 3)})
    comp = pot.loc[pot.whitespace_competitor > 0, ["account_id", "family"]].assign(
        competitor="Rival", held=pot.loc[pot.whitespace_competitor > 0,
                                         "whitespace_competitor"])
    return {"potential": pot, "potential_account": pa, "propensity": prop,
            "propensity_family": fam_ptb, "icp": icp, "risk": risk,
            "whitespace_competitor": comp}


def run_with(ws: Workspace, injected: dict[str, pd.DataFrame], config: Config | None = None,
             as_of: dt.date = AS_OF, write: bool = True) -> RunContext:
    """Run the value stage, add the other stages' known outputs, run segments, snapshot."""
    config = config or Config()
    ctx = RunContext(config=config, as_of=as_of, source=ws)
    run_stages(ctx, only=["value"])
    for name, df in injected.items():
        ctx.put(name, df)
    run_stages(ctx, only=["segments"])
    if write:
        write_snapshot(ws, as_of=as_of, config=config, outputs=ctx.outputs,
                       evaluations=ctx.evaluations, notes=ctx.notes)
    return ctx


# -- tiers on hand-made examples ------------------------------------------------------------
def _hand() -> pd.DataFrame:
    return pd.DataFrame({
        "account_id": [f"a{i}" for i in range(10)],
        "value_score": [0.9, 1.0, 0.6, 0.7, 0.2, 0.5, 0.4, 0.1, 0.3, 0.0],
        "need": [0.9, 0.7, 0.95, 0.7, 1.0, 0.5, 0.4, 0.3, 0.2, 0.0],
        "behaviour": [0.8, 0.5, 0.6, 0.9, 0.9, 0.5, 0.6, 0.1, 0.1, 0.1],
        "status": ["customer"] * 10,
        "road": [None] * 6 + ["Develop", None, "Develop", None],
    })


def _seg_cfg(**kw) -> Config:
    base = {"tier1_share": 0.2, "tier2_share": 0.5, "tier2_rules": [{"road": "Develop"}]}
    return Config.from_dict({"segments": {**base, **kw}})


def test_tiers_by_hand_mean():
    t = assign_tiers(_hand(), _seg_cfg().segments).set_index("account_id")
    # priorities .9 .85 .775 .7 .6 .5 .4 .2 .25 0 -> ranks a0 a1 a2 a3 a4 a5 a6 a8 a7 a9
    assert t.priority_rank.tolist() == [1, 2, 3, 4, 5, 6, 7, 9, 8, 10]
    # top 2 = Tier 1: a0 behaviour .8 > .5 -> 1a; a1 behaviour exactly .5 is not above -> 1b
    # ranks 3-5 -> Tier 2; a6 and a8 by the Develop rule; the rest Tier 3
    assert t.tier.to_dict() == {"a0": "1a", "a1": "1b", "a2": "2", "a3": "2", "a4": "2",
                                "a5": "3", "a6": "2", "a7": "3", "a8": "2", "a9": "3"}
    assert t.tier_rule.isna().sum() == 8 and t.loc["a6", "tier_rule"] == 0


def test_tiers_by_hand_min_both_must_be_high():
    t = assign_tiers(_hand(), _seg_cfg(tier_combine="min").segments).set_index("account_id")
    # min: a0 .9, a1 .7, a3 .7 (tie -> id), a2 .6, a5 .5, a6 .4, a4 .2, a8 .2, a7 .1, a9 0
    assert t.priority_rank.to_dict() == {"a0": 1, "a1": 2, "a3": 3, "a2": 4, "a5": 5,
                                         "a6": 6, "a4": 7, "a8": 8, "a7": 9, "a9": 10}
    assert t.tier.to_dict() == {"a0": "1a", "a1": "1b", "a2": "2", "a3": "2", "a4": "3",
                                "a5": "2", "a6": "2", "a7": "3", "a8": "2", "a9": "3"}


def test_tiers_by_hand_customers_only():
    f = _hand()
    f.loc[0, "status"] = "prospect"
    t = assign_tiers(f, _seg_cfg(tier_universe="customers").segments).set_index("account_id")
    # 9 ranked: top ceil(1.8)=2 -> a1 (1b, .5 not above), a2 (1a, .6); top ceil(4.5)=5 adds
    # a3 a4 a5; Develop adds a6 a8; the prospect a0 is unranked -> Tier 3
    assert pd.isna(t.loc["a0", "priority_rank"]) and t.ranked.iloc[0] == 9
    assert t.tier.to_dict() == {"a0": "3", "a1": "1b", "a2": "1a", "a3": "2", "a4": "2",
                                "a5": "2", "a6": "2", "a7": "3", "a8": "2", "a9": "3"}


def test_tier1_is_about_ten_percent_by_default():
    rng = np.random.default_rng(0)
    n = 237
    f = pd.DataFrame({"account_id": [f"x{i:03d}" for i in range(n)],
                      "value_score": rng.uniform(size=n), "need": rng.uniform(size=n),
                      "behaviour": rng.uniform(size=n), "status": "customer",
                      "value_tier": "C"})
    t = assign_tiers(f, Config().segments)
    assert t.tier.isin(["1a", "1b"]).sum() == math.ceil(0.1 * n)
    assert t.tier.isin(["1a", "1b", "2"]).sum() == math.ceil(0.4 * n)
    top = (f.value_score + f.need).rank(ascending=False) <= math.ceil(0.1 * n)
    assert set(t.account_id[t.tier.isin(["1a", "1b"])]) == set(f.account_id[top])


def test_risk_readiness_quadrants():
    f = pd.DataFrame({"account_id": list("pqrstu"),
                      "risk": [0.6, 0.2, None, 0.9, 0.5, 0.1],
                      "ptb": [0.7, 0.7, 0.1, 0.2, 0.5, None],
                      "status": ["customer"] * 2 + ["prospect"] + ["customer"] * 3})
    cfg = Config.from_dict({"segments": {"risk_threshold": 0.5, "readiness_threshold": 0.5}})
    q, r_t, p_t = risk_readiness(f, cfg.segments)
    assert (r_t, p_t) == (0.5, 0.5)
    assert q.tolist() == ["Defend", "Grow", "Nurture", "Rescue", "Defend", "Nurture"]
    q, r_t, p_t = risk_readiness(f, Config().segments)  # medians
    assert r_t == pytest.approx(np.median([0.6, 0.2, 0.9, 0.5, 0.1]))
    assert p_t == pytest.approx(np.median([0.7, 0.7, 0.1, 0.2, 0.5]))
    none = f.assign(risk=np.nan, ptb=np.nan)
    q, r_t, p_t = risk_readiness(none, Config().segments)
    assert r_t is None and p_t is None and (q == "Nurture").all()


# -- care models -------------------------------------------------------------------------
CARE = [
    {"when": {"tier": ["1a", "1b"]}, "care_model": "key", "role": "key_account_manager",
     "touches_per_year": 20, "hours_per_touch": 2},
    {"when": {"tier": "2", "ptb": {"min": 0.5}}, "care_model": "hunt", "role": "field_rep",
     "touches_per_year": 8, "hours_per_touch": 1.5},
    {"when": {"status": "customer"}, "care_model": "inside", "role": "inside_sales",
     "touches_per_year": 4, "hours_per_touch": 0.5},
]


def test_care_rules_first_match_wins_with_default():
    cfg = Config.from_dict({"segments": {"care_models": CARE}}).segments
    f = pd.DataFrame({"tier": ["1a", "1b", "2", "2", "3", "3"],
                      "ptb": [0.1, 0.9, 0.5, 0.4, 0.9, 0.9],
                      "status": ["customer"] * 5 + ["prospect"]})
    c = assign_care(f, cfg.care_models, cfg.care_default)
    assert c.care_model.tolist() == ["key", "key", "hunt", "inside", "inside",
                                     "digital / self-service"]
    assert c.coverage_role.tolist()[-1] == "digital"
    assert c.care_rule.tolist()[:5] == [0, 0, 1, 2, 2] and pd.isna(c.care_rule.iloc[-1])
    assert c.touches_per_year.tolist() == [20, 20, 8, 4, 4, 4]


@pytest.mark.parametrize("rule, key, fix", [
    ({**CARE[0], "touches": 3}, "segments.care_models.0", "did you mean 'touches_per_year'"),
    ({**CARE[0], "role": "hunter"}, "segments.care_models.0.role", "'field_rep'"),
    ({**CARE[0], "hours_per_touch": -1}, "segments.care_models.0.hours_per_touch",
     "greater than or equal to 0"),
    ({**CARE[0], "when": {"ptb": {"min": 0.9, "max": 0.1}}}, "segments.care_models.0",
     "swap them"),
])
def test_care_model_config_errors(rule, key, fix):
    with pytest.raises(ConfigError) as e:
        Config.from_dict({"segments": {"care_models": [rule]}})
    assert key in str(e.value) and fix in str(e.value)


def test_unknown_rule_field_is_named_at_run_time():
    cfg = Config.from_dict({"segments": {"care_models": [
        {**CARE[0], "when": {"teir": "1a"}}]}}).segments
    f = pd.DataFrame({"tier": ["1a"], "status": ["customer"]})
    with pytest.raises(ConfigError) as e:
        assign_care(f, cfg.care_models, cfg.care_default)
    assert "segments.care_models[0].when names 'teir'" in e.value.message
    assert "tier" in e.value.hint
    with pytest.raises(ConfigError, match="decided after tiers"):
        Config.from_dict({"segments": {"tier2_rules": [{"care_model": "x"}]}})


# -- next best offer ------------------------------------------------------------------------
def test_next_best_offer_by_hand():
    pot = pd.DataFrame({"account_id": ["x", "x", "x", "y", "y", "z", "w"],
                        "family": ["F1", "F2", "F3", "F1", "F2", "F2", "F1"],
                        "whitespace": [100.0, 300.0, 0.0, 50.0, 40.0, 10.0, 0.0]})
    fam = pd.DataFrame({"account_id": ["x", "x"], "family": ["F1", "F2"], "ptb": [0.9, 0.2]})
    acc = pd.Series({"x": 0.1, "y": 0.5})
    nbo = next_best_offer(pot, fam, acc).set_index("account_id")
    # x: F1 100*.9=90 beats F2 300*.2=60; y: account PtB .5 -> F1 25; z: neutral .5 -> F2 5
    assert nbo.next_best_offer.to_dict() == {"x": "F1", "y": "F1", "z": "F2"}
    assert nbo.nbo_score.to_dict() == pytest.approx({"x": 90.0, "y": 25.0, "z": 5.0})
    assert "w" not in nbo.index  # no whitespace: no offer
    assert next_best_offer(None, None, acc).empty


# -- the stage on a real workspace ----------------------------------------------------------
def test_stage_with_every_input(tmp_path):
    world = small_world()
    ws = make_workspace(tmp_path, world)
    inj = others_outputs(world)
    cfg = Config.from_dict({"segments": {"lifecycle_mix": "none"}})
    ctx = run_with(ws, inj, cfg)
    seg = ctx.frame("segments").set_index("account_id")
    cs = ctx.frame("criteria_scores").set_index("account_id")
    assert list(ctx.frame("segments").columns[: len(AGREED)]) == AGREED
    assert len(seg) == len(world["accounts"]) and seg.index.is_unique
    pa = inj["potential_account"].set_index("account_id")
    for c in ("road", "potential_band", "matrix_cell"):
        assert (seg[c] == pa.loc[seg.index, c]).all()
    # need = mean of whitespace percentile, PtB and ICP fit / 100, computed independently
    ws_pct = (rankdata(pa.whitespace) - 1) / (len(pa) - 1)
    ptb = inj["propensity"].set_index("account_id").ptb.loc[pa.index]
    icp = inj["icp"].set_index("account_id").icp_fit.loc[pa.index] / 100
    need = (ws_pct + ptb.to_numpy() + icp.to_numpy()) / 3
    assert cs.loc[pa.index, "need"].to_numpy() == pytest.approx(need)
    # readiness and risk thresholds are the medians; every quadrant agrees with them
    risk = inj["risk"].set_index("account_id").risk
    cust = seg.status == "customer"
    r_t, p_t = risk[cust[cust].index].median(), ptb.median()
    want = [("Defend" if r >= r_t else "Grow") if p >= p_t else
            ("Rescue" if r >= r_t else "Nurture")
            for r, p in zip(risk.loc[seg.index].where(cust, np.nan).fillna(-1),
                            ptb.loc[seg.index], strict=True)]
    assert seg.risk_readiness.tolist() == want
    # next best offer = argmax whitespace x family PtB
    p = inj["potential"].merge(inj["propensity_family"], on=["account_id", "family"])
    p["s"] = p.whitespace * p.ptb
    best = p.sort_values("s").groupby("account_id").tail(1).set_index("account_id")
    assert (seg.next_best_offer == best.family.loc[seg.index]).all()
    assert seg.nbo_score.to_numpy() == pytest.approx(best.s.loc[seg.index].to_numpy())
    assert all(r.startswith("Tier ") for r in seg.reasons)
    assert "Next best offer:" in seg.reasons.iloc[0]


def test_missing_assessments_are_neutral_and_flagged(tmp_path):
    world = small_world()
    ws = make_workspace(tmp_path, world)
    ctx = run_with(ws, {}, write=False)
    cs = ctx.frame("criteria_scores").set_index("account_id")
    a = world["assessments"].pivot(index="account_id", columns="criterion", values="score")
    assessed = set(a.index)
    for acc in cs.index:
        flagged = "buyer_empowerment: no assessment (neutral 0.5 used)" in cs.loc[acc, "flags"]
        assert flagged == (acc not in assessed)
        want = 0.5 if acc not in assessed else (a.loc[acc, "buyer_empowerment"] - 1) / 4
        assert cs.loc[acc, "c_buyer_empowerment"] == pytest.approx(want)
    seg = ctx.frame("segments").set_index("account_id")
    for acc in seg.index[seg.tier == "1b"]:
        assert "not above 0.5" in seg.loc[acc, "reasons"]
        if acc not in assessed:
            assert "no data for buyer_empowerment, strategic_fit" in seg.loc[acc, "reasons"]


def test_stage_without_other_stages_is_neutral_not_a_crash(tmp_path):
    ws = make_workspace(tmp_path)
    res = run(ws, as_of=AS_OF, only=["value", "segments"])
    seg = res.outputs["segments"].to_pandas()
    assert list(seg.columns[: len(AGREED)]) == AGREED
    assert seg.road.isna().all() and seg.next_best_offer.isna().all()
    assert (seg.risk_readiness == "Nurture").all()
    assert set(seg.tier) <= {"1a", "1b", "2", "3"}
    notes = " ".join(res.notes)
    for out in ("potential_account", "propensity", "icp", "risk"):
        assert f"no {out!r} output" in notes
    assert res.snapshot_id == 1 and ws.has_output("segments")


def test_bad_criterion_column_stops_the_run_and_writes_nothing(tmp_path):
    ws = make_workspace(tmp_path)
    cfg = Config.from_dict({"segments": {"criteria": [
        {"name": "size", "group": "value", "kind": "column", "source": "headcount"}]}})
    with pytest.raises(ConfigError, match="column 'headcount'") as e:
        run(ws, cfg, as_of=AS_OF, only=["value", "segments"])
    assert "employees" in e.value.hint
    assert ws.snapshot_ids() == []


def test_column_criteria_and_lifecycle_weights_in_a_run(tmp_path):
    world = small_world()
    ws = make_workspace(tmp_path, world)
    inj = others_outputs(world)
    cfg = Config.from_dict({"segments": {"criteria": [
        {"name": "size", "group": "value", "kind": "column", "source": "employees",
         "scale": "minmax"},
        {"name": "ws", "group": "need", "source": "whitespace", "scale": "minmax",
         "stage_weights": {"introduction": 4}},
        {"name": "ptb", "group": "need", "source": "ptb", "scale": "range"}],
        "lifecycle_mix": "focus_family", "focus_family": "IoT"}})
    cs = run_with(ws, inj, cfg, write=False).frame("criteria_scores").set_index("account_id")
    acc = world["accounts"].set_index("account_id")
    e = acc.employees
    assert cs.value_score.loc[acc.index].to_numpy() == pytest.approx(
        ((e - e.min()) / (e.max() - e.min())).to_numpy())
    w = inj["potential_account"].set_index("account_id").whitespace.loc[acc.index]
    wsn = (w - w.min()) / (w.max() - w.min())
    ptb = inj["propensity"].set_index("account_id").ptb.loc[acc.index]
    # IoT is an introduction family: whitespace weighs 4, PtB 1
    assert cs.need.loc[acc.index].to_numpy() == pytest.approx(((4 * wsn + ptb) / 5).to_numpy())
