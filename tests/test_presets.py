"""Mapping presets: every shipped preset builds, maps its table's required columns, and
loads an export written with the vendor's headers into a real workspace."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from growthmap.contract.inputs import TABLES
from growthmap.errors import ConfigError
from growthmap.load import Mapping, load_table
from growthmap.load.presets import list_presets, preset_mapping
from growthmap.workspace import Workspace


def test_the_issue_presets_ship() -> None:
    presets = {p.name: p for p in list_presets()}
    assert {"salesforce", "hubspot", "erp"} <= set(presets)
    assert {"accounts", "opportunities", "transactions"} <= set(presets["salesforce"].tables)
    assert {"accounts", "opportunities"} <= set(presets["hubspot"].tables)
    assert "transactions" in presets["erp"].tables


@pytest.mark.parametrize("name,table", [(p.name, t) for p in list_presets() for t in p.tables])
def test_every_preset_maps_the_required_columns(name: str, table: str) -> None:
    m = preset_mapping(name, table)
    assert isinstance(m, Mapping) and m.table == table
    assert m.description
    for col in TABLES[table].required_columns:
        assert col in m.columns or col in m.constants, f"{name}/{table} lacks {col}"
    # a preset survives the round trip through the mapping-file layout
    assert Mapping.from_dict(m.to_dict()) == m


def test_unknown_preset_or_table_names_what_exists() -> None:
    with pytest.raises(ConfigError, match="unknown mapping preset") as e:
        preset_mapping("salesfarce", "accounts")
    assert "salesforce" in (e.value.hint or "")
    with pytest.raises(ConfigError, match="no mapping for the signals table") as e:
        preset_mapping("hubspot", "signals")
    assert "accounts" in (e.value.hint or "")


def test_overrides_are_laid_over_the_preset() -> None:
    m = preset_mapping("salesforce", "accounts", {"columns": {"name": "Firmenname"}})
    assert m.columns["name"].source == "Firmenname"
    assert m.columns["account_id"].source == "Account ID"


def _write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


def test_salesforce_reports_load_through_the_preset(tmp_path: Path) -> None:
    accounts = pd.DataFrame({
        "Account ID": ["001A", "001B", "001C"],
        "Account Name": ["Acme GmbH", "Globex Inc.", "Initech"],
        "Industry": ["Manufacturing", "Retail", ""],
        "Billing Country": ["Germany", "USA", "USA"],
        "Billing City": ["Berlin", "Springfield", "Austin"],
        "Billing State/Province": ["BE", "IL", "TX"],
        "Employees": ["120", "5400", ""],
        "Annual Revenue": ["2500000", "98000000", "1000000"],
        "Website": ["acme.de", "https://www.globex.com", ""],
        "Account Owner ID": ["005X", "005Y", "005X"],
        "Rating": ["Hot", "Warm", "Cold"],
    })
    lines = pd.DataFrame({
        "Opportunity Product ID": ["00kA", "00kB", "00kC"],
        "Account ID": ["001A", "001A", "001B"],
        "Close Date": ["2025-03-01", "2025-03-01", "2025-06-30"],
        "Product Code": ["P-1", "P-2", "P-1"],
        "Total Price": ["1000.50", "250", "4000"],
        "Quantity": ["2", "1", "8"],
    })
    opps = pd.DataFrame({
        "Opportunity ID": ["006A", "006B", "006C"],
        "Account ID": ["001A", "001B", "001C"],
        "Created Date": ["2025-01-10", "2025-02-01", "2025-05-05"],
        "Close Date": ["2025-03-01", "2025-06-30", "2025-12-31"],
        "Stage": ["Closed Won", "Closed Lost", "Negotiation"],
        "Amount": ["1250.50", "9000", "300"],
    })
    ws = Workspace.create(tmp_path / "ws.duckdb")
    try:
        r = load_table(ws, "accounts", _write(accounts, tmp_path / "acc.csv"),
                       mapping=preset_mapping("salesforce", "accounts"))
        assert r.rows_loaded == 3 and r.rows_quarantined == 0
        got = ws.con.execute("SELECT account_id, name, employees, annual_revenue, domain "
                             "FROM accounts ORDER BY account_id").df()
        assert list(got["name"]) == ["Acme GmbH", "Globex Inc.", "Initech"]
        assert got["employees"].iloc[1] == 5400
        assert got["annual_revenue"].sum() == pytest.approx(101_500_000)
        r = load_table(ws, "transactions", _write(lines, tmp_path / "lines.csv"),
                       mapping=preset_mapping("salesforce", "transactions"))
        assert r.rows_loaded == 3
        (total,) = ws.con.execute("SELECT sum(amount) FROM transactions").fetchone()
        assert total == pytest.approx(5250.50)
        load_table(ws, "opportunities", _write(opps, tmp_path / "opps.csv"),
                   mapping=preset_mapping("salesforce", "opportunities"))
        won = dict(ws.con.execute("SELECT opportunity_id, won FROM opportunities").fetchall())
        assert won == {"006A": True, "006B": False, "006C": None}
    finally:
        ws.close()


def test_erp_credit_memos_are_negative(tmp_path: Path) -> None:
    df = pd.DataFrame({
        "Customer No": ["C1", "C1", "C2"],
        "Posting Date": ["2025-01-02", "2025-01-09", "2025-02-01"],
        "Item No": ["I1", "I1", "I2"],
        "Line Amount": ["100", "30", "50"],
        "Document Type": ["Invoice", "Credit Memo", "Invoice"],
    })
    ws = Workspace.create(tmp_path / "ws.duckdb")
    try:
        load_table(ws, "transactions", _write(df, tmp_path / "inv.csv"),
                   mapping=preset_mapping("erp", "transactions"))
        rows = ws.con.execute("SELECT account_id, sum(amount) FROM transactions GROUP BY 1 "
                              "ORDER BY 1").fetchall()
        assert rows == [("C1", 70.0), ("C2", 50.0)]
    finally:
        ws.close()
