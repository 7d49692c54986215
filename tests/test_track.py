"""Migration between two runs with a known change: exactly the changed accounts move."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from growthmap.cli import app
from growthmap.config import Config
from growthmap.errors import ConfigError
from growthmap.read.migration import GONE, NEW, migration
from growthmap.runner.duckdb_run import run
from growthmap.workspace import Workspace
from tests.test_segments import (
    AS_OF,
    load_world,
    make_workspace,
    others_outputs,
    run_with,
    small_world,
)

ONLY = ["value", "segments"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run, swap the purchases of the top and the bottom customer, drop one prospect and
    add another, run again."""
    tmp = tmp_path_factory.mktemp("track")
    world = small_world()
    ws = make_workspace(tmp, world)
    first = run(ws, as_of=AS_OF, only=ONLY).outputs["segments"].to_pandas()
    cust = first[first.status == "customer"].sort_values("priority_rank")
    top, bottom = cust.account_id.iloc[0], cust.account_id.iloc[-1]
    tx = world["transactions"].copy()
    tx["account_id"] = tx.account_id.replace({top: bottom, bottom: top})
    accounts = world["accounts"]
    gone = "A39"  # a prospect without assessments
    accounts = pd.concat([accounts[accounts.account_id != gone],
                          pd.DataFrame({"account_id": ["A99"], "name": ["Newco"],
                                        "industry": ["food"], "region": ["north"],
                                        "employees": [50]})], ignore_index=True)
    load_world(ws, {"accounts": accounts, "transactions": tx}, tmp / "files2")
    second = run(ws, as_of=AS_OF, only=ONLY).outputs["segments"].to_pandas()
    ws.close()
    return tmp / "ws.duckdb", first, second, top, bottom


def test_exactly_the_changed_accounts_move(runs):
    path, first, _second, top, bottom = runs
    with Workspace.open(path, read_only=True) as ws:
        m = migration(ws, 1, 2, "tier")
    t1 = first.set_index("account_id").tier
    assert t1[top] in ("1a", "1b") and t1[bottom] == "3"
    mv = m.movers.set_index("account_id")
    assert set(mv.index) == {top, bottom, "A39", "A99"}
    assert mv.loc[top, "direction"] == "down" and mv.loc[top, "to"] == "3"
    assert mv.loc[bottom, "direction"] == "up" and mv.loc[bottom, "from"] == "3"
    assert mv.loc["A99", "from"] == NEW and mv.loc["A39", "to"] == GONE
    assert mv.loc["A99", "direction"] == "new" and mv.loc["A39", "direction"] == "gone"
    assert m.summary() == {"stayed": 37, "up": 1, "down": 1, "moved": 0, "new": 1, "gone": 1}


def test_matrix_matches_an_independent_crosstab(runs):
    path, first, second, *_ = runs
    with Workspace.open(path, read_only=True) as ws:
        m = migration(ws, "previous", "latest", "tier")
        v1 = ws.con.execute("SELECT account_id, value FROM snap_1.account_value").df()
        v2 = ws.con.execute("SELECT account_id, value FROM snap_2.account_value").df()
    j = first[["account_id", "tier"]].merge(second[["account_id", "tier"]], on="account_id",
                                            how="outer", suffixes=("_a", "_b"))
    j["tier_a"] = j.tier_a.fillna(NEW)
    j["tier_b"] = j.tier_b.fillna(GONE)
    want = pd.crosstab(j.tier_a, j.tier_b)
    got = m.counts.copy()
    got.index.name, got.columns.name = "tier_a", "tier_b"
    assert list(got.index[:-1]) == [t for t in ("1a", "1b", "2", "3") if t in got.index]
    assert got.index[-1] == NEW and got.columns[-1] == GONE
    pd.testing.assert_frame_equal(got.loc[want.index, want.columns], want, check_dtype=False,
                                  check_index_type=False, check_column_type=False,
                                  check_names=False)
    assert got.to_numpy().sum() == want.to_numpy().sum()
    # value: later snapshot's, the earlier one's for the gone account
    total = v2.value.sum() + v1.set_index("account_id").value.get("A39", 0.0)
    assert m.values.to_numpy().sum() == pytest.approx(total)
    j = j.merge(v2, on="account_id", how="left")
    diag = j[(j.tier_a == "3") & (j.tier_b == "3")].value.sum()
    assert m.values.loc["3", "3"] == pytest.approx(diag)


def test_other_dimensions_and_unknown_dimension(runs):
    path, _first, _, top, bottom = runs
    with Workspace.open(path, read_only=True) as ws:
        vt = migration(ws, 1, 2, "value_tier")
        care = migration(ws, 1, 2, "care_model")
        with pytest.raises(ConfigError) as e:
            migration(ws, 1, 2, "teir")
    assert {top, bottom} <= set(vt.movers.account_id) and vt.ordered
    assert vt.movers.set_index("account_id").loc[top, "direction"] == "down"
    assert not care.ordered and set(care.movers.direction) <= {"moved", "new", "gone"}
    assert "'teir'" in e.value.message and "tier" in e.value.hint


def test_track_command(runs):
    path, _, _, top, bottom = runs
    res = CliRunner().invoke(app, ["--workspace", str(path), "track", "--from", "1", "--to",
                                   "2", "--list"])
    assert res.exit_code == 0, res.output
    for text in ("(new)", "(gone)", top, bottom, "1 up, 1 down"):
        assert text in res.output
    res = CliRunner().invoke(app, ["--workspace", str(path), "track", "--dimension", "foo"])
    assert res.exit_code == 2 and "is not in snapshot" in res.output


def test_bands_are_ordered_by_the_configured_labels(tmp_path):
    world = small_world()
    ws = make_workspace(tmp_path, world)
    cfg = Config.from_dict({"potential": {"band_labels": ["small", "mid", "big"]}})
    relabel = {"low": "small", "medium": "mid", "high": "big"}
    for seed in (1, 2):
        inj = others_outputs(world, seed=seed)
        inj["potential_account"]["potential_band"] = \
            inj["potential_account"].potential_band.map(relabel)
        run_with(ws, inj, cfg)
    m = migration(ws, 1, 2, "potential_band")
    assert m.ordered and list(m.counts.index) == ["big", "mid", "small"]
    rank = {"big": 0, "mid": 1, "small": 2}
    assert len(m.movers) > 0
    for r in m.movers.to_dict("records"):
        assert r["direction"] == ("up" if rank[r["to"]] < rank[r["from"]] else "down")
    ws.close()
