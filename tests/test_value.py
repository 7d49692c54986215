"""Current value checked against an independent pandas computation."""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from growthmap.config import Config
from growthmap.errors import ConfigError, WorkspaceError
from growthmap.runner.duckdb_run import run
from growthmap.value.stage import ultimate_parents
from growthmap.workspace import Workspace

AS_OF = dt.date(2025, 6, 30)


def _world(seed: int = 1, n: int = 120) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    acc = pd.DataFrame({
        "account_id": [f"A{i:03d}" for i in range(n)],
        "industry": rng.choice(["steel", "food", "pharma"], n),
        "region": rng.choice(["north", "south"], n),
        "employees": rng.integers(5, 5000, n),
    })
    m = 3000
    tx = pd.DataFrame({
        "line_id": [f"L{i}" for i in range(m)],
        "account_id": rng.choice(acc.account_id[: int(n * 0.7)], m),
        "date": pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 1000, m), "D"),
        "product_id": rng.choice(["p1", "p2", "p3", "p4"], m),
        "amount": np.round(rng.lognormal(6, 1.2, m), 2),
    })
    tx.loc[rng.choice(m, 60, replace=False), "amount"] *= -0.3  # credit notes
    tx["cost"] = (tx.amount.abs() * rng.uniform(0.4, 0.8, m)).round(2)
    prod = pd.DataFrame({"product_id": ["p1", "p2", "p3", "p4"],
                         "family": ["Tools", "Tools", "Service", "Parts"]})
    return acc, tx, prod


def _workspace(tmp_path, acc, tx, prod) -> Workspace:
    ws = Workspace.create(tmp_path / "ws.duckdb")
    for name, df in {"accounts": acc, "transactions": tx, "products": prod}.items():
        ws.con.register("df", df)
        cast = "CAST(date AS DATE) AS date, * EXCLUDE (date)" if name == "transactions" else "*"
        ws.con.execute(f"CREATE TABLE main.{name} AS SELECT {cast} FROM df")
        ws.con.unregister("df")
    return ws


def _expected(acc: pd.DataFrame, tx: pd.DataFrame, prod: pd.DataFrame) -> pd.DataFrame:
    """Trailing/prior 12-month revenue per account, the plain-pandas way."""
    d = tx.merge(prod, on="product_id")
    d = d[d.date <= pd.Timestamp(AS_OF)]
    start = pd.Timestamp(AS_OF) - pd.DateOffset(months=12)
    prior = start - pd.DateOffset(months=12)
    win = d[d.date > start]
    out = acc[["account_id"]].copy()
    out["revenue_t12m"] = out.account_id.map(win.groupby("account_id").amount.sum()).fillna(0)
    p = d[(d.date > prior) & (d.date <= start)]
    out["revenue_prior"] = out.account_id.map(p.groupby("account_id").amount.sum()).fillna(0)
    gm = (win.amount - win.cost).groupby(win.account_id).sum()
    out["gross_margin_t12m"] = out.account_id.map(gm)
    buyers = set(win[win.amount > 0].account_id)
    out["is_customer"] = out.account_id.isin(buyers)
    out["families_t12m"] = out.account_id.map(
        win[win.amount > 0].groupby("account_id").family.nunique()).fillna(0)
    return out.set_index("account_id")


def _gini(x: np.ndarray) -> float:
    x = np.sort(x)
    n = len(x)
    return float((2 * np.arange(1, n + 1) @ x) / (n * x.sum()) - (n + 1) / n)


def test_current_value_matches_pandas(tmp_path):
    acc, tx, prod = _world()
    ws = _workspace(tmp_path, acc, tx, prod)
    res = run(ws, Config(), as_of=AS_OF)
    got = res.outputs["account_value"].to_pandas().set_index("account_id")
    exp = _expected(acc, tx, prod)
    assert len(got) == len(acc)
    for col in ("revenue_t12m", "revenue_prior", "families_t12m"):
        np.testing.assert_allclose(got.loc[exp.index, col], exp[col], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(got.loc[exp.index, "gross_margin_t12m"].fillna(0),
                               exp["gross_margin_t12m"].fillna(0), rtol=1e-9, atol=1e-6)
    assert (got.loc[exp.index, "is_customer"] == exp.is_customer).all()

    # concentration over customers, values clipped at zero
    v = np.clip(exp[exp.is_customer].revenue_t12m.to_numpy(), 0, None)
    conc = res.outputs["concentration"].to_pandas()
    allrow = conc[conc.dimension == "all"].iloc[0]
    assert allrow.gini == pytest.approx(_gini(v), rel=1e-9)
    assert allrow.hhi == pytest.approx(((v / v.sum()) ** 2).sum(), rel=1e-9)
    top = np.sort(v)[::-1][: int(np.ceil(0.2 * len(v)))].sum() / v.sum()
    assert allrow.top20_share == pytest.approx(top, rel=1e-9)
    ind = conc[conc.dimension == "industry"].set_index("group")
    cust = exp[exp.is_customer].join(acc.set_index("account_id"))
    arpa = cust.groupby("industry").revenue_t12m.apply(lambda s: s.clip(lower=0).sum() / len(s))
    np.testing.assert_allclose(ind.loc[arpa.index, "arpa"], arpa, rtol=1e-9)

    # tiers: A holds the accounts that make the first 50% of value
    tiers = got.sort_values(["value", "account_id"], ascending=[False, True])
    share = tiers.value.clip(lower=0) / tiers.value.clip(lower=0).sum()
    before = share.cumsum() - share
    exp_tier = np.select([tiers.value <= 0, before < 0.5, before < 0.8, before < 0.95],
                         ["D", "A", "B", "C"], "D")
    assert (tiers.value_tier.to_numpy() == exp_tier).all()
    assert res.snapshot_id == 1


def test_no_row_after_as_of_changes_anything(tmp_path):
    acc, tx, prod = _world()
    base = run(_workspace(tmp_path / "a", acc, tx, prod), as_of=AS_OF).outputs
    future = tx.sample(200, random_state=3).assign(
        date=pd.Timestamp(AS_OF) + pd.Timedelta(days=1), line_id=lambda d: d.line_id + "F")
    later = run(_workspace(tmp_path / "b", acc, pd.concat([tx, future]), prod), as_of=AS_OF).outputs
    for name in ("account_value", "account_family_value", "concentration", "pareto"):
        assert base[name].equals(later[name]), name


def test_absolute_bands_and_gross_margin(tmp_path):
    acc, tx, prod = _world()
    ws = _workspace(tmp_path, acc, tx, prod)
    cfg = Config.from_dict({"value": {"tier_method": "absolute", "measure": "gross_margin",
                                      "tier_bands": [5000, 2000, 500]}})
    av = run(ws, cfg, as_of=AS_OF).outputs["account_value"].to_pandas()
    v = av.gross_margin_t12m.fillna(0)
    exp = np.select([v >= 5000, v >= 2000, v >= 500], ["A", "B", "C"], "D")
    assert (av.value_tier.to_numpy() == exp).all()


def test_gross_margin_without_cost_is_a_config_error(tmp_path):
    acc, tx, prod = _world()
    ws = _workspace(tmp_path, acc, tx.drop(columns="cost"), prod)
    with pytest.raises(ConfigError, match="cost"):
        run(ws, Config.from_dict({"value": {"measure": "gross_margin"}}), as_of=AS_OF)
    assert ws.snapshot_ids() == []  # a failed run writes nothing


def test_failed_run_keeps_previous_snapshot(tmp_path):
    acc, tx, prod = _world()
    ws = _workspace(tmp_path, acc, tx, prod)
    run(ws, as_of=AS_OF)
    before = ws.con.execute("SELECT count(*) FROM snap_1.account_value").fetchall()
    ws.con.execute("DROP TABLE main.transactions")
    with pytest.raises(WorkspaceError):
        run(ws, as_of=AS_OF)
    assert ws.snapshot_ids() == [1]
    assert ws.con.execute("SELECT count(*) FROM snap_1.account_value").fetchall() == before


def test_corporate_families_roll_up(tmp_path):
    acc, tx, prod = _world()
    acc["parent_id"] = None
    acc.loc[acc.account_id.isin(["A001", "A002"]), "parent_id"] = "A000"
    acc.loc[acc.account_id == "A003", "parent_id"] = "A001"  # grandchild
    top = ultimate_parents(acc)
    assert top["A003"] == "A000" and top["A002"] == "A000" and top["A005"] == "A005"
    ws = _workspace(tmp_path, acc, tx, prod)
    av = run(ws, Config.from_dict({"value": {"rollup_parents": True}}), as_of=AS_OF)
    av = av.outputs["account_value"].to_pandas().set_index("account_id")
    fam = av.loc[["A000", "A001", "A002", "A003"]]
    assert fam.value_tier.nunique() == 1
    assert fam.group_value.iloc[0] == pytest.approx(fam.value.sum())


def test_parent_cycle_does_not_hang():
    acc = pd.DataFrame({"account_id": ["a", "b", "c"], "parent_id": ["b", "a", None]})
    top = ultimate_parents(acc)
    assert set(top.index) == {"a", "b", "c"} and top["c"] == "c"


def test_demo_world_current_value_matches_pandas(tmp_path):
    """On the demo world loaded through the real loader, value figures equal pandas'."""
    from growthmap.demo import DEMO_AS_OF, build_demo_workspace

    ws = build_demo_workspace(tmp_path / "demo.duckdb", n_accounts=800, seed=7)
    res = run(ws, as_of=DEMO_AS_OF, only=["value"], write=False)
    acc = ws.con.execute("SELECT * FROM main.accounts").df()
    tx = ws.con.execute("SELECT * FROM main.transactions").df()
    prod = ws.con.execute("SELECT * FROM main.products").df()
    tx["date"] = pd.to_datetime(tx.date)
    d = tx.merge(prod[["product_id", "family"]], on="product_id", how="left")
    start = pd.Timestamp(DEMO_AS_OF) - pd.DateOffset(months=12)
    win = d[(d.date > start) & (d.date <= pd.Timestamp(DEMO_AS_OF))]
    exp = win.groupby("account_id").amount.sum()
    got = res.outputs["account_value"].to_pandas().set_index("account_id")
    assert len(got) == len(acc)
    np.testing.assert_allclose(got.revenue_t12m.reindex(exp.index), exp, rtol=1e-9)
    assert (got.revenue_t12m.drop(exp.index) == 0).all()
    fam = win.groupby(["account_id", "family"]).amount.sum()
    afv = res.outputs["account_family_value"].to_pandas().set_index(["account_id", "family"])
    np.testing.assert_allclose(afv.revenue_t12m.reindex(fam.index), fam, rtol=1e-9)
    cust = set(win[win.amount > 0].account_id)
    assert set(got.index[got.is_customer]) == cust


def _assert_same(name: str, got: pa.Table, want: pa.Table) -> None:
    """Same columns, rows and types; floats equal to 1e-12 relative, the rest exactly."""
    assert got.column_names == want.column_names, name
    assert got.num_rows == want.num_rows, name
    for c in want.column_names:
        a, b = got[c], want[c]
        if pa.types.is_floating(b.type):
            np.testing.assert_allclose(a.to_numpy(), b.cast(a.type).to_numpy(), rtol=1e-12,
                                       atol=1e-12, err_msg=f"{name}.{c}")
        else:
            assert a.to_pylist() == b.cast(a.type).to_pylist(), f"{name}.{c}"


@pytest.mark.parametrize("settings", [
    {},
    {"measure": "gross_margin", "tier_method": "absolute", "tier_bands": [5000, 2000, 500],
     "rollup_parents": True, "group_by": ["industry", "region", "employees"]},
])
def test_stage_figures_equal_the_portable_ibis_definitions(tmp_path, settings):
    """The stage computes account value, tiers, concentration and Pareto in Arrow from
    the account x family table; the Ibis functions define the same figures."""
    from growthmap.value.stage import (
        account_family_value,
        account_value,
        assign_tiers,
        concentration,
        family_lines,
        pareto_points,
    )

    acc, tx, prod = _world(seed=4, n=150)
    acc["parent_id"] = None
    acc.loc[acc.account_id.isin(["A001", "A002", "A010"]), "parent_id"] = "A000"
    if not settings:  # a product the products table lacks: counted without the bit mask
        tx.loc[tx.index[:40], "product_id"] = "p9"
    ws = _workspace(tmp_path, acc, tx, prod)
    cfg = Config.from_dict({"value": settings})
    out = run(ws, cfg, as_of=AS_OF, only=["value"], write=False).outputs
    v = cfg.value
    b = ws.ibis
    lines = family_lines(ws.table("transactions"), ws.table("products"), AS_OF)
    afv = b.to_pyarrow(account_family_value(lines, AS_OF, v.lookback_months))
    _assert_same("account_family_value", out["account_family_value"], afv)
    av = account_value(ws.table("accounts"), ibis.memtable(afv), AS_OF, v.measure)
    kw = dict(method=v.tier_method, shares=v.tier_cumulative_shares, bands=v.tier_bands)
    if v.rollup_parents:
        top = ultimate_parents(acc).rename("group_account_id").reset_index()
        av = av.inner_join(ibis.memtable(top), "account_id")
        groups = assign_tiers(av.group_by("group_account_id").aggregate(
            group_value=av.value.sum()), "group_value", key="group_account_id", **kw)
        groups = groups.select(_gid="group_account_id", _gtier="value_tier",
                               group_value="group_value")
        av = assign_tiers(av, "value", **kw).drop("value_tier")
        av = av.inner_join(groups, av.group_account_id == groups._gid)
        av = av.mutate(value_tier=av._gtier).drop("_gid", "_gtier")
    else:
        av = assign_tiers(av, "value", **kw).mutate(group_account_id=av.account_id)
    av = b.to_pyarrow(av.order_by("account_id"))
    _assert_same("account_value", out["account_value"], av)
    dims = [d for d in v.group_by if d in av.column_names]
    _assert_same("concentration", out["concentration"],
                 b.to_pyarrow(concentration(ibis.memtable(av), dims)))
    _assert_same("pareto", out["pareto"], b.to_pyarrow(pareto_points(ibis.memtable(av))))


def test_accounts_are_put_in_id_order_only_when_they_are_not():
    """sort_accounts: an unsorted table comes back in byte order of account_id (ties and
    nulls as a stable sort puts them); a sorted one is returned as it is."""
    import pyarrow as pa

    from growthmap.value.figures import sort_accounts

    shuffled = pa.table({"account_id": ["b", "a", "c", "a", None, "B"], "n": [1, 2, 3, 4, 5, 6]})
    got = sort_accounts(shuffled)
    assert got["account_id"].to_pylist() == ["B", "a", "a", "b", "c", None]
    assert got["n"].to_pylist() == [6, 2, 4, 1, 3, 5]
    ordered = pa.table({"account_id": ["A1", "A2", "A2", "A3"], "n": [1, 2, 3, 4]})
    assert sort_accounts(ordered) is ordered
