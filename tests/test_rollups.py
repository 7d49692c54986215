"""Rollups, rep books and the plan stage, checked against independent pandas sums.

``plan_workspace`` builds a small world with a territory hierarchy and a management
chain, runs the value stage and adds potential, propensity, ICP and segment outputs with
known values; the other planning test files reuse it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from growthmap.config import Config
from growthmap.errors import NotFoundError
from growthmap.plan import PlanSource, rep_book, review_list, rollups
from growthmap.plan.stage import stage as plan_stage
from growthmap.runner.duckdb_run import run
from growthmap.runner.pipeline import STAGE_MODULES, RunContext
from growthmap.runner.snapshot import write_snapshot
from growthmap.workspace import Workspace

AS_OF = dt.date(2025, 6, 30)
FAMILIES = ("Tools", "Service", "Parts")
CARE = {"1a": ("key_account", "key_account_manager", 24, 3.0),
        "1b": ("key_account", "key_account_manager", 18, 3.0),
        "2": ("field", "field", 6, 2.0),
        "3": ("digital", "inside", 2, 0.5)}

TERRITORIES = pd.DataFrame({
    "territory_id": ["ALL", "N", "S", "N1", "N2", "S1", "S2"],
    "name": ["Company", "North", "South", "North-1", "North-2", "South-1", "South-2"],
    "region": [None, "North", "South", "North", "North", "South", "South"],
    "parent_id": [None, "ALL", "ALL", "N", "N", "S", "S"],
})
REPS = pd.DataFrame({
    "rep_id": ["VP", "M1", "M2", "R1", "R2", "R3", "R4", "R5", "R6"],
    "name": ["Vera", "Max", "Mia", "Ann", "Bob", "Cy", "Dee", "Eve", "Fay"],
    "role": ["vp", "manager", "manager", "key_account_manager", "field", "inside",
             "key_account_manager", "field", "inside"],
    "territory_id": ["ALL", "N", "S", "N1", "N1", "N2", "S1", "S2", "S2"],
    "manager_id": [None, "VP", "VP", "M1", "M1", "M1", "M2", "M2", "M2"],
    "capacity_hours": [np.nan, np.nan, np.nan, 1000.0, 1200.0, np.nan, 1100.0, 900.0, 1300.0],
    "loaded_cost": [200e3, 150e3, 150e3, 130e3, 110e3, 90e3, 130e3, 110e3, 90e3],
    "base_lat": [50.0, 52.0, 46.0, 53.0, 52.0, 51.0, 47.0, 45.0, 45.5],
    "base_lon": [8.0, 9.0, 9.0, 8.0, 10.0, 9.0, 8.0, 9.0, 10.0],
})
LEAF_REPS = {"N1": ["R1", "R2"], "N2": ["R3"], "S1": ["R4"], "S2": ["R5", "R6"]}


def plan_world(seed: int = 0, n: int = 80) -> dict[str, pd.DataFrame]:
    """Input tables: accounts in leaf territories owned by that territory's reps."""
    rng = np.random.default_rng(seed)
    terr = rng.choice(list(LEAF_REPS), n)
    owner = [rng.choice(LEAF_REPS[t]) for t in terr]
    north = np.isin(terr, ["N1", "N2"])
    acc = pd.DataFrame({
        "account_id": [f"A{i:03d}" for i in range(n)],
        "name": [f"Company {i}" for i in range(n)],
        "industry": rng.choice(["steel", "food", "pharma"], n),
        "region": np.where(north, "North", "South"),
        "territory_id": terr,
        "owner_rep_id": owner,
        "lat": np.where(north, 52.0, 46.0) + rng.normal(0, 0.8, n),
        "lon": 9.0 + rng.normal(0, 1.0, n),
    })
    acc.loc[[3, 7], "region"] = None  # region filled from the territory
    acc.loc[[5], "owner_rep_id"] = None  # one unowned account
    buyers = acc.account_id[: int(n * 0.7)]
    m = 1500
    tx = pd.DataFrame({
        "line_id": [f"L{i}" for i in range(m)],
        "account_id": rng.choice(buyers, m),
        "date": pd.Timestamp("2023-07-01") + pd.to_timedelta(rng.integers(0, 730, m), "D"),
        "product_id": rng.choice(["p1", "p2", "p3", "p4"], m),
        "amount": np.round(rng.lognormal(7, 1.0, m), 2),
    })
    prod = pd.DataFrame({"product_id": ["p1", "p2", "p3", "p4"],
                         "family": ["Tools", "Tools", "Service", "Parts"],
                         "lifecycle_stage": ["maturity", "maturity", "growth", "decline"]})
    return {"accounts": acc, "transactions": tx, "products": prod, "reps": REPS.copy(),
            "territories": TERRITORIES.copy()}


def load_inputs(ws: Workspace, tables: dict[str, pd.DataFrame]) -> None:
    for name, df in tables.items():
        ws.con.register("df", df)
        cast = "CAST(date AS DATE) AS date, * EXCLUDE (date)" if name == "transactions" else "*"
        ws.con.execute(f"CREATE OR REPLACE TABLE main.{name} AS SELECT {cast} FROM df")
        ws.con.unregister("df")


def synthetic_outputs(av: pd.DataFrame, afv: pd.DataFrame, seed: int = 0,
                      skip: tuple[str, ...] = ()) -> dict[str, pa.Table]:
    """Potential, propensity, ICP and segments outputs with known values."""
    rng = np.random.default_rng(seed + 100)
    ids = av.account_id.to_numpy()
    n = len(ids)
    cur_f = afv.pivot_table(index="account_id", columns="family", values="revenue_t12m",
                            aggfunc="sum").reindex(index=ids, columns=list(FAMILIES))
    cur_f = cur_f.fillna(0.0).clip(lower=0)
    pot_f = cur_f * rng.uniform(1.1, 2.5, cur_f.shape) + rng.lognormal(7, 1, cur_f.shape)
    pot = pot_f.stack().rename("potential").reset_index()
    pot["current"] = cur_f.stack().to_numpy()
    pot["whitespace"] = (pot.potential - pot.current).clip(lower=0)
    cur = cur_f.sum(axis=1).to_numpy()
    potential = pot_f.sum(axis=1).to_numpy()
    road = np.where(cur > np.median(cur), np.where(potential - cur > 3000, "Develop", "Retain"),
                    np.where(potential - cur > 3000, "Acquire", "Opportunistic"))
    pa_ = pd.DataFrame({"account_id": ids, "current": cur, "potential": potential,
                        "whitespace": np.maximum(potential - cur, 0),
                        "share_of_wallet": cur / potential, "road": road})
    tier = rng.choice(list(CARE), n, p=[0.1, 0.1, 0.3, 0.5])
    seg = pd.DataFrame({
        "account_id": ids, "owner_rep_id": av.owner_rep_id, "tier": tier,
        "care_model": [CARE[t][0] for t in tier], "coverage_role": [CARE[t][1] for t in tier],
        "touches_per_year": [float(CARE[t][2]) for t in tier],
        "hours_per_touch": [CARE[t][3] for t in tier],
        "next_best_offer": rng.choice(FAMILIES, n),
        "reasons": "synthetic",
    })
    out = {
        "potential": pot, "potential_account": pa_,
        "propensity": pd.DataFrame({"account_id": ids, "ptb": rng.uniform(0.05, 0.9, n)}),
        "icp": pd.DataFrame({"account_id": ids, "icp_fit": rng.uniform(0, 100, n)}),
        "segments": seg,
    }
    return {k: pa.Table.from_pandas(v, preserve_index=False) for k, v in out.items()
            if k not in skip}


def plan_workspace(tmp_path, seed: int = 0, n: int = 80, *, skip: tuple[str, ...] = (),
                   inputs: dict[str, pd.DataFrame] | None = None,
                   as_of: dt.date = AS_OF, ws: Workspace | None = None) -> Workspace:
    """A workspace with the plan world loaded and one snapshot with every output."""
    tables = inputs or plan_world(seed, n)
    if ws is None:
        ws = Workspace.create(tmp_path / "plan.duckdb")
        load_inputs(ws, tables)
    res = run(ws, Config(), as_of=as_of, only=["value"], write=False)
    outputs = dict(res.outputs)
    outputs.update(synthetic_outputs(outputs["account_value"].to_pandas(),
                                     outputs["account_family_value"].to_pandas(), seed, skip))
    write_snapshot(ws, as_of=as_of, config=Config(), outputs=outputs)
    return ws


@pytest.fixture
def ws(tmp_path):
    w = plan_workspace(tmp_path)
    yield w
    w.close()


# -- independent reference ---------------------------------------------------------------


def _reference(ws: Workspace) -> pd.DataFrame:
    """Per account: what each rollup should add, straight from the snapshot tables."""
    q = ws.con.execute
    df = q("SELECT a.account_id, a.owner_rep_id, a.territory_id, a.region, a.industry, "
           "a.is_customer, p.current, p.potential, p.whitespace, pr.ptb, s.tier, p.road, "
           "s.touches_per_year * s.hours_per_touch AS hours "
           "FROM snap_1.account_value a JOIN snap_1.potential_account p USING (account_id) "
           "JOIN snap_1.propensity pr USING (account_id) "
           "JOIN snap_1.segments s USING (account_id)").df()
    terr_region = TERRITORIES.set_index("territory_id").region
    df["region"] = df.region.fillna(df.territory_id.map(terr_region))
    return df


def _ancestors(key: str, parent: dict) -> list[str]:
    out = []
    while isinstance(key, str) and key not in out:
        out.append(key)
        key = parent.get(key)
    return out


def _expected_sums(df: pd.DataFrame, members: dict[str, list[str]]) -> pd.DataFrame:
    """Sums per node, where members[node] lists the account ids under it."""
    rows = []
    for node, ids in members.items():
        g = df[df.account_id.isin(ids)]
        rows.append({"key": node, "accounts": len(g), "customers": int(g.is_customer.sum()),
                     "current": g.current.sum(), "potential": g.potential.sum(),
                     "whitespace": g.whitespace.sum(),
                     "expected_opportunity": (g.ptb * g.whitespace).sum(),
                     "workload_hours": g.hours.sum(),
                     "tier_1a": int((g.tier == "1a").sum()),
                     "road_develop": int((g.road == "Develop").sum())})
    return pd.DataFrame(rows).set_index("key")


def _check(got: pd.DataFrame, exp: pd.DataFrame) -> None:
    got = got.set_index("key").loc[exp.index]
    for c in exp.columns:
        np.testing.assert_allclose(got[c].astype(float), exp[c].astype(float), rtol=1e-9,
                                   err_msg=c)
    np.testing.assert_allclose(got.share_of_wallet, exp.current / exp.potential, rtol=1e-9)
    assert (got.prospects == got.accounts - got.customers).all()


def test_rollups_match_pandas(ws):
    src = PlanSource.from_workspace(ws)
    out = rollups(src)
    ref = _reference(ws)
    assert set(out.level) == {"total", "territory", "region", "industry", "rep", "manager"}

    # territory hierarchy: a node holds its whole subtree
    parent = dict(zip(TERRITORIES.territory_id, TERRITORIES.parent_id, strict=True))
    members: dict[str, list[str]] = {}
    for acc, t in zip(ref.account_id, ref.territory_id, strict=True):
        for node in _ancestors(t, parent):
            members.setdefault(node, []).append(acc)
    terr = out[out.level == "territory"]
    _check(terr, _expected_sums(ref, members))
    assert terr.set_index("key").loc["N1", "parent_key"] == "N"
    assert terr.set_index("key").loc["ALL", "accounts"] == len(ref)

    # management chain: a manager holds every rep below, the VP everything owned
    mgr = dict(zip(REPS.rep_id, REPS.manager_id, strict=True))
    members = {}
    for acc, r in zip(ref.account_id, ref.owner_rep_id, strict=True):
        for node in _ancestors(r, mgr) if isinstance(r, str) else []:
            if node in {"VP", "M1", "M2"}:
                members.setdefault(node, []).append(acc)
    _check(out[out.level == "manager"], _expected_sums(ref, members))

    for level, col in (("region", "region"), ("industry", "industry"), ("rep", "owner_rep_id")):
        keys = ref[col].fillna("(unowned)" if level == "rep" else "(none)")
        members = {k: ref.account_id[keys == k].tolist() for k in keys.unique()}
        _check(out[out.level == level], _expected_sums(ref, members))
    _check(out[out.level == "total"], _expected_sums(ref, {"all": ref.account_id.tolist()}))
    assert out[out.level == "rep"].set_index("key").loc["R1", "parent_key"] == "M1"


def test_missing_outputs_leave_columns_empty_and_note(tmp_path):
    ws = plan_workspace(tmp_path, skip=("potential_account", "propensity", "segments", "icp",
                                        "potential"))
    src = PlanSource.from_workspace(ws)
    out = rollups(src, ["total", "rep"])
    tot = out[out.level == "total"].iloc[0]
    assert tot.accounts == 80 and pd.isna(tot.potential) and pd.isna(tot.tier_1a)
    assert pd.isna(tot.expected_opportunity)
    assert tot.current == pytest.approx(ws.con.execute(
        "SELECT sum(value) FROM snap_1.account_value").fetchone()[0])
    assert any("potential_account" in n for n in src.notes)
    ws.close()


def test_no_reps_table_rolls_up_by_owner_with_note(tmp_path):
    tables = plan_world()
    del tables["reps"]
    ws = plan_workspace(tmp_path, inputs=tables)
    src = PlanSource.from_workspace(ws)
    out = rollups(src, ["rep", "manager"])
    assert set(out.level) == {"rep"}
    assert out.parent_key.isna().all()
    assert any("no reps table" in n for n in src.notes)
    ws.close()


def test_rep_book_and_review_list(ws):
    src = PlanSource.from_workspace(ws)
    book = rep_book(src, "R1")
    ref = _reference(ws)
    assert set(book.account_id) == set(ref.account_id[ref.owner_rep_id == "R1"])
    assert book.current.is_monotonic_decreasing
    rev = review_list(src, "R1", develop=3, prospects=2)
    dev = rev[rev.section == "develop"]
    mine = ref[(ref.owner_rep_id == "R1") & ref.is_customer]
    best = (mine.whitespace * mine.ptb).sort_values(ascending=False).head(3)
    np.testing.assert_allclose(dev.score.to_numpy(), best.to_numpy(), rtol=1e-9)
    assert dev["rank"].tolist() == [1, 2, 3]
    assert all("whitespace" in r and "chance to buy" in r for r in dev.reason)
    pros = rev[rev.section == "prospect"]
    assert (pros.score.diff().dropna() <= 0).all()
    with pytest.raises(NotFoundError, match="no rep 'NOPE'"):
        rep_book(src, "NOPE")


def test_plan_stage_puts_rollup_capacity_and_allocation(ws):
    assert STAGE_MODULES[-1] == "growthmap.plan.stage"
    outs = {n: ws.con.execute(f"SELECT * FROM snap_1.{n}").arrow().read_all() for n in (
        "account_value", "account_family_value", "potential", "potential_account",
        "propensity", "icp", "segments")}
    ctx = RunContext(config=Config(), as_of=AS_OF, source=ws, outputs=dict(outs))
    plan_stage(ctx)
    assert {"rollup", "capacity", "headcount", "capacity_scenarios", "allocation"} <= set(
        ctx.outputs)
    hc = ctx.frame("headcount")
    total = hc[hc.level == "total"].iloc[0]
    assert total.hours_required == pytest.approx(_reference(ws).hours.sum())
    # without segments the stage still runs and says what capacity needs
    del outs["segments"]
    ctx = RunContext(config=Config(), as_of=AS_OF, source=ws, outputs=dict(outs))
    plan_stage(ctx)
    assert "capacity" not in ctx.outputs and "rollup" in ctx.outputs
    assert any("care models" in n for n in ctx.notes)


def test_plan_stage_on_bare_inputs_runs_with_notes(tmp_path):
    """Accounts with an id only, transactions, nothing else: the run still succeeds."""
    tables = plan_world(n=30)
    tables = {"accounts": tables["accounts"][["account_id"]],
              "transactions": tables["transactions"]}
    ws = Workspace.create(tmp_path / "bare.duckdb")
    load_inputs(ws, tables)
    res = run(ws, Config(), as_of=AS_OF, only=["value", "plan"])
    roll = res.outputs["rollup"].to_pandas()
    assert set(roll.level) == {"total", "territory", "region", "industry", "rep"}
    assert roll[roll.level == "rep"].key.tolist() == ["(unowned)"]
    assert roll[roll.level == "total"].accounts.iloc[0] == 30
    assert "capacity" not in res.outputs and "allocation" not in res.outputs
    assert any("no reps table" in n for n in res.notes)
    ws.close()


def test_cli_plan_commands(tmp_path):
    from typer.testing import CliRunner

    from growthmap.cli import app

    ws = plan_workspace(tmp_path)
    path = str(ws.path)
    ws.close()
    runner = CliRunner()

    def cli(*args: str):
        return runner.invoke(app, ["-w", path, "plan", *args], env={"COLUMNS": "200"})

    r = cli("rollup", "--by", "manager")
    assert r.exit_code == 0, r.output
    assert "M1" in r.output and "VP" in r.output
    r = cli("review", "R1", "--develop", "2")
    assert r.exit_code == 0 and "Customers to develop" in r.output and "whitespace" in r.output
    r = cli("quotas", "--growth", "8%", "--save", "-o", str(tmp_path / "q.csv"))
    assert r.exit_code == 0, r.output
    q = pd.read_csv(tmp_path / "q.csv")
    assert "saved as quota set 1" in r.output and q.quota_cents.sum() > 0
    r = cli("capacity", "--scenario", "cost flat, revenue +8%")
    assert r.exit_code == 0 and "cost flat, revenue +8%" in r.output
    r = cli("allocate", "--heads", "8", "--max-change", "-1")
    assert r.exit_code == 0 and "Allocation of 8 heads" in r.output
    r = cli("align", "--tolerance", "0.2", "--lock", "A000=R2", "-o", str(tmp_path / "m.csv"),
            "--map", str(tmp_path / "m.png"))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"  # the before/after map
    moves = pd.read_csv(tmp_path / "m.csv")
    assert moves.set_index("account_id").loc["A000", "to_rep"] == "R2"
    # by default the map goes beside the moves file (never into the current directory)
    (tmp_path / "out").mkdir()
    r = cli("align", "--tolerance", "0.2", "-o", str(tmp_path / "out" / "moves.csv"))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "alignment-map.png").read_bytes()[:4] == b"\x89PNG"
    assert "alignment-map.png" in r.output.replace("\n", "")
    # user mistakes are one message and the exit code, never a traceback
    r = cli("book", "NOPE")
    assert r.exit_code == 5 and "no rep 'NOPE'" in r.output and "Traceback" not in r.output
    r = cli("quotas", "--growth", "lots")
    assert r.exit_code == 2 and "--growth 8%" in r.output
    r = cli("align", "--lock", "A000")
    assert r.exit_code == 2 and "ACCOUNT=REP" in r.output
