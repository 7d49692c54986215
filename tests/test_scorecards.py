"""Scorecards on two snapshots with a known change, and attainment against saved quotas."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from growthmap.config import Config
from growthmap.config._plan import PlanConfig
from growthmap.errors import ConfigError
from growthmap.plan import save_quotas, scorecard
from growthmap.runner.snapshot import write_snapshot
from growthmap.workspace import Workspace
from tests.test_rollups import load_inputs

PREV, NOW = dt.date(2024, 12, 31), dt.date(2025, 6, 30)


def _snap(ws: Workspace, as_of: dt.date, accounts: list[tuple], families: list[tuple],
          whitespace: list[tuple] | None, potential: dict[str, float] | None) -> None:
    av = pd.DataFrame(accounts, columns=["account_id", "owner_rep_id", "territory_id",
                                         "is_customer", "value"])
    afv = pd.DataFrame(families, columns=["account_id", "family", "revenue_t12m"])
    out = {"account_value": av, "account_family_value": afv}
    if whitespace is not None:
        out["potential"] = pd.DataFrame(whitespace, columns=["account_id", "family",
                                                             "whitespace"])
    if potential is not None:
        out["potential_account"] = pd.DataFrame({"account_id": list(potential),
                                                 "potential": list(potential.values())})
    write_snapshot(ws, as_of=as_of, config=Config(),
                   outputs={k: pa.Table.from_pandas(v) for k, v in out.items()})


def two_snapshots(tmp_path) -> Workspace:
    """a1 grows F1 by 50 and starts F2 (30); a2 converts (80); a3 is lost; a4 moves rep."""
    ws = Workspace.create(tmp_path / "score.duckdb")
    tx = pd.DataFrame({"line_id": ["l1", "l2", "l3", "l4"],
                       "account_id": ["a1", "a2", "a1", "a3"],
                       "date": pd.to_datetime(["2025-01-15", "2025-03-01", "2024-12-01",
                                               "2025-08-01"]),
                       "product_id": "p", "amount": [300.0, 100.0, 999.0, 50.0]})
    load_inputs(ws, {"transactions": tx})
    _snap(ws, PREV,
          [("a1", "R1", "T1", True, 100.0), ("a2", "R1", "T1", False, 0.0),
           ("a3", "R2", "T2", True, 200.0), ("a4", "R1", "T2", True, 50.0)],
          [("a1", "F1", 100.0), ("a3", "F1", 200.0), ("a4", "F1", 50.0)],
          [("a1", "F1", 40.0), ("a1", "F2", 100.0), ("a2", "F1", 60.0), ("a3", "F1", 0.0),
           ("a4", "F1", 10.0), ("a2", "F3", 5.0)], None)
    _snap(ws, NOW,
          [("a1", "R1", "T1", True, 180.0), ("a2", "R1", "T1", True, 80.0),
           ("a3", "R2", "T2", False, 0.0), ("a4", "R2", "T2", True, 40.0)],
          [("a1", "F1", 150.0), ("a1", "F2", 30.0), ("a2", "F1", 80.0), ("a4", "F1", 40.0)],
          None, {"a1": 300.0, "a2": 150.0, "a3": 100.0, "a4": 60.0})
    return ws


def test_scorecard_by_rep_known_change(tmp_path):
    ws = two_snapshots(tmp_path)
    card = scorecard(ws, PlanConfig())
    t = card.table.set_index("key")
    r1, r2 = t.loc["R1"], t.loc["R2"]
    assert (card.snapshot, card.previous) == (2, 1)
    assert r1.upsell_revenue == 50 and r1.crosssell_revenue == 30
    assert r1.new_customers == 1 and r1.new_customer_revenue == 80
    assert r1.whitespace_converted == 40 + 30 + 60 and r1.whitespace_prev == 205
    assert r1.current == 260 and r1.current_prev == 100 and r1.growth == pytest.approx(1.6)
    assert r1.share_of_potential == pytest.approx(260 / 450)
    # a4 now belongs to R2 and is scored there, with its earlier value
    assert r2.accounts == 2 and r2.current_prev == 250 and r2.current == 40
    assert r2.lost_customers == 1 and r2.lost_revenue == 200
    assert r2.upsell_revenue == 0 and r2.whitespace_converted == 0
    assert t.loc["all"].upsell_revenue == 50 and t.loc["all"].new_customers == 1
    assert pd.isna(r1.attainment) and any("no saved quotas" in n for n in card.notes)
    ws.close()


def test_attainment_against_saved_quotas(tmp_path):
    ws = two_snapshots(tmp_path)
    q = pd.DataFrame({"level": "rep", "key": ["R1", "R2"], "family": None,
                      "quota_cents": [100_000, 50_000], "history": [150.0, 250.0],
                      "whitespace": [200.0, 10.0], "explanation": "by hand"})
    save_quotas(ws, q, as_of=PREV, snapshot_id=1)
    t = scorecard(ws, PlanConfig()).table.set_index("key")
    # only transactions after the period start and up to the later snapshot count
    assert t.loc["R1", "quota"] == 1000 and t.loc["R1", "actual"] == 400
    assert t.loc["R1", "attainment"] == pytest.approx(0.4)
    elapsed = (NOW - PREV).days / 365
    assert t.loc["R1", "period_elapsed"] == pytest.approx(elapsed)
    assert t.loc["R1", "pace"] == pytest.approx(0.4 / elapsed)
    assert t.loc["R2", "attainment"] == 0
    terr = scorecard(ws, PlanConfig(), by="territory")
    assert set(terr.table.key) == {"T1", "T2", "all"}
    assert any("no total quotas by territory" in n for n in terr.notes)
    with pytest.raises(ConfigError, match="both sides"):
        scorecard(ws, PlanConfig(), previous=2)
    ws.close()
