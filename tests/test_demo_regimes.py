"""Regimes of the demo world: each takes away the comfort it promises, and nothing else."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from growthmap.cli import app
from growthmap.demo import REGIMES, World, build_demo_workspace, generate_world, resolve_regime
from growthmap.errors import ConfigError

N = 2000


@pytest.fixture(scope="module")
def worlds() -> dict[str, World]:
    return {r: generate_world(None if r == "tiny" else N, seed=11, regime=r) for r in REGIMES}


def _pairs(tx: pd.DataFrame, products: pd.DataFrame, year: int) -> set[tuple[str, str]]:
    fam = products.set_index("product_id").family
    sel = tx[(tx.date.dt.year == year) & (tx.doc_type == "invoice")]
    return set(zip(sel.account_id, sel.product_id.map(fam), strict=True))


def test_default_regime_is_the_default_world(worlds: dict[str, World]) -> None:
    plain = generate_world(N, seed=11)
    for name, frame in plain.tables().items():
        pd.testing.assert_frame_equal(frame, getattr(worlds["default"], name), obj=name)


def test_unknown_regime_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match="unknown demo regime 'stable'") as err:
        resolve_regime("stable")
    assert "static" in err.value.hint and "no-vendor" in err.value.hint


def test_regimes_combine_with_plus() -> None:
    reg = resolve_regime("static+no-vendor")
    assert reg.static_history and reg.engagement and not reg.vendor
    assert reg.name == "static+no-vendor"


def test_no_vendor_drops_only_the_vendor_figures(worlds: dict[str, World]) -> None:
    assert len(worlds["default"].external_potential) > 0
    assert worlds["no-vendor"].external_potential.empty
    assert list(worlds["no-vendor"].external_potential.columns) == list(
        worlds["default"].external_potential.columns)
    pd.testing.assert_frame_equal(worlds["no-vendor"].transactions,
                                  worlds["default"].transactions)
    pd.testing.assert_frame_equal(worlds["no-vendor"].truth["wallet"],
                                  worlds["default"].truth["wallet"])


def test_static_history_has_no_conversions_but_next_year_does(
        worlds: dict[str, World]) -> None:
    w = worlds["static"]
    first, last = (_pairs(w.transactions, w.products, y) for y in (2023, 2025))
    assert first == last  # same account x family mix from the first year to the last
    truth = w.truth["accounts"]
    assert truth.is_customer.eq(truth.active_at_as_of).all()  # nobody lapsed
    # the default world does convert and cross-sell inside its history
    d = worlds["default"]
    assert _pairs(d.transactions, d.products, 2023) != _pairs(d.transactions, d.products, 2025)
    prospects = set(truth.account_id[~truth.is_customer])
    assert len(prospects & set(w.truth["next_year"].account_id)) >= 10


@pytest.mark.parametrize("regime", ["static", "engagement"])
def test_engagement_column_carries_next_years_signal(worlds: dict[str, World],
                                                     regime: str) -> None:
    w = worlds[regime]
    eng = w.accounts.set_index("account_id").engagement.astype(float)
    assert eng.between(0, 10).all() and eng.nunique() > 50
    truth = w.truth["accounts"].set_index("account_id")
    buys = truth.index.isin(w.truth["next_year"].account_id)
    prospects = ~truth.active_at_as_of.to_numpy()
    auc = roc_auc_score(buys[prospects], eng.loc[truth.index].to_numpy()[prospects])
    assert 0.6 < auc < 0.8  # a signal, not an oracle
    assert "engagement" not in worlds["default"].accounts


@pytest.mark.parametrize("regime", ["static", "retail", "engagement"])
def test_families_are_needed_by_some_accounts_only(worlds: dict[str, World],
                                                   regime: str) -> None:
    w = worlds[regime]
    wallet = w.truth["wallet"]
    zero = wallet.wallet.eq(0)
    assert 0.3 < zero.mean() < 0.65  # the default world: only industries' unused families
    assert worlds["default"].truth["wallet"].wallet.eq(0).mean() < 0.1
    assert wallet.groupby("account_id").wallet.sum().gt(0).all()  # everyone needs one
    bought = pd.DataFrame(list(_pairs(w.transactions, w.products, 2025)),
                          columns=["account_id", "family"]).merge(wallet)
    assert bought.wallet.gt(0).all()  # nobody buys what it does not need
    # need follows the peers: industries differ in how many of them need a family
    wide = wallet.assign(need=~zero).merge(w.truth["accounts"][["account_id", "industry"]])
    share = wide.groupby(["industry", "family"]).need.mean()
    assert share.max() - share[share > 0].min() > 0.4


def test_tiny_holds_about_a_hundred_customers(worlds: dict[str, World]) -> None:
    truth = worlds["tiny"].truth["accounts"]
    assert len(truth) == 160
    assert 80 <= truth.active_at_as_of.sum() <= 125


def test_retail_is_many_small_buyers_who_come_and_go(worlds: dict[str, World]) -> None:
    w, d = worlds["retail"], worlds["default"]
    truth, dtruth = w.truth["accounts"], d.truth["accounts"]
    assert truth.employees.median() < 15 < dtruth.employees.median()
    assert w.accounts.employees.isna().mean() > 0.5
    assert truth.is_customer.mean() > 0.75
    assert truth.churned_next_year.mean() > 2 * dtruth.churned_next_year.mean()
    assert w.external_potential.empty
    per_line = w.transactions.amount.abs().median()
    assert per_line < d.transactions.amount.abs().median() / 5
    # size explains the wallet far less than in the default world
    rho = np.log(truth.wallet_total).corr(np.log(truth.employees), method="spearman")
    drho = np.log(dtruth.wallet_total).corr(np.log(dtruth.employees), method="spearman")
    assert rho < drho - 0.1


def test_workspace_records_the_regime_and_loads_engagement(tmp_path) -> None:
    with build_demo_workspace(tmp_path / "s.duckdb", n_accounts=1000, seed=3,
                              regime="static+no-vendor") as ws:
        world = dict(ws.con.execute("SELECT key, value FROM truth.world").fetchall())
        assert world["regime"] == "static+no-vendor" and world["n_accounts"] == "1000"
        cols = [r[0] for r in ws.con.execute("DESCRIBE accounts").fetchall()]
        assert "engagement" in cols
        n_ext = ws.con.execute("SELECT count(*) FROM external_potential").fetchone()[0] \
            if ws.has_table("external_potential") else 0
        assert n_ext == 0


def test_cli_demo_writes_a_regime_to_parquet(tmp_path) -> None:
    out = tmp_path / "world"
    res = CliRunner().invoke(app, ["demo", "--regime", "tiny", "--to-parquet", str(out)])
    assert res.exit_code == 0, res.output
    accounts = pd.read_parquet(out / "accounts.parquet")
    assert len(accounts) == 160
    res = CliRunner().invoke(app, ["demo", "--regime", "nope", "--to-parquet", str(out)])
    assert res.exit_code != 0 and "unknown demo regime" in res.output
