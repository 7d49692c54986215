"""The demo world: deterministic, contract-conforming, internally consistent, streamable."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from growthmap.contract.inputs import TABLES
from growthmap.demo import (
    DEMO_AS_OF,
    INPUT_TABLES,
    NULLED,
    QUARANTINED,
    TRUTH_TABLES,
    World,
    build_demo_workspace,
    expected_counts,
    generate_world,
    write_world_parquet,
)
from growthmap.demo._stream import _to_pandas
from growthmap.errors import ConfigError

N = 3000
_KIND = {"string": "string", "int": "integer", "float": "floating", "date": "datetime64",
         "bool": "boolean"}


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(N, seed=42)


def _frames(world: World) -> dict[str, pd.DataFrame]:
    return {**world.tables(), **{f"truth_{k}": v for k, v in world.truth.items()}}


def _assert_worlds_equal(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name].reset_index(drop=True),
                                      b[name].reset_index(drop=True), obj=name)


# -- determinism ------------------------------------------------------------------------
def test_same_seed_gives_identical_world(world: World) -> None:
    _assert_worlds_equal(_frames(world), _frames(generate_world(N, seed=42)))


def test_other_seed_gives_another_world(world: World) -> None:
    other = generate_world(N, seed=43)
    assert not world.transactions["amount"].equals(other.transactions["amount"])


def test_parquet_in_chunks_equals_world_in_memory(world: World, tmp_path) -> None:
    messages: list[str] = []
    paths = write_world_parquet(tmp_path, N, seed=42, chunk_accounts=1000,
                                progress=messages.append)
    assert messages[-1] == "generated 3,000 of 3,000 accounts" and len(messages) == 3
    assert set(paths) == set(INPUT_TABLES) | {f"truth_{t}" for t in TRUTH_TABLES}
    _assert_worlds_equal(_frames(world),
                         {k: _to_pandas(pq.read_table(p)) for k, p in paths.items()})
    # streamed: one row group per chunk, never the whole table at once
    assert pq.ParquetFile(paths["transactions"]).metadata.num_row_groups == 3
    assert pq.ParquetFile(paths["accounts"]).metadata.num_row_groups == 3


def test_smaller_world_is_a_prefix_of_a_bigger_one(world: World) -> None:
    small = generate_world(1500, seed=42)
    ids = set(small.accounts.account_id)
    for name in ("transactions", "signals", "contacts", "competitors"):
        big = getattr(world, name)
        pd.testing.assert_frame_equal(getattr(small, name),
                                      big[big.account_id.isin(ids)].reset_index(drop=True))
    cols = ["account_id", "name", "industry", "employees", "lat", "lon"]
    pd.testing.assert_frame_equal(small.accounts[cols], world.accounts[cols].iloc[:1500])


def test_bad_sizes_are_config_errors(tmp_path) -> None:
    with pytest.raises(ConfigError):
        generate_world(0)
    with pytest.raises(ConfigError):
        write_world_parquet(tmp_path, 100, chunk_accounts=0)


# -- the contract -----------------------------------------------------------------------
@pytest.mark.parametrize("name", INPUT_TABLES)
def test_tables_conform_to_the_contract(world: World, name: str) -> None:
    df, spec = world.tables()[name], TABLES[name]
    assert len(df) > 0
    assert list(df.columns) == [c for c in spec.column_names if c in df.columns]
    assert set(spec.required_columns) <= set(df.columns)
    for col in spec.columns:
        if col.name not in df.columns:
            continue
        s = df[col.name]
        assert pd.api.types.infer_dtype(s, skipna=True).startswith(_KIND[col.dtype]) or (
            s.isna().all()), (name, col.name, s.dtype)
        if col.required:
            assert s.notna().all(), (name, col.name)
        if col.allowed:
            assert s.dropna().isin(col.allowed).all(), (name, col.name)
        if col.min is not None:
            assert (s.dropna() >= col.min).all(), (name, col.name)
        if col.max is not None:
            assert (s.dropna() <= col.max).all(), (name, col.name)
    if spec.key:
        assert not df.duplicated(list(spec.key)).any(), name


def test_references_are_valid(world: World) -> None:
    t = world.tables()
    for name, df in t.items():
        for col in TABLES[name].columns:
            if col.references and col.name in df.columns:
                ref_table, ref_col = col.references.split(".")
                values = df[col.name].dropna()
                assert values.isin(t[ref_table][ref_col]).all(), (name, col.name)
    acc, reps, terr = t["accounts"], t["reps"], t["territories"]
    assert acc.parent_id.dropna().isin(acc.account_id).all()
    assert acc.loc[acc.parent_id.notna(), "parent_id"].isin(
        acc.loc[acc.parent_id.isna(), "account_id"]).all()  # one level of parents
    assert reps.manager_id.dropna().isin(reps.rep_id).all()
    assert terr.parent_id.dropna().isin(terr.territory_id).all()
    # accounts sit in leaf territories; every leaf holds sellers
    leaves = terr.loc[terr.parent_id.notna(), "territory_id"]
    assert acc.territory_id.isin(leaves).all()
    sellers = reps[~reps.role.str.endswith("manager")]
    assert set(leaves) <= set(sellers.territory_id)


def test_world_has_the_promised_shape(world: World) -> None:
    acc, truth = world.accounts, world.truth["accounts"]
    assert 0.5 < truth.is_customer.mean() < 0.7
    leaves = int(world.territories.parent_id.notna().sum())
    assert 10 <= leaves <= 20
    roles = world.reps.role.value_counts()
    assert roles["field"] == max(round(0.6 * N / 250), leaves)  # at least one per leaf
    assert roles["key_account_manager"] >= 5 and roles["inside"] >= 5  # one per region
    assert roles["regional_manager"] == 5
    assert 0.005 < acc.employees.isna().mean() < 0.06
    assert 0.005 < acc.industry.isna().mean() < 0.05
    assert acc.parent_id.notna().mean() > 0.01
    assert acc.employees.max() > 50 * acc.employees.median()  # heavy tail
    assert world.products.groupby("family").size().eq(10).all()
    assert world.products.family.nunique() == 6
    assert 15 < len(world.transactions) / N < 25
    ext = world.external_potential.account_id.nunique() / N
    assert 0.08 < ext < 0.25
    assert set(world.assessments.criterion) >= {"buyer_empowerment", "innovation_appetite",
                                                "strategic_fit"}


def test_credit_notes_are_present_and_marked(world: World) -> None:
    tx = world.transactions
    credit = tx.doc_type == "credit_note"
    assert 0.01 < credit.mean() < 0.03
    assert (tx.loc[credit, "amount"] < 0).all()
    assert (tx.loc[~credit, "amount"] > 0).all()
    assert tx.line_id.is_unique
    assert (tx.cost >= 0).all()


# -- truth --------------------------------------------------------------------------------
def test_history_stays_inside_its_window(world: World) -> None:
    tx = world.transactions
    assert tx.date.min() >= pd.Timestamp("2023-01-01")
    assert tx.date.max() <= pd.Timestamp(DEMO_AS_OF)
    for name, col in (("opportunities", "created"), ("opportunities", "closed"),
                      ("signals", "date"), ("assessments", "date"),
                      ("contacts", "last_engagement")):
        assert getattr(world, name)[col].max() <= pd.Timestamp(DEMO_AS_OF), (name, col)
    opp = world.opportunities
    assert (opp.closed.dropna() >= opp.created[opp.closed.notna()]).all()
    assert (opp.won.isna() == opp.closed.isna()).all()


def test_next_year_is_after_as_of_and_apart(world: World) -> None:
    ny = world.truth["next_year"]
    assert (ny.first_date > pd.Timestamp(DEMO_AS_OF)).all()
    assert (ny.first_date < pd.Timestamp(dt.date(2027, 1, 1))).all()
    assert (ny.amount > 0).all()
    assert not ny.duplicated(["account_id", "family"]).any()


def test_truth_is_consistent_with_the_inputs(world: World) -> None:
    tx, truth = world.transactions, world.truth["accounts"].set_index("account_id")
    wallet = world.truth["wallet"]
    assert len(wallet) == N * 6 and (wallet.wallet >= 0).all()
    # prospects have no transactions; every customer has some
    buyers = set(tx.account_id)
    assert not buyers & set(truth.index[~truth.is_customer])
    assert set(truth.index[truth.is_customer]) == buyers
    # T12M recomputed from the lines matches truth, and stays within the wallet
    t12m = tx[tx.date > pd.Timestamp(DEMO_AS_OF) - pd.DateOffset(years=1)].groupby(
        "account_id").amount.sum()
    np.testing.assert_allclose(t12m, truth.loc[t12m.index, "t12m_total"], atol=0.05)
    active = truth[truth.active_at_as_of]
    assert (active.t12m_total <= active.wallet_total).mean() > 0.99
    fam = world.products.set_index("product_id").family
    per_fam = tx[tx.date.dt.year == 2025].assign(family=tx.product_id.map(fam)).groupby(
        ["account_id", "family"]).amount.sum().rename("t12m").reset_index()
    m = per_fam.merge(wallet, on=["account_id", "family"])
    assert (m.wallet > 0).all()  # nobody buys a family its industry does not use
    share = m.t12m / m.wallet
    assert (share <= 1.0).mean() > 0.99
    assert share.quantile(0.5) < 0.4 < share.quantile(0.95)  # many small, some near all
    ny = world.truth["next_year"].groupby("account_id").amount.sum()
    np.testing.assert_allclose(ny, truth.loc[ny.index, "next_year_total"], atol=0.05)
    assert (truth.churned_next_year <= truth.active_at_as_of).all()


def test_truth_leaves_signal_to_find(world: World) -> None:
    """Wallet follows size, and pipeline/intent lean towards next year's buyers."""
    truth = world.truth["accounts"]
    rho = pd.Series(np.log(truth.wallet_total)).corr(pd.Series(np.log(truth.employees)),
                                                      method="spearman")
    assert rho > 0.85
    new = set(world.truth["next_year"].account_id) - set(
        truth.account_id[truth.active_at_as_of])
    opp = world.opportunities
    has_open = set(opp.account_id[opp.won.isna()])
    prospects = set(truth.account_id[~truth.is_customer])
    with_open = prospects & has_open
    assert len(new & with_open) / len(with_open) > 2 * len(new & prospects) / len(prospects)
    intent = world.signals[world.signals.kind == "intent"].groupby("account_id").size()
    buyers = truth.account_id.isin(world.truth["next_year"].account_id)
    per_account = intent.reindex(truth.account_id, fill_value=0).to_numpy()
    assert per_account[buyers.to_numpy()].mean() > per_account[~buyers.to_numpy()].mean()


# -- files with bad rows and the workspace ---------------------------------------------
def test_bad_rows_are_written_and_listed(tmp_path) -> None:
    paths = write_world_parquet(tmp_path, 1200, seed=3, chunk_accounts=1000, bad_rows=True)
    listed = pq.read_table(paths["truth_bad_rows"])
    counts = expected_counts(listed)
    assert counts["transactions"] == {QUARANTINED: 4, NULLED: 0}
    assert counts["accounts"] == {QUARANTINED: 1, NULLED: 2}
    clean = generate_world(1200, seed=3)
    tx = pq.read_table(paths["transactions"]).to_pandas()
    assert len(tx) == len(clean.transactions) + 4
    acc = pq.read_table(paths["accounts"]).to_pandas()
    assert acc.account_id.isna().sum() == 1 and (acc.employees < 0).sum() == 1


def test_build_demo_workspace_loads_through_the_loader(tmp_path) -> None:
    n = 1500
    ws = build_demo_workspace(tmp_path / "demo.duckdb", n_accounts=n, seed=5)
    try:
        world = generate_world(n, seed=5)
        sql = ws.con.execute
        bad = sql("SELECT * FROM truth.bad_rows").df()
        # every broken row met the fate the contract prescribes, and nothing else did
        quarantined = bad[bad.outcome == QUARANTINED].groupby("table_name").size().to_dict()
        assert dict(sql("SELECT table_name, count(*) FROM gm.quarantine GROUP BY ALL")
                    .fetchall()) == quarantined
        nulled = {tuple(r) for r in bad.loc[bad.outcome == NULLED,
                                            ["table_name", "key", "column_name"]].to_numpy()}
        assert {tuple(r) for r in sql("SELECT table_name, key, column_name "
                                      "FROM gm.data_quality").fetchall()} == nulled
        # the loaded tables are the clean world (plus appended rows that only lost a cell)
        appended = {"products": 1}
        for name, df in world.tables().items():
            rows = sql(f'SELECT count(*) FROM main."{name}"').fetchone()[0]
            assert rows == len(df) + appended.get(name, 0), name
        for name in TRUTH_TABLES:
            rows = sql(f"SELECT count(*) FROM truth.{name}").fetchone()[0]
            assert rows == len(world.truth[name]), name
        t12m = sql("SELECT sum(amount) FROM main.transactions WHERE date > DATE '2024-12-31'"
                   ).fetchone()[0]
        assert t12m == pytest.approx(world.truth["accounts"].t12m_total.sum(), rel=1e-9)
        assert dict(sql("SELECT * FROM truth.world").fetchall())["as_of"] == str(DEMO_AS_OF)
    finally:
        ws.close()


def test_the_documented_example_runs() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "demo-world.md").read_text("utf-8")
    example = re.search(r"```python\n(.*?)```", doc, re.S)
    assert example, "docs/demo-world.md lost its example"
    exec(compile(example.group(1), "docs/demo-world.md", "exec"), {})
