"""One set of input rules: DuckDB's loader and Spark's validation quarantine alike.

The same bad Parquet files go through the DuckDB loader (``load_table``, tables in
``load_order``) and through Spark's ``validate_source``; each quarantined row must have
the same reason (and column) on both, identified by its row number in the file, and
the same cells must be nulled.  The files hold one broken row for every reason both
engines check, in typed and in text columns, so a rule one engine forgot fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark")

from growthmap.contract.inputs import TABLES
from growthmap.demo import write_world_parquet
from growthmap.load import load_table, quarantined
from growthmap.load.rules import QUARANTINE_REASONS, load_order, row_rules
from growthmap.workspace import Workspace
from tests.test_spark_equivalence import spark  # noqa: F401 - the shared session fixture

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _bad_files(d: Path) -> Path:
    """Accounts, products and transactions with a known broken row per rule."""
    d.mkdir()
    pq.write_table(pa.table({
        "account_id": ["A1", "A2", None, "A3", "A3", "A4", " ", "A5"],
        "name": ["One", "Two", "No id", "Three", "Three again", "Four", "Blank", "Five"],
        "employees": ["10", "x", "5", "7", "7", "-3", "1", "2.5"],
        "lat": [50.0, 91.0, 1.0, 2.0, 2.0, 3.0, 4.0, float("nan")],
        "segment_hint": ["a", "b", "c", "d", "e", "f", "g", "h"],  # an extra column
    }), d / "accounts.parquet")
    pq.write_table(pa.table({
        "product_id": ["P1", "P2", "P3", "P3"],
        "family": ["F1", "F1", "F2", "F2"],
        "lifecycle_stage": ["Growth", "sunset", "maturity", "decline"],
        "list_price": [10.0, -1.0, 5.0, 6.0],
    }), d / "products.parquet")
    pq.write_table(pa.table({
        "line_id": ["L1", "L2", "L3", "L4", "L5", "L1", "L7", "L8", "L9", "L10", "L11",
                    "L12", "L13", "L14"],
        "account_id": ["A1", "A1", "A2", None, "A2", "A2", "A3", "A-NOPE", "A1", "A1", "A4",
                       "A5", "A1", "A2"],
        "date": ["2025-01-01", "notadate", None, "2025-01-02", "2025-01-02", "2025-01-03",
                 "2025-01-04", "2025-01-05", "2025-01-06", "3025-01-01", "2025-01-07",
                 "2025-01-08", "2025-01-09", "2025-01-10"],
        "product_id": ["P1", "P1", "P1", "P1", "P1", "P1", "P1", "P1", "P-NOPE", "P1", "P2",
                       "P1", "P3", "P1"],
        "amount": ["10.5", "3", "3", "3", "abc", "1", "2", "4", "5", "6", "-7", "2e16",
                   "8", "-9"],
        "cost": ["1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "-2", "1"],
        "doc_type": ["invoice"] * 6 + ["refund", "invoice", "invoice", "invoice", "Invoice",
                                       "invoice", "Credit Note", "credit-note"],
    }), d / "transactions.parquet")
    return d


def _duckdb(world: Path, ws_path: Path) -> tuple[dict[str, set], dict[str, dict[str, int]]]:
    ws = Workspace.create(ws_path)
    try:
        names = [p.stem for p in world.glob("*.parquet") if p.stem in TABLES]
        nulled: dict[str, dict[str, int]] = {}
        for name in load_order(names):
            rep = load_table(ws, name, world / f"{name}.parquet", mapping=None,
                             mode="replace", max_quarantined=1.0)
            by_col: dict[str, int] = {}
            for (_, col), n in rep.dq_by_column.items():
                by_col[col] = by_col.get(col, 0) + n
            nulled[name] = by_col
        rows = quarantined(ws, limit=None)
        out: dict[str, set] = {n: set() for n in names}
        for r in rows:
            out[r["table_name"]].add((r["row_number"], r["reason"], r["column_name"]))
        tx = ws.con.execute("SELECT line_id, amount, doc_type FROM main.transactions "
                            "ORDER BY line_id").fetchall()
    finally:
        ws.close()
    return out, {**nulled, "_tx": {f"{a}|{b}|{c}": 1 for a, b, c in tx}}


def _spark(session: Any, world: Path, qdir: Path
           ) -> tuple[dict[str, set], dict[str, dict[str, int]], Any]:
    from growthmap.runner.spark_run import SparkSource, validate_source

    clean, rep = validate_source(SparkSource.from_parquet(session, world), qdir)
    out: dict[str, set] = {}
    for name in rep.rows_in:
        f = qdir / f"{name}.parquet"
        rows = pq.read_table(f).to_pylist() if f.exists() else []
        out[name] = {(r["row_number"], r["reason"], r["column_name"]) for r in rows}
    return out, rep.nulled, (clean, rep)


def test_the_rules_come_from_the_contract() -> None:
    """Every reason the shared rules give is one of the loader's reasons, in its order."""
    rules = row_rules(TABLES["transactions"], TABLES["transactions"].column_names,
                      references=["account_id", "product_id"], currency=True)
    reasons = [r.reason for r in rules]
    assert reasons.index("missing required value") < reasons.index("unknown reference") < \
        reasons.index("duplicate key")
    assert set(reasons) <= set(QUARANTINE_REASONS)
    order = load_order(["transactions", "products", "accounts", "reps", "territories"])
    assert order.index("accounts") < order.index("transactions")
    assert order.index("territories") < order.index("reps") < order.index("accounts")


def test_both_engines_quarantine_the_same_rows_for_the_same_reasons(
        spark: Any, tmp_path: Path) -> None:  # noqa: F811
    world = _bad_files(tmp_path / "world")
    duck, duck_extra = _duckdb(world, tmp_path / "ws.duckdb")
    sp, sp_nulled, (clean, rep) = _spark(spark, world, tmp_path / "quarantine")
    for name in duck:
        assert sp[name] == duck[name], f"{name}: DuckDB {sorted(duck[name])} vs Spark " \
                                       f"{sorted(sp[name])}"
        assert sp_nulled.get(name, {}) == duck_extra[name], name
    reasons = {r for rows in duck.values() for _, r, _ in rows}
    # every reason both engines check occurs in these files (the test cannot pass empty);
    # no required column has allowed values, so "value not allowed" only nulls cells
    assert reasons == set(QUARANTINE_REASONS) - {"malformed line", "unknown currency",
                                                 "value not allowed"}
    # the values kept agree too: credit notes stored negative, allowed values canonical
    tx = clean.backend.to_pyarrow(clean.tables["transactions"]).to_pylist()
    assert {f"{r['line_id']}|{r['amount']}|{r['doc_type']}": 1 for r in tx} == \
        duck_extra["_tx"]
    for name, n_in in rep.rows_in.items():
        assert n_in == pq.read_table(world / f"{name}.parquet").num_rows
        assert rep.rows_kept[name] + sum(rep.quarantined[name].values()) == n_in


def test_the_demo_worlds_bad_rows_are_quarantined_alike(
        spark: Any, tmp_path: Path) -> None:  # noqa: F811
    """The demo's deliberately broken rows (unknown accounts and products, a missing key,
    bad optional values) in a real world of every table: same rows, same reasons."""
    world = tmp_path / "world"
    write_world_parquet(world, n_accounts=300, seed=5, bad_rows=True)
    for f in world.glob("truth_*.parquet"):
        f.unlink()
    duck, duck_extra = _duckdb(world, tmp_path / "ws.duckdb")
    sp, sp_nulled, _ = _spark(spark, world, tmp_path / "quarantine")
    assert sum(len(v) for v in duck.values()) >= 5
    for name in duck:
        assert sp[name] == duck[name], name
        assert sp_nulled.get(name, {}) == duck_extra[name], name
