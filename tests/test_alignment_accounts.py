"""Account alignment through the territory solver: balance, locks, disruption, gap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from growthmap.config._plan import PlanConfig
from growthmap.errors import ConfigError, InfeasibleError, NotFoundError
from growthmap.plan import PlanSource, align_accounts, parse_locks
from tests.test_rollups import plan_workspace

SELLERS = ["R1", "R2", "R3", "R4", "R5", "R6"]


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    ws = plan_workspace(tmp_path_factory.mktemp("align"))
    yield PlanSource.from_workspace(ws)
    ws.close()


def _check_report(out, frame: pd.DataFrame, tol: float) -> None:
    re, reps = out.reassignment, out.reps.set_index("rep_id")
    assert sorted(reps.index) == SELLERS  # managers without a book get no accounts
    assert re.account_id.is_unique and len(re) == len(frame)
    # before/after per rep recomputed from the reassignment table
    f = frame.set_index("account_id").loc[re.account_id]
    for rep in SELLERS:
        after = re.to_rep == rep
        before = re.from_rep == rep
        assert reps.loc[rep, "accounts_after"] == after.sum()
        assert reps.loc[rep, "accounts_before"] == (f.owner_rep_id.to_numpy() == rep).sum()
        assert reps.loc[rep, "potential_after"] == pytest.approx(
            f.potential.to_numpy()[after.to_numpy()].sum())
        assert reps.loc[rep, "potential_before"] == pytest.approx(re.potential[before].sum())
    assert out.summary["balance"] == ["potential", "workload"]  # the default measures
    for m in out.summary["balance"]:
        assert reps[f"{m}_dev_after"].abs().max() <= tol + 1e-9, m
    assert out.summary["within_bounds"] and reps.within_bounds.all()
    assert 0 <= out.summary["gap"] < 1
    assert out.summary["moved"] == int(re.moved.sum())
    moved = re[re.moved]
    assert (moved.from_rep != moved.to_rep).all()


def test_balanced_within_tolerance_and_report_adds_up(src):
    out = align_accounts(src, PlanConfig(), tolerance=0.15, time_limit=30)
    _check_report(out, src.frame(), 0.15)
    # before, the books were far from balanced; distance is reported in km
    assert max(out.summary["max_deviation_before"].values()) > 0.15
    assert out.summary["distance_after_km"] > 0


def test_locks_and_disruption_budget_hold(src):
    frame = src.frame()
    acc = frame[frame.owner_rep_id == "R1"].account_id.iloc[0]
    locks = {acc: "R6"}
    out = align_accounts(src, PlanConfig(), tolerance=0.2, locks=locks, max_disruption=0.5,
                         time_limit=30)
    re = out.reassignment.set_index("account_id")
    assert re.loc[acc, "to_rep"] == "R6" and re.loc[acc, "locked"]
    assert out.summary["share_potential_moved"] <= 0.5 + 1e-9
    _check_report(out, frame, 0.2)


def test_disruption_objective_moves_less_than_distance(src):
    cfg = PlanConfig(align_tolerance=0.2)
    dist = align_accounts(src, cfg, time_limit=30)
    calm = align_accounts(src, cfg, objective="disruption", time_limit=8)
    assert calm.summary["potential_moved"] < dist.summary["potential_moved"]
    # the gap bounds how much less could be moved: objective x (1 - gap) <= optimum
    assert calm.result.best_bound <= calm.summary["potential_moved"] + 1e-6
    assert calm.result.gap < 0.05


def test_bad_requests_say_the_fix(src):
    assert parse_locks(["A001=R1", " A002 = R2 "]) == {"A001": "R1", "A002": "R2"}
    with pytest.raises(ConfigError, match="ACCOUNT=REP"):
        parse_locks(["A001"])
    with pytest.raises(NotFoundError, match="NOPE"):
        align_accounts(src, PlanConfig(), locks={"NOPE": "R1"})
    with pytest.raises(NotFoundError, match="R99"):
        align_accounts(src, PlanConfig(), locks={"A000": "R99"})
    with pytest.raises(ConfigError, match="tolerance"):
        align_accounts(src, PlanConfig(), tolerance=0)
    # a tolerance too tight for the largest account cannot hold
    with pytest.raises(InfeasibleError):
        align_accounts(src, PlanConfig(), tolerance=0.001, balance=["potential", "count"],
                       time_limit=10)
    with pytest.raises(NotFoundError, match="unknown rep"):
        align_accounts(src, PlanConfig(), reps=["R1", "ZZ"])


def test_demo_world_alignment(tmp_path):
    """Acceptance: the demo world's 5,000 accounts, its 20 field reps, ±10%, gap reported.

    Potential is the world's true wallet and workload a care-model stand-in by value tier,
    so the test needs only the value stage.
    """
    demo = pytest.importorskip("growthmap.demo")
    if not hasattr(demo, "build_demo_workspace"):
        pytest.skip("the demo world is not available")
    ws = demo.build_demo_workspace(tmp_path / "demo.duckdb", 5000, 42)
    from growthmap.config import Config
    from growthmap.runner.duckdb_run import run
    from growthmap.runner.snapshot import write_snapshot

    res = run(ws, Config(), as_of=demo.DEMO_AS_OF, only=["value"], write=False)
    outputs = dict(res.outputs)
    av = outputs["account_value"].to_pandas()
    wallet = ws.con.execute("SELECT account_id, sum(wallet) AS potential FROM truth.wallet "
                            "GROUP BY account_id").df()
    pa_ = av[["account_id", "value"]].merge(wallet, on="account_id", how="left")
    pa_["potential"] = np.maximum(pa_.potential.fillna(0), pa_.value)
    pa_["current"] = pa_.value
    pa_["whitespace"] = pa_.potential - pa_.current
    hours = av.value_tier.map({"A": 24 * 3.0, "B": 12 * 2.0, "C": 4 * 1.0, "D": 1 * 0.5})
    seg = pd.DataFrame({"account_id": av.account_id, "touches_per_year": hours,
                        "hours_per_touch": 1.0})
    import pyarrow as pa

    outputs["potential_account"] = pa.Table.from_pandas(pa_.drop(columns="value"))
    outputs["segments"] = pa.Table.from_pandas(seg)
    write_snapshot(ws, as_of=demo.DEMO_AS_OF, config=Config(), outputs=outputs)
    src = PlanSource.from_workspace(ws)
    # the field reps' books (key account managers and inside reps are aligned apart)
    out = align_accounts(src, PlanConfig(), tolerance=0.1, role="field", time_limit=60,
                         balance=["potential", "workload", "count"])
    s = out.summary
    print({k: v for k, v in s.items()})
    assert s["reps"] == 20 and s["accounts"] > 2000
    assert s["within_bounds"]
    for m in ("potential", "workload", "count"):
        assert out.reps[f"{m}_dev_after"].abs().max() <= 0.1 + 1e-9
    assert np.isfinite(s["gap"]) and s["gap"] >= 0
    ws.close()
