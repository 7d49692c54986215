"""``suggest_mapping``: headers of real-looking exports map to the contract columns they
hold (known truth), the rendered TOML is a mapping the loader accepts, and the CLI
writes it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from growthmap.cli import app
from growthmap.errors import ConfigError, InputError
from growthmap.load import load_table, read_mapping
from growthmap.load.suggest import suggest_mapping
from growthmap.workspace import Workspace

ERP = pd.DataFrame({
    "Kundennr": ["K-001", "K-002", "K-001", "K-003"],
    "Belegdatum": ["2025-01-03", "2025-01-17", "2025-02-11", "2025-03-30"],
    "Artikel Nr": ["A1", "A2", "A3", "A1"],
    "Net Amount": ["1200.50", "80.00", "-40.00", "999.99"],
    "Qty": ["3", "1", "-1", "2"],
    "Document Type": ["Invoice", "Invoice", "Credit Memo", "Invoice"],
    "Warehouse": ["W1", "W1", "W2", "W1"],
})
TRUTH = {"account_id": "Kundennr", "date": "Belegdatum", "amount": "Net Amount",
         "product_id": "Artikel Nr",
         "quantity": "Qty", "doc_type": "Document Type"}


def test_known_headers_are_found_with_their_samples(tmp_path: Path) -> None:
    f = tmp_path / "export.csv"
    ERP.to_csv(f, index=False, sep=";")
    s = suggest_mapping(f, "transactions")
    got = {c: g.header for c, g in s.guesses.items()}
    for col, header in TRUTH.items():
        assert got.get(col) == header, (col, got)
    assert "Warehouse" in s.unmatched_headers
    g = s.guesses["date"]
    assert g.samples[:2] == ("2025-01-03", "2025-01-17")
    assert g.value_fit == 1.0 and 0.75 <= g.confidence <= 1.0
    assert s.guesses["doc_type"].values["Credit Memo"] == "credit_note"
    # one header never feeds two columns
    assert len(set(got.values())) == len(got)


def test_value_types_break_name_ties(tmp_path: Path) -> None:
    """'Date' full of text must lose to a header holding real dates."""
    f = tmp_path / "x.csv"
    pd.DataFrame({"Date": ["soon", "later", "never"], "Posting Date": ["2025-01-01"] * 3,
                  "Customer": ["a", "b", "c"], "Item": ["i", "j", "k"],
                  "Amount": ["1", "2", "3"]}).to_csv(f, index=False)
    s = suggest_mapping(f, "transactions")
    assert s.guesses["date"].header == "Posting Date"


def test_rendered_toml_is_a_valid_mapping_that_loads(tmp_path: Path) -> None:
    f = tmp_path / "export.csv"
    df = ERP.assign(**{"Artikel Nr": ["A1", "A2", "A3", "A1"]})
    df = df.rename(columns={"Artikel Nr": "Item No"})
    df.to_csv(f, index=False)
    s = suggest_mapping(f, "transactions")
    out = tmp_path / "mapping.toml"
    out.write_text(s.to_toml(), encoding="utf-8")
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    assert data["table"] == "transactions"
    m = read_mapping(out)
    assert m.columns["product_id"].source == "Item No"
    ws = Workspace.create(tmp_path / "ws.duckdb")
    try:
        r = load_table(ws, "transactions", f, mapping=m)
        assert r.rows_loaded == 4
        (total,) = ws.con.execute("SELECT sum(amount) FROM transactions").fetchone()
        assert total == pytest.approx(float(pd.to_numeric(df["Net Amount"]).sum()))
    finally:
        ws.close()


def test_missing_required_columns_are_flagged(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    pd.DataFrame({"Customer No": ["1"], "Colour": ["red"]}).to_csv(f, index=False)
    s = suggest_mapping(f, "transactions")
    assert set(s.missing_required) == {"date", "product_id", "amount"}
    assert '# date = "<header in the file>"' in s.to_toml()


def test_errors_are_growthmap_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        suggest_mapping(tmp_path / "nope.csv", "accounts")
    f = tmp_path / "x.csv"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="unknown table"):
        suggest_mapping(f, "acounts")


def test_real_northwind_customers(shared_data: Path) -> None:
    s = suggest_mapping(shared_data / "northwind" / "customers.csv", "accounts")
    got = {c: g.header for c, g in s.guesses.items()}
    assert got["account_id"] == "CustomerID"
    assert got["name"] == "CompanyName"
    assert got["country"] == "Country" and got["city"] == "City"


def test_cli_writes_the_mapping_and_lists_presets(tmp_path: Path) -> None:
    f = tmp_path / "export.csv"
    ERP.to_csv(f, index=False)
    out = tmp_path / "m.toml"
    runner = CliRunner()
    r = runner.invoke(app, ["mapping", "suggest", str(f), "--table", "transactions",
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert read_mapping(out).columns["account_id"].source == "Kundennr"
    r = runner.invoke(app, ["mapping", "presets"])
    assert r.exit_code == 0 and "salesforce" in r.output and "hubspot" in r.output
    r = runner.invoke(app, ["mapping", "suggest", str(tmp_path / "missing.csv"), "-t",
                            "accounts"])
    assert r.exit_code == InputError.exit_code


def test_a_bare_customer_or_account_header_on_invoice_lines_is_the_buyer(tmp_path: Path) -> None:
    f = tmp_path / "lines.csv"
    for who in ("Customer", "Account"):
        f.write_text(f"Invoice,{who},Date,Product,Amount\n"
                     "I1,A1,2024-01-05,P1,100.5\nI2,A2,2024-02-05,P2,200\n")
        s = suggest_mapping(f, "transactions")
        got = {c: (g.header, g.confidence) for c, g in s.guesses.items()}
        assert got["account_id"][0] == who and got["account_id"][1] >= 0.9
        assert got["date"] == ("Date", 1.0) and got["amount"] == ("Amount", 1.0)
        assert not s.missing_required
