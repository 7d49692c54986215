"""The potential stage end to end: a real DuckDB workspace, outputs checked with pandas."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy.stats import spearmanr
from typer.testing import CliRunner

from growthmap.cli import app
from growthmap.config import Config
from growthmap.errors import ConfigError
from growthmap.potential.backtest import backtest, backtest_sample, evaluate_snapshot
from growthmap.potential.evaluate import growth_lift
from growthmap.potential.matrix import nice
from growthmap.runner.duckdb_run import run
from growthmap.workspace import Workspace

AS_OF = dt.date(2025, 12, 31)
FAMILIES = ("Boxes", "Cables", "Support")
#: yearly wallet per employee, industry x family; 'food' never uses Support
INTENSITY = {"steel": (300.0, 120.0, 80.0), "food": (100.0, 60.0, 0.0),
             "pharma": (500.0, 200.0, 150.0)}
GBM = {"n_estimators": 40, "folds": 3, "gbm_min_buyers": 40, "min_group_size": 10,
       "backtest": False}


def _world(n: int = 600, seed: int = 0):
    """Accounts, products, two years of transactions and the true wallets behind them."""
    rng = np.random.default_rng(seed)
    ind = rng.choice(list(INTENSITY), n)
    emp = np.round(np.exp(rng.normal(4, 1.0, n))) + 1
    acc = pd.DataFrame({
        "account_id": [f"A{i:04d}" for i in range(n)],
        "industry": ind,
        "region": rng.choice(["north", "south"], n),
        "employees": emp.astype("int64"),
        "annual_revenue": np.round(emp * 150_000 * np.exp(rng.normal(0, 0.3, n)), -3),
    })
    wallet = np.array([INTENSITY[i] for i in ind]) * emp[:, None]
    customer = rng.random(n) < 0.6
    share = rng.uniform(0.15, 1.0, (n, len(FAMILIES)))
    buys = customer[:, None] & (rng.random((n, len(FAMILIES))) < 0.7) & (wallet > 0)
    # in 2025 buyers close a third of their gap, and some open cells start buying
    adopt = ~buys & (wallet > 0) & (rng.random(buys.shape) < 0.2)
    share_2025 = np.where(buys, share + (1 - share) / 3, np.where(adopt, 0.3, 0.0))
    lines = []
    for year, sh in ((2024, np.where(buys, share, 0.0)), (2025, share_2025)):
        a, f = np.nonzero(sh > 0)
        for q in range(4):  # one invoice per quarter
            day = pd.Timestamp(f"{year}-{3 * q + 2:02d}-15")
            amt = np.round(wallet[a, f] * sh[a, f] / 4, 2)
            lines.append(pd.DataFrame({"account_id": acc.account_id.to_numpy()[a],
                                       "date": day, "product_id": [f"P{k}" for k in f],
                                       "amount": amt}))
    tx = pd.concat(lines, ignore_index=True)
    tx.insert(0, "line_id", [f"L{i}" for i in range(len(tx))])
    prod = pd.DataFrame({"product_id": [f"P{k}" for k in range(len(FAMILIES))],
                         "family": list(FAMILIES)})
    truth = pd.DataFrame([(acc.account_id[i], FAMILIES[j], wallet[i, j])
                          for i, j in zip(*np.nonzero(wallet > 0), strict=True)],
                         columns=["account_id", "family", "wallet"])
    return acc, tx, prod, truth


def _workspace(tmp_path, tables: dict[str, pd.DataFrame], truth: pd.DataFrame | None = None,
               name: str = "ws.duckdb") -> Workspace:
    ws = Workspace.create(tmp_path / name)
    for t, df in tables.items():
        ws.con.register("df", df)
        cast = "CAST(date AS DATE) AS date, * EXCLUDE (date)" if t == "transactions" else "*"
        ws.con.execute(f"CREATE TABLE main.{t} AS SELECT {cast} FROM df")
        ws.con.unregister("df")
    if truth is not None:
        ws.con.execute("CREATE SCHEMA truth")
        ws.con.register("df", truth)
        ws.con.execute("CREATE TABLE truth.wallet AS SELECT * FROM df")
        ws.con.unregister("df")
    return ws


@pytest.fixture(scope="module")
def world():
    return _world()


@pytest.fixture(scope="module")
def result(world, tmp_path_factory):
    acc, tx, prod, truth = world
    ws = _workspace(tmp_path_factory.mktemp("pot"), {"accounts": acc, "transactions": tx,
                                                      "products": prod}, truth)
    cfg = Config.from_dict({"potential": GBM})
    res = run(ws, cfg, as_of=AS_OF, only=["value", "potential", "markets"])
    ws.close()
    return ws.path, res


def test_outputs_have_the_agreed_columns(result):
    _, res = result
    cols = {k: res.outputs[k].column_names for k in
            ("potential", "potential_account", "whitespace_competitor", "matrix", "markets")}
    assert cols["potential"] == [
        "account_id", "family", "current", "potential", "low", "high", "whitespace",
        "whitespace_open", "whitespace_competitor", "share_of_wallet", "method",
        "peer_group", "low_confidence", "drivers", "potential_model", "adjusted_by",
        "adjusted_at"]
    assert cols["potential_account"] == [
        "account_id", "current", "potential", "low", "high", "whitespace",
        "share_of_wallet", "value_band", "potential_band", "matrix_cell", "road",
        "low_confidence", "potential_model", "adjusted_by", "adjusted_at"]
    assert cols["whitespace_competitor"] == ["account_id", "family", "competitor", "held"]
    assert cols["matrix"] == ["value_band", "potential_band", "accounts", "customers",
                              "current", "potential", "whitespace"]
    assert cols["markets"] == ["market", "accounts", "current", "potential", "whitespace"]


def test_cells_are_consistent_and_current_matches_pandas(result, world):
    _, res = result
    acc, tx, prod, truth = world
    p = res.outputs["potential"].to_pandas()
    assert len(p) == len(acc) * len(FAMILIES)
    # current spend per cell, the plain-pandas way
    t = tx.merge(prod, on="product_id")
    t = t[(t.date > pd.Timestamp("2024-12-31")) & (t.date <= pd.Timestamp(AS_OF))]
    cur = t.groupby(["account_id", "family"]).amount.sum()
    got = p.set_index(["account_id", "family"])["current"]
    np.testing.assert_allclose(got.reindex(cur.index), cur, rtol=1e-9)
    assert (p.potential >= p.current - 1e-9).all()
    np.testing.assert_allclose(p.whitespace, np.maximum(p.potential - p.current, 0))
    assert ((p.low <= p.potential + 1e-9) & (p.potential <= p.high + 1e-9)).all()
    pos = p.potential > 0
    np.testing.assert_allclose(p.share_of_wallet[pos], (p.current / p.potential)[pos])
    np.testing.assert_allclose(p.whitespace_open, p.whitespace)  # no competitors table
    # food never buys Support: no potential there, and the reason is on the card
    food = p.account_id.isin(acc.account_id[acc.industry == "food"])
    sup = p[food & (p.family == "Support")]
    assert (sup.potential == 0).all() and (sup.method == "not_relevant").all()
    assert sup.drivers.str.contains("does not buy").all()
    rest = p[~(food & (p.family == "Support"))]
    assert (rest.method == "quantile_gbm").all()
    drivers = json.loads(rest.drivers.iloc[0])
    assert {d["feature"] for d in drivers} <= {"employees", "annual_revenue", "industry",
                                               "region"}
    # the ranking follows the true wallet
    w = truth.groupby("account_id").wallet.sum()
    a = res.outputs["potential_account"].to_pandas().set_index("account_id")
    assert spearmanr(a.potential, w.reindex(a.index)).statistic > 0.9


def test_account_totals_bands_road_and_matrix_match_pandas(result):
    _, res = result
    p = res.outputs["potential"].to_pandas()
    a = res.outputs["potential_account"].to_pandas()
    av = res.outputs["account_value"].to_pandas()[["account_id", "status"]]
    sums = p.groupby("account_id")[["current", "potential", "whitespace"]].sum()
    a = a.merge(av, on="account_id")
    np.testing.assert_allclose(a.set_index("account_id")[sums.columns].loc[sums.index], sums)
    th = res.evaluations["potential"]["thresholds"]
    if th["sources"]["bands"] == "amounts":  # the configured amounts split the data
        assert th["value_edges"] == [100_000, 1_000_000]
    else:  # they left a band empty: round amounts near the quantiles instead
        assert th["sources"]["bands"].startswith("round amounts")
        for edges in (th["value_edges"], th["potential_edges"]):
            assert edges == sorted(set(edges)) and all(nice(e) == e for e in edges)

    def band(x, edges):
        return np.array(["low", "medium", "high"])[np.searchsorted(edges, x, side="right")]

    np.testing.assert_array_equal(a.value_band, band(a.current, th["value_edges"]))
    np.testing.assert_array_equal(a.potential_band, band(a.potential, th["potential_edges"]))
    cust = a[a.status == "customer"]
    assert th["road_value"] == pytest.approx(np.quantile(cust.current, 0.8))
    assert th["road_whitespace"] == pytest.approx(np.quantile(a.whitespace, 0.8))
    hv = (a.current > 0) & (a.current >= th["road_value"])
    hw = (a.whitespace > 0) & (a.whitespace >= th["road_whitespace"])
    expect = np.select([hv & hw, hv, hw], ["Develop", "Retain", "Acquire"], "Opportunistic")
    np.testing.assert_array_equal(a.road, expect)
    assert set(a.road[a.status == "prospect"]) <= {"Acquire", "Opportunistic"}
    m = res.outputs["matrix"].to_pandas().set_index(["value_band", "potential_band"])
    g = a.groupby(["value_band", "potential_band"])
    np.testing.assert_array_equal(m.accounts, g.size().loc[m.index])
    np.testing.assert_allclose(m.potential, g.potential.sum().loc[m.index])
    np.testing.assert_array_equal(m.customers, g.status.apply(lambda s: (s == "customer").sum())
                                  .loc[m.index])
    mk = res.outputs["markets"].to_pandas().set_index("market")
    assert list(mk.index) == ["addressable", "obtainable", "active"]
    assert mk.loc["addressable", "accounts"] == (a.potential > 0).sum()
    ob = (a.potential > 0) & (a.potential >= th["obtainable_potential"])
    assert mk.loc["obtainable", "accounts"] == ob.sum()
    assert mk.loc["active", "current"] == pytest.approx(cust.current.sum())
    x = th["headline"]
    assert x == th["value_edges"][0]
    now = ((a.status == "customer") & (a.current >= x)).sum()
    could = (a.potential >= x).sum()
    assert res.evaluations["potential"]["headline"].startswith(
        f"Today {now:,} customers buy at least {x:,.0f} EUR a year; {could:,} accounts")


def test_truth_evaluation_is_stored_and_printed(result, world):
    path, res = result
    _, _, _, truth = world
    ev = res.evaluations["potential"]["truth"]
    a = res.outputs["potential_account"].to_pandas()
    av = res.outputs["account_value"].to_pandas().set_index("account_id")["status"]
    w = truth.groupby("account_id").wallet.sum().reindex(a.account_id).fillna(0).to_numpy()
    cust = (a.account_id.map(av) == "customer").to_numpy()
    assert ev["account"]["customers"]["spearman"] == pytest.approx(
        spearmanr(a.potential[cust], w[cust]).statistic, abs=1e-4)
    inside = (w >= a.low) & (w <= a.high) & (w > 0)
    assert ev["account"]["all"]["coverage"] == pytest.approx(inside.sum() / (w > 0).sum(),
                                                             abs=1e-4)
    with Workspace.open(path, read_only=True) as ws:
        stored = json.loads(ws.snapshot_info(res.snapshot_id)["evaluations"])
    assert stored["potential"]["truth"]["account"]["all"]["n"] == len(a)
    out = CliRunner().invoke(app, ["-w", str(path), "evaluate", "potential"])
    assert out.exit_code == 0, out.output
    assert "Spearman" in out.output and "customers" in out.output


def test_competitors_and_vendor_figures(tmp_path, world):
    acc, tx, prod, truth = world
    ext = truth.iloc[::5].assign(potential=lambda d: d.wallet.round(-1)).drop(columns="wallet")
    comp = pd.DataFrame({"account_id": acc.account_id[:40].repeat(2).to_numpy(),
                         "family": ["Boxes", "Cables"] * 40,
                         "competitor": ["Rival", "Other"] * 40, "share": [0.3, 0.9] * 40})
    ws = _workspace(tmp_path, {"accounts": acc, "transactions": tx, "products": prod,
                               "external_potential": ext, "competitors": comp})
    cfg = Config.from_dict({"potential": {**GBM, "calibration_min_cells": 20}})
    res = run(ws, cfg, as_of=AS_OF, only=["value", "potential"], write=False)
    p = res.outputs["potential"].to_pandas().set_index(["account_id", "family"])
    e = ext.set_index(["account_id", "family"])["potential"]
    cells = p.loc[e.index]
    np.testing.assert_allclose(cells.potential, np.maximum(e, cells.current))
    assert (cells.method == "external").all()
    assert cells.drivers.str.contains("vendor figure").all()
    assert "calibration" in res.evaluations["potential"]["summary"]
    held = res.outputs["whitespace_competitor"].to_pandas()
    tot = held.groupby(["account_id", "family"]).held.sum()
    np.testing.assert_allclose(p.loc[tot.index, "whitespace_competitor"], tot)
    np.testing.assert_allclose(p.whitespace_open + p.whitespace_competitor, p.whitespace)
    rival = held[held.competitor == "Rival"].set_index(["account_id", "family"]).held
    expect = np.minimum(0.3 * p.loc[rival.index, "potential"], p.loc[rival.index, "whitespace"])
    np.testing.assert_allclose(rival, expect)
    ws.close()


def test_backtest_matches_a_run_as_of_a_year_earlier(tmp_path, world):
    acc, tx, prod, _ = world
    ws = _workspace(tmp_path, {"accounts": acc, "transactions": tx, "products": prod})
    cfg = Config.from_dict({"potential": {**GBM, "backtest": True}})
    res = run(ws, cfg, as_of=AS_OF, only=["value", "potential"])
    bt = res.evaluations["potential"]["backtest"]
    assert bt["estimated_as_of"] == "2024-12-31"
    then = run(ws, cfg.model_copy(update={"potential": cfg.potential.model_copy(
        update={"backtest": False, "combine": "model", "calibrate": False})}),
        as_of=dt.date(2024, 12, 31), only=["value", "potential"], write=False)
    a = then.outputs["potential_account"].to_pandas().set_index("account_id")
    spend = tx.groupby([tx.account_id, tx.date.dt.year]).amount.sum().unstack(fill_value=0)
    growth = (spend[2025] - spend[2024]).reindex(a.index).fillna(0)
    assert bt["account"] == growth_lift(a.whitespace, growth)
    assert bt["account"]["lift"] > 2  # growth here is closing the gap to the wallet
    ev = evaluate_snapshot(ws, res.snapshot_id, backtest_run=True, config=cfg)
    assert ev["backtest"]["account"] == bt["account"]
    ws.close()


def test_a_large_workspace_backtests_a_fixed_sample_of_accounts(tmp_path, world):
    acc, tx, prod, _ = world
    ws = _workspace(tmp_path, {"accounts": acc, "transactions": tx, "products": prod})
    cfg = Config.from_dict({"potential": {**GBM, "backtest_max_accounts": 250}})
    sample = backtest_sample(ws, 250, cfg.run.seed)
    assert len(sample) == 250 and len(set(sample.to_pylist())) == 250
    # the sample depends on the accounts alone, not on their order or the others
    other = _workspace(tmp_path, {"accounts": acc.iloc[::-1].reset_index(drop=True).copy(),
                                  "transactions": tx,
                                  "products": prod}, name="rev.duckdb")
    assert set(backtest_sample(other, 250, cfg.run.seed).to_pylist()) == set(sample.to_pylist())
    assert backtest_sample(ws, 600, cfg.run.seed) is None  # not more than the limit: all
    bt = backtest(ws, cfg, AS_OF)
    assert bt["sampled_accounts"] == 250 and bt["account"]["n"] == 250
    # the same as a backtest of a workspace that only holds the sampled accounts
    keep = set(sample.to_pylist())
    small = _workspace(tmp_path, {
        "accounts": acc[acc.account_id.isin(keep)].reset_index(drop=True),
        "transactions": tx[tx.account_id.isin(keep)].reset_index(drop=True),
        "products": prod}, name="small.duckdb")
    ref = backtest(small, Config.from_dict({"potential": GBM}), AS_OF)
    assert "sampled_accounts" not in ref
    assert {k: v for k, v in bt.items() if k != "sampled_accounts"} == ref
    for w in (ws, other, small):
        w.close()


def test_same_inputs_give_the_same_outputs_bit_for_bit(tmp_path, world):
    acc, tx, prod, truth = world
    ext = truth.iloc[::4].assign(potential=lambda d: d.wallet.round(-1)).drop(columns="wallet")
    ws = _workspace(tmp_path, {"accounts": acc, "transactions": tx, "products": prod,
                               "external_potential": ext})
    cfg = Config.from_dict({"potential": {**GBM, "calibration_min_cells": 20}})
    runs = [run(ws, cfg, as_of=AS_OF, only=["value", "potential"], write=False)
            for _ in range(2)]
    for name in ("potential", "potential_account", "whitespace_competitor"):
        a, b = (r.outputs[name] for r in runs)
        assert a.schema == b.schema, name
        pd.testing.assert_frame_equal(a.to_pandas(), b.to_pandas(), check_exact=True)
    p = runs[0].outputs["potential"]
    assert all(pa.types.is_string(p.schema.field(c).type)
               for c in ("account_id", "family", "drivers"))
    # few distinct values over many cells: dictionary-encoded, and text in a snapshot
    assert all(p.schema.field(c).type == pa.dictionary(pa.int32(), pa.string())
               for c in ("method", "peer_group"))
    # a share of no wallet is missing (null), not NaN
    sow = p.column("share_of_wallet")
    assert sow.null_count > 0 and not pc.any(pc.is_nan(sow.drop_null())).as_py()
    sid = run(ws, cfg, as_of=AS_OF, only=["value", "potential"]).snapshot_id
    types = dict(ws.con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = 'snap_{sid}' AND table_name = 'potential'").fetchall())
    assert types["method"] == types["peer_group"] == types["drivers"] == "VARCHAR"
    ws.close()


def test_growth_lift_by_hand():
    ws = np.arange(20, dtype=float)
    g = np.r_[np.zeros(18), 10.0, 30.0]
    out = growth_lift(ws, g)
    assert out["lift"] == pytest.approx(20.0 / 2.0)  # top 2 hold all growth
    assert out["share_of_positive_growth_in_top"] == 1.0
    assert growth_lift(ws[:5], g[:5])["lift"] is None


def test_peer_method_without_sizes_says_so(tmp_path, world):
    acc, tx, prod, _ = world
    ws = _workspace(tmp_path, {"accounts": acc.drop(columns=["employees"]),
                               "transactions": tx, "products": prod})
    cfg = Config.from_dict({"potential": {**GBM, "method": "peer"}})
    res = run(ws, cfg, as_of=AS_OF, only=["value", "potential"], write=False)
    p = res.outputs["potential"].to_pandas()
    assert any("no employees" in n for n in res.notes)
    assert any("no external_potential" in n for n in res.notes)
    rel = p[p.method != "not_relevant"]
    assert (rel.method == "peer").all() and rel.low_confidence.all()
    assert (rel.peer_group == "all buyers (no employees)").all()
    ws.close()


def test_without_products_everything_is_one_family(tmp_path, world):
    acc, tx, _, _ = world
    ws = _workspace(tmp_path, {"accounts": acc, "transactions": tx})
    cfg = Config.from_dict({"potential": {**GBM, "band_method": "quantile"}})
    res = run(ws, cfg, as_of=AS_OF, only=["value", "potential"], write=False)
    p = res.outputs["potential"].to_pandas()
    assert set(p.family) == {"Unassigned"} and len(p) == len(acc)
    a = res.outputs["potential_account"].to_pandas()
    cust = a.current[a.current > 0]
    th = res.evaluations["potential"]["thresholds"]
    assert th["value_edges"] == pytest.approx(list(np.quantile(cust, [0.5, 0.9])))
    assert set(a.value_band) == {"low", "medium", "high"}


@pytest.mark.parametrize("section, key", [
    ({"band_labels": ["low", "high"]}, "band_labels"),
    ({"value_bands": [1_000_000, 100_000]}, "value_bands"),
    ({"quantile": 1.5}, "quantile"),
    ({"method": "magic"}, "method"),
    ({"colour": "red"}, "colour"),
])
def test_config_mistakes_name_the_key(section, key):
    with pytest.raises(ConfigError) as exc:
        Config.from_dict({"potential": section})
    assert f"potential.{key}" in str(exc.value) or "potential:" in str(exc.value)


def test_configured_features_are_used_and_missing_ones_noted(tmp_path, world):
    acc, tx, prod, truth = world
    w = truth.groupby("account_id").wallet.sum()
    acc = acc.assign(it_budget=acc.account_id.map(w).fillna(0) * 0.05)
    ws = _workspace(tmp_path, {"accounts": acc, "transactions": tx, "products": prod})
    cfg = Config.from_dict({"potential": {**GBM, "features": ["it_budget", "nope"]}})
    res = run(ws, cfg, as_of=AS_OF, only=["value", "potential"], write=False)
    assert any("'nope'" in n for n in res.notes)
    p = res.outputs["potential"].to_pandas()
    assert p.drivers.str.contains('"it_budget"').mean() > 0.5
    ws.close()


def test_evaluate_without_a_potential_output_is_a_clear_error(tmp_path, world):
    acc, tx, prod, _ = world
    ws = _workspace(tmp_path, {"accounts": acc, "transactions": tx, "products": prod})
    run(ws, Config(), as_of=AS_OF, only=["value"])
    ws.close()
    out = CliRunner().invoke(app, ["-w", str(tmp_path / "ws.duckdb"), "evaluate", "potential"])
    assert out.exit_code == 4
    assert "no potential output" in out.output and "fix:" in out.output


def test_markets_use_icp_fit_when_a_run_has_it():
    import ibis

    from growthmap.potential.matrix import Thresholds, markets

    t = ibis.memtable(pd.DataFrame({
        "account_id": ["a", "b", "c", "d"], "status": ["customer", "prospect", "prospect",
                                                       "customer"],
        "current": [10.0, 0.0, 0.0, 5.0], "potential": [100.0, 50.0, 0.0, 5.0],
        "whitespace": [90.0, 50.0, 0.0, 0.0]}))
    icp = ibis.memtable(pd.DataFrame({"account_id": ["a", "b", "c"],
                                      "icp_fit": [40.0, 80.0, 90.0]}))
    th = Thresholds([1.0], [1.0], ["lo", "hi"], 0.0, 0.0, obtainable_potential=60.0,
                    headline=1.0)
    with_fit = markets(t, th, icp, min_fit=50).to_pandas().set_index("market")
    assert with_fit.accounts.to_dict() == {"addressable": 3, "obtainable": 1, "active": 2}
    assert with_fit.loc["obtainable", "potential"] == 50.0  # b: fit 80; c has no potential
    no_fit = markets(t, th).to_pandas().set_index("market")
    assert no_fit.loc["obtainable", "accounts"] == 1 and no_fit.loc["obtainable",
                                                                     "potential"] == 100.0
