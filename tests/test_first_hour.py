"""The parts of a new user's first hour that need no pipeline run: computed columns,
loading without a mapping, round band edges, care sized to value, the data's currency."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from growthmap.cli import app
from growthmap.config import Config
from growthmap.errors import ConfigError, InputError
from growthmap.load import load_table
from growthmap.load.suggest import suggest_mapping
from growthmap.potential.matrix import nice
from growthmap.runner.duckdb_run import as_of_warnings, with_data_currency
from growthmap.segments.stage import size_care_to_value
from growthmap.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path):
    w = Workspace.create(tmp_path / "w.duckdb")
    yield w
    w.close()


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


LINES = [["Invoice", "Customer ID", "Invoice Date", "Stock Code", "Quantity", "Unit Price"],
         ["1", "C1", "2024-01-05", "P1", "3", "2.50"],
         ["2", "C2", "2024-01-06", "P2", "-1", "4"],
         ["3", "C1", "2024-01-07", "P1", "", "1.5"]]


def test_a_computed_amount_is_quantity_times_price_and_an_empty_one_is_quarantined(
        ws, tmp_path):
    f = write_csv(tmp_path / "lines.csv", LINES)
    m = {"columns": {"account_id": "Customer ID", "date": "Invoice Date",
                     "product_id": "Stock Code", "amount": '"Quantity" * "Unit Price"'}}
    report = load_table(ws, "transactions", f, mapping=m)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (3, 2, 1)
    got = ws.con.execute("SELECT account_id, amount FROM main.transactions ORDER BY 1, 2"
                         ).fetchall()
    assert got == [("C1", 7.5), ("C2", -4.0)]
    (reason,) = ws.con.execute("SELECT reason FROM gm.quarantine").fetchone()
    assert "missing" in reason


@pytest.mark.parametrize(("expr", "match"), [
    ("Quantity * Price", "reads column 'Price'.*did you mean 'Unit Price'"),
    ("(SELECT 1) * Quantity", "subquery is not allowed"),
    ("read_csv('/etc/passwd')", "function 'read_csv' is not allowed"),
    ("Quantity * 2; DROP TABLE x", "not a single expression"),
])
def test_a_computed_column_is_checked_before_anything_runs(ws, tmp_path, expr, match):
    f = write_csv(tmp_path / "lines.csv", LINES)
    m = {"columns": {"account_id": "Customer ID", "date": "Invoice Date",
                     "product_id": "Stock Code", "amount": {"expr": expr}}}
    with pytest.raises(ConfigError, match=match):
        load_table(ws, "transactions", f, mapping=m)
    assert not ws.has_table("transactions")


def test_the_suggestion_proposes_the_computed_amount_and_stock_code(tmp_path):
    s = suggest_mapping(write_csv(tmp_path / "lines.csv", LINES), "transactions")
    assert s.guesses["product_id"].header == "Stock Code"
    assert s.guesses["amount"].header == 'Quantity * "Unit Price"'
    assert not s.missing_required
    acc = suggest_mapping(write_csv(tmp_path / "a.csv", [["CustomerID", "Description"],
                                                         ["1", "WHITE MUG"]]), "accounts")
    assert "industry" not in acc.guesses  # a product's description is not an industry


def test_load_without_a_mapping_shows_saves_and_asks(tmp_path):
    runner, wsf = CliRunner(), tmp_path / "crm.duckdb"
    f = write_csv(tmp_path / "accounts.csv", [
        ["Account ID", "Account Name", "Billing Country", "Sales Region", "Account Owner",
         "Engagement Score"], ["001A", "Acme", "United Kingdom", "North", "U1", "40"]])
    res = runner.invoke(app, ["-w", str(wsf), "load", "accounts", str(f)])
    assert res.exit_code == 0, res.output
    assert "Billing Country" in res.output and "confidence" in res.output
    saved = tmp_path / "crm.accounts.mapping.toml"
    assert 'country = "Billing Country"' in saved.read_text("utf-8")
    with Workspace.open(wsf, read_only=True) as w:
        row = w.con.execute("SELECT name, country, region, owner_rep_id, engagement_score "
                            "FROM main.accounts").fetchone()
    assert row == ("Acme", "United Kingdom", "North", "U1", "40")
    # two headers fit the account id about equally: the load stops and asks
    g = write_csv(tmp_path / "two.csv", [["Customer No", "Customer Number", "Name"],
                                         ["1", "2", "x"]])
    res = runner.invoke(app, ["-w", str(wsf), "load", "accounts", str(g)])
    assert res.exit_code == InputError.exit_code
    assert "which header holds account_id" in " ".join(res.output.split())


def test_nice_edges_are_round():
    assert [nice(x) for x in (23_456, 187_000, 6.0, 0.0)] == [25_000, 200_000, 5, 0]


def test_care_is_cut_to_what_is_at_stake():
    care = pd.DataFrame({"touches_per_year": [24.0, 24.0, 6.0],
                         "hours_per_touch": [2.5, 2.5, 0.5]})
    out = size_care_to_value(care, np.array([5_000.0, 5_000_000.0, 100.0]),
                             hourly_cost=100.0, max_share=0.2)
    # 5k at stake: at most 10 h a year -> 4 touches x 2.5 h; 5m: as the rule says;
    # 100: one touch of a quarter hour
    assert out.values.tolist() == [[4.0, 2.5], [24.0, 2.5], [1.0, 0.25]]


def test_the_data_currency_and_an_as_of_outside_the_data(ws, tmp_path):
    f = write_csv(tmp_path / "tx.csv", [["account_id", "date", "product_id", "amount",
                                         "currency"],
                                        ["A", "2023-12-20", "P", "10", "GBP"],
                                        ["A", "2024-12-20", "P", "10", "GBP"]])
    load_table(ws, "transactions", f)
    cfg, note = with_data_currency(ws, Config())
    assert cfg.run.currency == "GBP" and "GBP" in note
    fixed = Config.from_dict({"run": {"currency": "EUR"}})
    assert with_data_currency(ws, fixed)[0].run.currency == "EUR"
    import datetime as dt

    late = as_of_warnings(ws, dt.date(2025, 9, 30))
    assert any("2024-12-20" in w and "284 days after" in w for w in late)
    assert any("days of transactions before" in w for w in as_of_warnings(
        ws, dt.date(2024, 6, 30)))
    assert as_of_warnings(ws, dt.date(2024, 12, 31)) == []
