"""What the feature, current-value and load steps are measured against.

* :func:`floor_query` - the scan floor, the least any feature stage can cost: one raw
  DuckDB query that scans the transactions Parquet, attaches the product family and
  sums revenue per account and family, materialised as Arrow (as a stage's output is).
* :func:`value_floor_query` - the value stage's floor: the same account x family
  figures the stage computes (trailing and prior revenue, gross margin, lines, distinct
  products, first and last purchase) as the one raw query a person would write, over
  the same loaded workspace tables the stage reads.  The scan floor sums one column;
  holding a stage that computes eight figures (one a distinct count) to it measured the
  aggregation, not the stage's overhead.
* :func:`load_floor` - DuckDB's own reader: every input file copied by
  ``read_parquet``/``read_csv`` into a table of a fresh database file, no validation.
* :func:`pandas_reference` - the same figures written by hand in plain pandas (T12M per
  account x family, customer flag, value tiers by cumulative share), the way a user
  would without growthmap.  Its totals are checked against the value stage's, so the
  comparison is of equal work.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
from dateutil.relativedelta import relativedelta

from growthmap.contract.inputs import FAMILY_UNASSIGNED

__all__ = ["floor_query", "load_floor", "pandas_reference", "value_floor_query"]

TIER_SHARES = (0.5, 0.8, 0.95)  # the value stage's defaults


def _lit(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def floor_query(world: Path, as_of: dt.date, months: int = 12) -> pa.Table:
    """Revenue per account x family in the trailing window, straight off the Parquet."""
    start = as_of - relativedelta(months=months)
    con = duckdb.connect()
    try:
        return con.execute(f"""
            SELECT t.account_id, coalesce(p.family, ?) AS family,
                   sum(CASE WHEN t.date > ? THEN t.amount ELSE 0 END) AS revenue_t12m
            FROM read_parquet({_lit(world / 'transactions.parquet')}) t
            LEFT JOIN read_parquet({_lit(world / 'products.parquet')}) p USING (product_id)
            WHERE t.date <= ?
            GROUP BY ALL""", [FAMILY_UNASSIGNED, start, as_of]).fetch_arrow_table()
    finally:
        con.close()


def value_floor_query(workspace: Path, as_of: dt.date, months: int = 12) -> pa.Table:
    """The value stage's account x family figures as one raw query over the workspace."""
    start = as_of - relativedelta(months=months)
    prior = start - relativedelta(months=months)
    con = duckdb.connect(str(workspace), read_only=True)
    try:
        cost = "coalesce(t.cost, 0)" if "cost" in [r[0] for r in con.execute(
            "DESCRIBE main.transactions").fetchall()] else "NULL"
        return con.execute(f"""
            SELECT t.account_id, coalesce(p.family, $fam) AS family,
                   sum(CASE WHEN t.date > $start THEN t.amount ELSE 0 END) AS revenue_t12m,
                   sum(CASE WHEN t.date > $prior AND t.date <= $start THEN t.amount
                       ELSE 0 END) AS revenue_prior,
                   count(DISTINCT CASE WHEN t.date > $start AND t.amount > 0
                         THEN t.product_id END) AS products_t12m,
                   count(*) FILTER (WHERE t.date > $start AND t.amount > 0) AS lines_t12m,
                   min(t.date) AS first_purchase, max(t.date) AS last_purchase,
                   sum(CASE WHEN t.date > $start THEN t.amount - {cost} ELSE 0 END)
                       AS gross_margin_t12m
            FROM main.transactions t LEFT JOIN main.products p USING (product_id)
            WHERE t.date <= $as_of
            GROUP BY ALL""", {"fam": FAMILY_UNASSIGNED, "start": start, "prior": prior,
                              "as_of": as_of}).to_arrow_table()
    finally:
        con.close()


def load_floor(files: dict[str, Path], target: Path) -> dict[str, int]:
    """Copy each file into a table of a fresh DuckDB file with DuckDB's own reader."""
    target.unlink(missing_ok=True)
    con = duckdb.connect(str(target))
    rows = {}
    try:
        for name, f in files.items():
            reader = "read_parquet" if f.suffix in (".parquet", ".pq") else "read_csv"
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM {reader}({_lit(f)})")
            (rows[name],) = con.execute(f"SELECT count(*) FROM {name}").fetchone()
        con.execute("CHECKPOINT")
    finally:
        con.close()
    target.unlink(missing_ok=True)
    return rows


def pandas_reference(world: Path, as_of: dt.date, months: int = 12
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per account x family T12M and per account value, status and A-D tier, in pandas."""
    start = pd.Timestamp(as_of - relativedelta(months=months))
    end = pd.Timestamp(as_of)
    tx = pd.read_parquet(world / "transactions.parquet",
                         columns=["account_id", "product_id", "date", "amount"])
    products = pd.read_parquet(world / "products.parquet", columns=["product_id", "family"])
    accounts = pd.read_parquet(world / "accounts.parquet", columns=["account_id"])
    tx["date"] = pd.to_datetime(tx["date"])
    tx = tx[tx["date"] <= end]
    tx = tx.merge(products, on="product_id", how="left")
    tx["family"] = tx["family"].fillna(FAMILY_UNASSIGNED)
    win = tx["date"] > start
    tx["rev"] = np.where(win, tx["amount"], 0.0)
    tx["line"] = (win & (tx["amount"] > 0)).astype("int64")
    afv = tx.groupby(["account_id", "family"], as_index=False).agg(
        revenue_t12m=("rev", "sum"), lines_t12m=("line", "sum"),
        first_purchase=("date", "min"), last_purchase=("date", "max"))
    per = afv.groupby("account_id").agg(revenue_t12m=("revenue_t12m", "sum"),
                                        lines_t12m=("lines_t12m", "sum"))
    av = accounts.merge(per, on="account_id", how="left").fillna(
        {"revenue_t12m": 0.0, "lines_t12m": 0})
    av["is_customer"] = av["lines_t12m"] > 0
    v = av["revenue_t12m"].clip(lower=0)
    av = av.assign(_v=v).sort_values(["_v", "account_id"], ascending=[False, True],
                                      ignore_index=True)
    total = av["_v"].sum()
    before = (av["_v"].cumsum() - av["_v"]) / total if total > 0 else av["_v"] * 0
    av["value_tier"] = np.select(
        [av["_v"] <= 0, before < TIER_SHARES[0], before < TIER_SHARES[1],
         before < TIER_SHARES[2]], ["D", "A", "B", "C"], default="D")
    return afv, av.drop(columns="_v")
