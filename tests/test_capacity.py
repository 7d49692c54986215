"""Capacity and headcount arithmetic, checked by hand on a four-account world."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from growthmap.config import Config
from growthmap.config._plan import PlanConfig, ScenarioConfig
from growthmap.errors import ConfigError, WorkspaceError
from growthmap.plan import PlanSource, capacity_plan, compare_scenarios, scenario_table
from growthmap.runner.snapshot import write_snapshot
from growthmap.workspace import Workspace
from tests.test_rollups import load_inputs

AS_OF = dt.date(2025, 12, 31)


def tiny_workspace(tmp_path, *, reps: bool = True, segments: bool = True) -> Workspace:
    """Four accounts, two territories, three reps; every figure below is worked by hand."""
    ws = Workspace.create(tmp_path / "tiny.duckdb")
    inputs = {"territories": pd.DataFrame({"territory_id": ["T1", "T2"],
                                           "region": ["A", "B"]})}
    if reps:
        inputs["reps"] = pd.DataFrame({
            "rep_id": ["R1", "R2", "R3"], "territory_id": ["T1", "T1", "T2"],
            "role": ["field", "inside", "field"],
            "capacity_hours": [1000.0, np.nan, 800.0],
            "loaded_cost": [100_000.0, np.nan, 90_000.0]})
    load_inputs(ws, inputs)
    av = pd.DataFrame({
        "account_id": ["a1", "a2", "a3", "a4"], "name": list("abcd"),
        "owner_rep_id": ["R1", "R2", "R3", "R3"], "territory_id": ["T1", "T1", "T2", "T2"],
        "region": ["A", "A", "B", "B"], "is_customer": [True, True, True, False],
        "status": ["customer"] * 3 + ["prospect"], "value": [500.0, 100.0, 400.0, 0.0]})
    outputs = {"account_value": av}
    if segments:
        outputs["segments"] = pd.DataFrame({
            "account_id": ["a1", "a2", "a3", "a4"],
            "care_model": ["field", "inside", "field", None],
            "coverage_role": ["field", "inside", "field", None],
            "touches_per_year": [10.0, 4.0, 12.0, None],
            "hours_per_touch": [2.0, 0.5, 2.0, None]})
    write_snapshot(ws, as_of=AS_OF, config=Config(),
                   outputs={k: pa.Table.from_pandas(v) for k, v in outputs.items()})
    return ws


def test_capacity_by_hand(tmp_path):
    ws = tiny_workspace(tmp_path)
    src = PlanSource.from_workspace(ws)
    plan = capacity_plan(src, PlanConfig())
    hc = plan.headcount.set_index(["level", "key"])
    t1, t2, tot = hc.loc[("territory", "T1")], hc.loc[("territory", "T2")], hc.loc[("total",
                                                                                      "all")]
    # T1: a1 10 x 2h + a2 4 x 0.5h = 22h; R1 1000h + R2 (config) 1100h; cost 100k + 120k
    assert t1.hours_required == 22.0 and t1.heads_today == 2
    assert t1.hours_available == 2100.0 and t1.hours_per_head == 1050.0
    assert t1.heads_needed == pytest.approx(22 / 1050)
    assert t1.cost_today == 220_000.0 and t1.coverage == pytest.approx(2100 / 22)
    # T2: a3 12 x 2h = 24h (a4 has no care model); R3 800h, 90k
    assert t2.hours_required == 24.0 and t2.heads_today == 1 and t2.hours_available == 800.0
    assert t2.heads_needed == pytest.approx(24 / 800)
    assert t2.cost_needed == pytest.approx(24 / 800 * 90_000)
    assert tot.hours_required == 46.0 and tot.heads_today == 3
    assert tot.heads_needed == pytest.approx(46 / (2900 / 3))
    assert tot.current == 1000.0
    # by role: field = a1 + a3 = 44h against R1 + R3 (1800h); inside 2h against R2
    assert hc.loc[("role", "field"), "hours_required"] == 44.0
    assert hc.loc[("role", "field"), "hours_available"] == 1800.0
    assert hc.loc[("role", "inside"), "heads_needed"] == pytest.approx(2 / 1100)
    seg = plan.by_segment.set_index(["key", "care_model"])
    assert seg.loc[("T1", "field"), "touches"] == 10.0
    assert seg.loc[("T2", "(none)"), "accounts"] == 1
    assert any("no care model" in n for n in src.notes)
    # by region gives the same totals
    reg = capacity_plan(src, PlanConfig(), by="region").headcount.set_index(["level", "key"])
    assert reg.loc[("region", "A"), "hours_required"] == 22.0
    # by role and territory: field in T1 = a1's 20h against R1's 1000h, in T2 a3's 24h
    # against R3's 800h; the cells add up to the role, and the gaps are needed - in place
    cells = hc.loc["role_territory"]
    assert cells.loc["field / T1", "hours_required"] == 20.0
    assert cells.loc["field / T1", "hours_available"] == 1000.0
    assert cells.loc["field / T2", "hours_gap"] == 24.0 - 800.0
    field = cells[cells.index.str.startswith("field / ")]
    assert field.hours_required.sum() == hc.loc[("role", "field"), "hours_required"]
    assert field.heads_today.sum() == hc.loc[("role", "field"), "heads_today"]
    np.testing.assert_allclose(cells.cost_gap, cells.cost_needed - cells.cost_today)
    ws.close()


def test_scenarios_side_by_side(tmp_path):
    ws = tiny_workspace(tmp_path)
    src = PlanSource.from_workspace(ws)
    cfg = PlanConfig(scenarios={
        "cost flat, revenue +8%": ScenarioConfig(revenue_growth=0.08),
        "+1 head in T2": ScenarioConfig(extra_heads={"T2": 1}, cost_growth=0.1),
        "fewer hours": ScenarioConfig(productive_hours=500, touch_scale=2.0)})
    long = compare_scenarios(src, cfg)
    s = long.set_index(["scenario", "key"])
    base = s.loc[("baseline", "all")]
    assert base.heads == 3 and base.cost == 310_000.0 and base.revenue_target == 1000.0
    flat = s.loc[("cost flat, revenue +8%", "all")]
    assert flat.hours_required == pytest.approx(46 * 1.04)  # elasticity 0.5 x 8%
    assert flat.cost == 310_000.0 and flat.revenue_target == pytest.approx(1080.0)
    assert flat.cost_of_sales == pytest.approx(310_000 / 1080)
    more = s.loc[("+1 head in T2", "T2")]
    assert more.heads == 2 and more.hours_available == 1600.0
    assert more.cost == pytest.approx(180_000 * 1.1)
    assert s.loc[("+1 head in T2", "all")].heads == 4
    few = s.loc[("fewer hours", "all")]
    assert few.hours_available == 1500.0 and few.hours_required == 92.0
    assert few.heads_needed == pytest.approx(92 / 500)
    side = scenario_table(long)
    assert list(side.columns) == ["figure", "baseline", "cost flat, revenue +8%",
                                  "+1 head in T2", "fewer hours"]
    with pytest.raises(ConfigError, match="unknown capacity scenario"):
        compare_scenarios(src, cfg, ["nope"])
    bad = PlanConfig(scenarios={"x": ScenarioConfig(extra_heads={"T9": 1})})
    with pytest.raises(ConfigError, match="'T9'"):
        compare_scenarios(src, bad)
    ws.close()


def test_capacity_degrades_without_reps_or_segments(tmp_path):
    ws = tiny_workspace(tmp_path, reps=False)
    src = PlanSource.from_workspace(ws)
    hc = capacity_plan(src, PlanConfig(productive_hours=1000)).headcount.set_index(
        ["level", "key"])
    # heads are the distinct owners: R1, R2 in T1; R3 in T2 (config hours and cost)
    assert hc.loc[("territory", "T1"), "heads_today"] == 2
    assert hc.loc[("territory", "T1"), "hours_available"] == 2000.0
    assert hc.loc[("total", "all"), "cost_today"] == 3 * PlanConfig().loaded_cost
    assert any("no reps table" in n for n in src.notes)
    ws.close()
    ws = tiny_workspace(tmp_path / "b", segments=False)
    with pytest.raises(WorkspaceError, match="care model") as e:
        capacity_plan(PlanSource.from_workspace(ws), PlanConfig())
    assert "segments" in e.value.hint
    ws.close()
