"""Loading with quarantine: real DuckDB workspaces and real CSV/Parquet/Excel/JSON files."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pytest
import typer
from typer.testing import CliRunner

from growthmap import cli
from growthmap.cli._load import register
from growthmap.contract.inputs import TABLES
from growthmap.errors import ConfigError, InputError
from growthmap.load import (
    DQ_ISSUES,
    QUARANTINE_REASONS,
    ColumnSpec,
    Mapping,
    data_quality,
    load_table,
    quarantine_summary,
    quarantined,
    read_mapping,
)
from growthmap.load._validate import SQL_TYPES
from growthmap.workspace import Workspace


# -- helpers ------------------------------------------------------------------------
@pytest.fixture
def ws(tmp_path: Path):
    w = Workspace.create(tmp_path / "ws.duckdb")
    yield w
    w.close()


def write_csv(path: Path, rows: list[list[Any]], *, delimiter: str = ",",
              encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


def fetch(ws: Workspace, sql: str, params: list[Any] | None = None) -> list[tuple]:
    return ws.con.execute(sql, params or []).fetchall()


def snapshot(ws: Workspace) -> dict[str, list[tuple]]:
    """Every input and system table's content, for before/after comparisons."""
    out = {}
    for schema, name in fetch(ws, "SELECT table_schema, table_name FROM information_schema.tables "
                                  "WHERE table_schema IN ('main', 'gm') ORDER BY 1, 2"):
        out[f"{schema}.{name}"] = sorted(
            fetch(ws, f'SELECT * FROM {schema}."{name}"'), key=repr)
        out[f"{schema}.{name}:columns"] = fetch(ws, f'DESCRIBE {schema}."{name}"')
    return out


def load_reference_tables(ws: Workspace, tmp_path: Path) -> None:
    write_csv(tmp_path / "accounts.csv", [["account_id", "name"], ["A1", "Acme"],
                                          ["A2", "Beta"], ["A3", "Gamma"]])
    write_csv(tmp_path / "products.csv", [["product_id", "family"], ["P1", "Pumps"],
                                          ["P2", "Valves"]])
    load_table(ws, "accounts", tmp_path / "accounts.csv")
    load_table(ws, "products", tmp_path / "products.csv")


def quarantine_rows(ws: Workspace, table: str) -> dict[int, tuple[str, str | None, str | None]]:
    return {r[0]: (r[1], r[2], r[3]) for r in fetch(
        ws, "SELECT row_number, reason, column_name, value FROM gm.quarantine "
            "WHERE table_name = ?", [table])}


TX_HEADER = ["line_id", "account_id", "date", "product_id", "amount"]


# -- formats ------------------------------------------------------------------------
def test_csv_output_types_are_exactly_the_contract(ws, tmp_path):
    f = write_csv(tmp_path / "tx.csv", [[*TX_HEADER, "quantity", "cost"],
                                        ["L1", "A1", "2024-03-31", "P1", "100.5", "2", "40"]])
    report = load_table(ws, "transactions", f)
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (1, 1, 0)
    types = {r[0]: r[1] for r in fetch(ws, "DESCRIBE main.transactions")}
    expected = {c.name: SQL_TYPES[c.dtype] for c in TABLES["transactions"].columns}
    assert {k: v for k, v in types.items() if not k.startswith("_")} == expected
    assert set(types) - set(expected) == {"_load_id", "_row"}
    assert fetch(ws, "SELECT amount, date, doc_type, _row FROM transactions") == [
        (100.5, dt.date(2024, 3, 31), "invoice", 1)]


def test_parquet_typed_columns_skip_the_text_round_trip(ws, tmp_path):
    f = tmp_path / "tx.parquet"
    duckdb.execute(f"""COPY (SELECT * FROM (VALUES
        ('L1', 'A1', DATE '2024-01-02', 'P1', 10.0::DOUBLE, 3::BIGINT),
        ('L2', 'A2', DATE '2024-01-03', 'P2', 'nan'::DOUBLE, 1),
        ('L3', NULL, DATE '2024-01-04', 'P1', 5.0, 2)) t(line_id, account_id, date, product_id,
        amount, quantity)) TO '{f}' (FORMAT parquet)""")
    report = load_table(ws, "transactions", f)
    assert report.rows_loaded == 1
    assert report.by_reason == {"missing required value": 1, "unparsable value": 1}
    assert quarantine_rows(ws, "transactions")[2] == ("unparsable value", "amount", "nan")
    assert fetch(ws, "SELECT quantity, date FROM transactions") == [(3.0, dt.date(2024, 1, 2))]


def test_parquet_text_columns_are_parsed(ws, tmp_path):
    f = tmp_path / "acc.parquet"
    duckdb.execute(f"""COPY (SELECT * FROM (VALUES ('A1', '1200', '51.5'), ('A2', 'many', '91'))
        t(account_id, employees, lat)) TO '{f}' (FORMAT parquet)""")
    report = load_table(ws, "accounts", f)
    assert report.rows_loaded == 2 and report.cells_nulled == 2
    assert fetch(ws, "SELECT account_id, employees, lat FROM accounts ORDER BY 1") == [
        ("A1", 1200, 51.5), ("A2", None, None)]


def test_excel_dates_numbers_sheet_and_header_row(ws, tmp_path):
    book = openpyxl.Workbook()
    book.active.title = "Cover"
    sheet = book.create_sheet("Lines")
    sheet.append(["Export of 2024-05-01"])
    sheet.append(TX_HEADER)
    sheet.append(["L1", "A1", dt.datetime(2024, 2, 29), "P1", 12.5])
    sheet.append([None, None, None, None, None])  # blank layout row: not a record
    sheet.append(["L2", "A2", 45352, "P2", 7])  # a date typed as an Excel serial number
    sheet.append(["L3", "A3", "not a date", "P1", 1])
    book.save(tmp_path / "tx.xlsx")
    report = load_table(ws, "transactions", tmp_path / "tx.xlsx",
                        mapping={"source": {"sheet": "Lines", "header_row": 2}})
    assert (report.rows_read, report.rows_loaded) == (3, 2)
    assert fetch(ws, "SELECT line_id, date, amount FROM transactions ORDER BY 1") == [
        ("L1", dt.date(2024, 2, 29), 12.5), ("L2", dt.date(2024, 3, 1), 7.0)]
    # row numbers count data rows after the header, blank rows included
    assert quarantine_rows(ws, "transactions") == {
        4: ("unparsable value", "date", "not a date")}


def test_json_and_ndjson(ws, tmp_path):
    (tmp_path / "p.json").write_text(json.dumps([
        {"product_id": "P1", "family": "Pumps", "lifecycle_stage": "Growth", "list_price": 10},
        {"product_id": "P2", "lifecycle_stage": "bogus", "list_price": -1}]))
    report = load_table(ws, "products", tmp_path / "p.json")
    assert report.dq_by_issue == {"value not allowed": 1, "out of range": 1}
    assert fetch(ws, "SELECT product_id, lifecycle_stage, list_price FROM products ORDER BY 1") \
        == [("P1", "growth", 10.0), ("P2", None, None)]
    (tmp_path / "p.ndjson").write_text('{"product_id": "P3", "list_price": "2.5"}\n'
                                       '{"family": "Orphans"}\n')
    report = load_table(ws, "products", tmp_path / "p.ndjson", mode="upsert")
    assert report.by_reason == {"missing key": 1}
    assert fetch(ws, "SELECT count(*) FROM products") == [(3,)]


def test_semicolon_cp1252_csv_with_decimal_comma(ws, tmp_path):
    f = write_csv(tmp_path / "konten.csv",
                  [["Kundennr", "Firma", "Umsatz"], ["K1", "Müller & Söhne", "1.234.567,89"],
                   ["K2", "Ærø €", "12,5"]], delimiter=";", encoding="cp1252")
    mapping = {"columns": {"account_id": "Kundennr", "name": "Firma",
                           "annual_revenue": {"from": "Umsatz", "decimal": ",",
                                              "thousands": "."}}}
    report = load_table(ws, "accounts", f, mapping=mapping)
    assert report.rows_loaded == 2
    assert any("cp1252" in n for n in report.notes)
    assert fetch(ws, "SELECT name, annual_revenue FROM accounts ORDER BY 1") == [
        ("Müller & Söhne", 1234567.89), ("Ærø €", 12.5)]


def test_tab_separated_and_other_duckdb_formats(ws, tmp_path):
    (tmp_path / "t.tsv").write_text("territory_id\tname\nT1\tNorth\nT2\tSouth\n")
    assert load_table(ws, "territories", tmp_path / "t.tsv").rows_loaded == 2
    (tmp_path / "reps.data").write_text("rep_id,name\nR1,Ann\n")
    report = load_table(ws, "reps", tmp_path / "reps.data", mapping={"source": {"format": "csv"}})
    assert report.rows_loaded == 1


# -- quarantine reasons ---------------------------------------------------------------
def test_every_quarantine_reason_with_row_number_column_value_and_raw(ws, tmp_path):
    load_reference_tables(ws, tmp_path)
    f = write_csv(tmp_path / "tx.csv", [
        [*TX_HEADER, "currency", "doc_type"],
        ["L1", "A1", "2024-01-05", "P1", "100", "EUR", "INV"],    # 1 ok
        ["L2", "", "2024-01-05", "P1", "100", "EUR", "INV"],      # 2 missing required value
        ["L3", "A1", "2024-13-45", "P1", "100", "EUR", "INV"],    # 3 unparsable date
        ["L4", "A1", "2024-01-05", "P1", "12abc", "EUR", "INV"],  # 4 unparsable amount
        ["L5", "A1", "2024-01-05", "P1", "100", "XYZ", "INV"],    # 5 unknown currency
        ["L6", "A1", "2024-01-05", "P1", "-50", "EUR", "INV"],    # 6 unmarked negative amount
        ["L7", "A1", "2024-01-05", "P1", "-50", "EUR", "CN"],     # 7 ok: credit note
        ["L8", "A9", "2024-01-05", "P1", "100", "EUR", "INV"],    # 8 unknown account
        ["L9", "A1", "2024-01-05", "P7", "100", "EUR", "INV"],    # 9 unknown product
        ["L1", "A2", "2024-02-05", "P2", "1", "EUR", "INV"],      # 10 duplicate key
    ])
    mapping = {"columns": {"doc_type": {"values": {"INV": "invoice", "CN": "credit_note"}}},
               "fx": {"base": "EUR", "rates": {"USD": 0.9}}}
    report = load_table(ws, "transactions", f, mapping=mapping)
    assert report.rows_read == 10 and report.rows_loaded == 2 and report.reconciles
    assert report.by_reason == {"missing required value": 1, "unparsable value": 2,
                                "unknown currency": 1, "unmarked negative amount": 1,
                                "unknown reference": 2, "duplicate key": 1}
    assert quarantine_rows(ws, "transactions") == {
        2: ("missing required value", "account_id", None),
        3: ("unparsable value", "date", "2024-13-45"),
        4: ("unparsable value", "amount", "12abc"),
        5: ("unknown currency", "currency", "XYZ"),
        6: ("unmarked negative amount", "amount", "-50"),
        8: ("unknown reference", "account_id", "A9"),
        9: ("unknown reference", "product_id", "P7"),
        10: ("duplicate key", "line_id", "L1"),
    }
    raw = json.loads(fetch(ws, "SELECT raw FROM gm.quarantine WHERE row_number = 10")[0][0])
    assert raw == dict(zip([*TX_HEADER, "currency", "doc_type"],
                           ["L1", "A2", "2024-02-05", "P2", "1", "EUR", "INV"], strict=True))
    assert fetch(ws, "SELECT line_id, amount, doc_type FROM transactions ORDER BY 1") == [
        ("L1", 100.0, "invoice"), ("L7", -50.0, "credit_note")]
    assert set(report.by_reason) <= set(QUARANTINE_REASONS)


def test_missing_key_and_out_of_range_required_value(ws, tmp_path):
    load_reference_tables(ws, tmp_path)
    f = write_csv(tmp_path / "comp.csv", [
        ["account_id", "family", "competitor", "share"],
        ["A1", "Pumps", "Rival", "0.4"],
        ["A1", "", "Rival", "0.4"],       # missing key (family is part of the key)
        ["A2", "Pumps", "Rival", "1.5"],  # out of range
        ["A2", "Pumps", "Other", "-0"],   # ok (zero)
    ])
    report = load_table(ws, "competitors", f)
    assert report.by_reason == {"missing key": 1, "out of range": 1}
    assert quarantine_rows(ws, "competitors") == {2: ("missing key", "family", None),
                                                  3: ("out of range", "share", "1.5")}


def test_malformed_csv_lines_are_quarantined_and_row_numbers_stay_true(ws, tmp_path):
    lines = ["account_id,name,employees"] + [f"A{i},N{i},{i}" for i in range(1, 31)]
    lines[10] = "A10,too,many,fields"
    lines[20] = "A20"
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    report = load_table(ws, "accounts", tmp_path / "a.csv")
    assert report.by_reason == {"malformed line": 2} and report.rows_read == 30
    assert set(quarantine_rows(ws, "accounts")) == {10, 20}
    assert fetch(ws, "SELECT raw FROM gm.quarantine WHERE row_number = 20") == [('"A20"',)]
    assert fetch(ws, "SELECT count(*) FROM accounts WHERE _row <> CAST(substr(account_id, 2) "
                     "AS INTEGER)") == [(0,)]


def test_references_checked_only_when_the_table_is_loaded(ws, tmp_path):
    f = write_csv(tmp_path / "tx.csv", [TX_HEADER, ["L1", "A-unknown", "2024-01-01", "P1", "1"]])
    report = load_table(ws, "transactions", f)
    assert report.rows_loaded == 1 and any("load accounts first" in n for n in report.notes)


# -- optional columns: null the cell, keep the row -----------------------------------------
def test_bad_optional_values_null_the_cell_and_are_recorded(ws, tmp_path):
    write_csv(tmp_path / "terr.csv", [["territory_id"], ["T1"]])
    load_table(ws, "territories", tmp_path / "terr.csv")
    f = write_csv(tmp_path / "acc.csv", [
        ["account_id", "employees", "lat", "territory_id", "annual_revenue"],
        ["A1", "-5", "45", "T1", "1e6"],
        ["A2", "10", "95", "T9", "lots"],
        ["A3", "3.5", "", "", ""],
    ])
    report = load_table(ws, "accounts", f)
    assert report.rows_loaded == 3 and report.rows_quarantined == 0
    assert report.dq_by_issue == {"out of range": 2, "unknown reference": 1,
                                  "unparsable value": 2}
    assert fetch(ws, "SELECT account_id, employees, lat, territory_id, annual_revenue "
                     "FROM accounts ORDER BY 1") == [
        ("A1", None, 45.0, "T1", 1e6), ("A2", 10, None, None, None), ("A3", None, None, None, None)]
    assert fetch(ws, "SELECT table_name, row_number, key, column_name, value, issue "
                     "FROM gm.data_quality ORDER BY row_number, column_name") == [
        ("accounts", 1, "A1", "employees", "-5", "out of range"),
        ("accounts", 2, "A2", "annual_revenue", "lots", "unparsable value"),
        ("accounts", 2, "A2", "lat", "95", "out of range"),
        ("accounts", 2, "A2", "territory_id", "T9", "unknown reference"),
        ("accounts", 3, "A3", "employees", "3.5", "unparsable value"),
    ]
    assert set(report.dq_by_issue) <= set(DQ_ISSUES)
    assert report.cells_nulled == fetch(ws, "SELECT count(*) FROM gm.data_quality")[0][0]


def test_optional_date_and_allowed_value(ws, tmp_path):
    load_reference_tables(ws, tmp_path)
    f = write_csv(tmp_path / "contacts.csv", [
        ["contact_id", "account_id", "role", "last_engagement"],
        ["C1", "A1", "Decision Maker", "2024-05-01"],
        ["C2", "A1", "janitor", "yesterday"],
    ])
    report = load_table(ws, "contacts", f)
    assert report.rows_loaded == 2
    assert fetch(ws, "SELECT role, last_engagement FROM contacts ORDER BY contact_id") == [
        ("decision_maker", dt.date(2024, 5, 1)), (None, None)]
    assert {(r["column_name"], r["issue"]) for r in data_quality(ws, "contacts")} == {
        ("role", "value not allowed"), ("last_engagement", "unparsable value")}


# -- mappings ---------------------------------------------------------------------------
def test_mapping_file_renames_formats_constants_and_fx_table(ws, tmp_path):
    load_reference_tables(ws, tmp_path)
    write_csv(tmp_path / "fx.csv", [["currency", "rate"], ["USD", "0.5"], ["EUR", "1"]])
    load_table(ws, "fx_rates", tmp_path / "fx.csv")
    f = write_csv(tmp_path / "erp.csv", [
        ["Kunde", "Datum", "Artikel", "Betrag", "Whg"],
        ["A1", "31.01.2024", "P1", "1.000,50", "USD"],
        ["A2", "01.02.2024", "P2", "20", ""],
    ], delimiter=";")
    (tmp_path / "erp.toml").write_text("""
table = "transactions"
[defaults]
decimal = ","
thousands = "."
[columns]
account_id = "Kunde"
date = { from = "Datum", date_format = "%d.%m.%Y" }
product_id = "Artikel"
amount = "Betrag"
currency = "Whg"
""")
    report = load_table(ws, "transactions", f, mapping=tmp_path / "erp.toml")
    assert report.rows_loaded == 2
    assert report.columns == {"account_id": "Kunde", "date": "Datum", "product_id": "Artikel",
                              "amount": "Betrag", "currency": "Whg"}
    assert fetch(ws, "SELECT account_id, date, amount, currency FROM transactions ORDER BY 1") \
        == [("A1", dt.date(2024, 1, 31), 500.25, "USD"), ("A2", dt.date(2024, 2, 1), 20.0, None)]


def test_constants_and_inline_fx_rates(ws, tmp_path):
    f = write_csv(tmp_path / "tx.csv", [[*TX_HEADER, "cost"],
                                        ["L1", "A1", "2024-01-01", "P1", "10", "4"]])
    report = load_table(ws, "transactions", f, mapping={
        "constants": {"currency": "usd"}, "fx": {"base": "EUR", "rates": {"USD": 0.8}}})
    assert report.rows_loaded == 1
    assert fetch(ws, "SELECT amount, cost, currency FROM transactions") == [(8.0, 3.2, "USD")]


@pytest.mark.parametrize(("values", "fmt", "expected"), [
    (["13/01/2024", "02/03/2024"], None, [dt.date(2024, 1, 13), dt.date(2024, 3, 2)]),
    (["01/13/2024", "02/03/2024"], None, [dt.date(2024, 1, 13), dt.date(2024, 2, 3)]),
    (["31.12.24", "01.02.25"], None, [dt.date(2024, 12, 31), dt.date(2025, 2, 1)]),
    (["20240105", "2024-01-06"], None, [dt.date(2024, 1, 5), dt.date(2024, 1, 6)]),
    (["45292", "45293"], "excel", [dt.date(2024, 1, 1), dt.date(2024, 1, 2)]),
    (["05/06/2024", "2024-06-07"], "%m/%d/%Y", [dt.date(2024, 5, 6), dt.date(2024, 6, 7)]),
])
def test_date_formats_detected_per_column_or_given(ws, tmp_path, values, fmt, expected):
    rows = [TX_HEADER] + [[f"L{i}", "A1", v, "P1", "1"] for i, v in enumerate(values)]
    mapping = {"defaults": {"date_format": fmt}} if fmt else None
    report = load_table(ws, "transactions", write_csv(tmp_path / "d.csv", rows), mapping=mapping)
    assert report.rows_loaded == len(values)
    assert [r[0] for r in fetch(ws, "SELECT date FROM transactions ORDER BY line_id")] == expected


def test_ambiguous_day_month_is_reported(ws, tmp_path):
    rows = [TX_HEADER, ["L1", "A1", "05/06/2024", "P1", "1"]]
    report = load_table(ws, "transactions", write_csv(tmp_path / "d.csv", rows))
    assert fetch(ws, "SELECT date FROM transactions") == [(dt.date(2024, 6, 5),)]
    assert any("%m/%d/%Y" in n and "would fit" in n for n in report.notes)


def test_credit_notes_with_and_without_a_document_type(ws, tmp_path):
    rows = [TX_HEADER, ["L1", "A1", "2024-01-01", "P1", "-25"], ["L2", "A1", "2024-01-01", "P1",
                                                                 "25"]]
    load_table(ws, "transactions", write_csv(tmp_path / "tx.csv", rows))
    assert fetch(ws, "SELECT amount, doc_type FROM transactions ORDER BY 1") == [
        (-25.0, "credit_note"), (25.0, "invoice")]
    # a credit note exported with a positive amount is stored negative
    rows = [[*TX_HEADER, "Type"], ["L1", "A1", "2024-01-01", "P1", "25", "GS"]]
    load_table(ws, "transactions", write_csv(tmp_path / "tx.csv", rows), mapping={
        "columns": {"doc_type": {"from": "Type", "values": {"GS": "credit_note"}}}})
    assert fetch(ws, "SELECT amount, doc_type FROM transactions") == [(-25.0, "credit_note")]


def test_values_mapping_for_booleans_and_normalised_headers(ws, tmp_path):
    load_reference_tables(ws, tmp_path)
    f = write_csv(tmp_path / "opp.csv", [
        ["Opportunity ID", "Account Id", "Created", "Stage"],
        ["O1", "A1", "2024-01-01", "Closed Won"], ["O2", "A2", "2024-01-02", "Closed Lost"],
        ["O3", "A3", "2024-01-03", "Negotiation"]])
    report = load_table(ws, "opportunities", f, mapping={"columns": {
        "won": {"from": "Stage", "values": {"Closed Won": "true", "Closed Lost": False,
                                            "Negotiation": ""}}}})
    assert report.columns["opportunity_id"] == "Opportunity ID" and report.cells_nulled == 0
    assert fetch(ws, "SELECT opportunity_id, won FROM opportunities ORDER BY 1") == [
        ("O1", True), ("O2", False), ("O3", None)]


def test_extra_columns_kept_for_accounts_dropped_elsewhere(ws, tmp_path):
    f = write_csv(tmp_path / "a.csv", [["account_id", "Segment Code", "IT spend", "name"],
                                       ["A1", "S1", "5000", "Acme"]])
    report = load_table(ws, "accounts", f, mapping={"columns": {"it_budget": "IT spend"}})
    assert report.extra_columns == {"it_budget": "IT spend", "segment_code": "Segment Code"}
    assert fetch(ws, "SELECT segment_code, it_budget FROM accounts") == [("S1", "5000")]
    f = write_csv(tmp_path / "p.csv", [["product_id", "Internal Note"], ["P1", "x"]])
    report = load_table(ws, "products", f)
    assert report.dropped_columns == ["Internal Note"]
    assert any("dropped: Internal Note" in n for n in report.notes)
    assert "Internal Note" not in [r[0] for r in fetch(ws, "DESCRIBE products")]


def test_mapping_round_trips_and_merges_like_a_preset(tmp_path):
    preset = Mapping.from_dict({"columns": {"account_id": "Account ID", "name": "Account Name"},
                                "defaults": {"date_format": "%m/%d/%Y"}})
    assert Mapping.from_dict(preset.to_dict()) == preset
    mine = preset.merge({"columns": {"name": "Company", "account_id": {"values": {"-": ""}}},
                         "constants": {"country": "DE"}})
    assert mine.columns["account_id"] == ColumnSpec("Account ID", values={"-": ""})
    assert mine.columns["name"].source == "Company"
    assert mine.constants == {"country": "DE"} and mine.date_format == ("%m/%d/%Y",)
    (tmp_path / "m.toml").write_text('[columns]\naccount_id = "Account ID"\n')
    assert read_mapping(tmp_path / "m.toml").columns["account_id"].source == "Account ID"


@pytest.mark.parametrize(("data", "match"), [
    ({"colums": {}}, "unknown key 'colums'.*did you mean 'columns'"),
    ({"columns": {"amount": {"form": "X"}}}, r"\[columns\].amount.*did you mean 'from'"),
    ({"defaults": {"date_format": "DD.MM.YYYY"}}, "not a date format"),
    ({"defaults": {"decimal": ",", "thousands": ","}}, "both decimal and thousands"),
    ({"fx": {"rates": {"USD": -1}}}, r"\[fx\].rates.USD"),
    ({"columns": {"amount": "X"}, "constants": {"amount": 1}}, "both mapped"),
    ({"source": {"format": "xls"}}, r"\[source\].format"),
])
def test_mapping_errors_name_the_key_and_the_fix(data, match):
    with pytest.raises(ConfigError, match=match) as info:
        Mapping.from_dict(data)
    assert info.value.hint


def test_mapping_errors_found_at_load_time(ws, tmp_path):
    f = write_csv(tmp_path / "tx.csv", [TX_HEADER, ["L1", "A1", "2024-01-01", "P1", "1"]])
    with pytest.raises(ConfigError, match=r"'acount_id'.*did you mean 'account_id'"):
        load_table(ws, "transactions", f, mapping={"columns": {"acount_id": "X"}})
    with pytest.raises(ConfigError, match=r"constants.*currency"):
        load_table(ws, "products", f, mapping={"constants": {"currency": "EUR"}})
    with pytest.raises(ConfigError, match="not a valid float"):
        load_table(ws, "transactions", f, mapping={"constants": {"cost": "cheap"}})
    with pytest.raises(ConfigError, match="mapping for 'accounts'"):
        load_table(ws, "transactions", f, mapping={"table": "accounts"})
    with pytest.raises(ConfigError, match="mode"):
        load_table(ws, "transactions", f, mode="append")  # type: ignore[arg-type]
    (tmp_path / "bad.toml").write_text("[columns]\namount = Net Amount\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_table(ws, "transactions", f, mapping=tmp_path / "bad.toml")


# -- structural errors leave the workspace unchanged ----------------------------------------
def _structural_cases(tmp_path: Path) -> list[tuple[str, Path, dict | None, str]]:
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "garbage.parquet").write_bytes(b"PAR1 not really parquet")
    (tmp_path / "garbage.xlsx").write_bytes(b"not a zip")
    write_csv(tmp_path / "nocol.csv", [["Account Name", "Amount"], ["x", "1"]])
    write_csv(tmp_path / "fx.csv", [[*TX_HEADER, "currency"],
                                    ["L1", "A1", "2024-01-01", "P1", "1", "EUR"],
                                    ["L2", "A1", "2024-01-01", "P1", "1", "USD"]])
    write_csv(tmp_path / "ok.csv", [["account_id"], ["A1"]])
    openpyxl.Workbook().save(tmp_path / "book.xlsx")
    return [
        ("accounts", tmp_path / "book.xlsx", {"source": {"sheet": "Data"}}, "no sheet 'Data'"),
        ("accounts", tmp_path / "missing.csv", None, "does not exist"),
        ("accounts", tmp_path / "empty.csv", None, "is empty"),
        ("accounts", tmp_path / "garbage.parquet", None, "cannot read"),
        ("accounts", tmp_path / "garbage.xlsx", None, "cannot read"),
        ("transactions", tmp_path / "nocol.csv", None, "account_id, date, product_id of"),
        ("transactions", tmp_path / "fx.csv", None, "EUR, USD but no exchange rates"),
        ("acounts", tmp_path / "ok.csv", None, "unknown table"),
        ("accounts", tmp_path / "ok.csv", {"source": {"sheet": "x", "format": "xlsx"}},
         "cannot read"),
    ]


def test_structural_errors_raise_input_error_and_change_nothing(ws, tmp_path):
    load_reference_tables(ws, tmp_path)
    write_csv(tmp_path / "tx.csv", [TX_HEADER, ["L1", "A1", "2024-01-01", "P1", "5"],
                                    ["L1", "A1", "2024-01-01", "P1", "6"]])
    load_table(ws, "transactions", tmp_path / "tx.csv")
    before = snapshot(ws)
    for table, path, mapping, match in _structural_cases(tmp_path):
        with pytest.raises(InputError, match=match):
            load_table(ws, table, path, mapping=mapping, mode="replace")
        assert snapshot(ws) == before, (table, path)
    assert not fetch(ws, "SELECT * FROM duckdb_tables() WHERE temporary")
    assert not fetch(ws, "SELECT * FROM duckdb_views() WHERE temporary AND NOT internal")


def test_missing_required_column_lists_headers_and_suggests_the_closest(ws, tmp_path):
    f = write_csv(tmp_path / "tx.csv", [["Customer Account", "Invoice Date", "Product", "Net"],
                                        ["A1", "2024-01-01", "P1", "1"]])
    with pytest.raises(InputError) as info:
        load_table(ws, "transactions", f)
    msg = str(info.value)
    assert "the file has: Customer Account, Invoice Date, Product, Net" in msg
    assert 'account_id = "Customer Account"' in msg and 'product_id = "Product"' in msg


# -- modes ----------------------------------------------------------------------------
def test_same_file_twice_never_duplicates(ws, tmp_path):
    load_reference_tables(ws, tmp_path)
    tx = write_csv(tmp_path / "tx.csv", [TX_HEADER, ["L1", "A1", "2024-01-01", "P1", "5"],
                                         ["L2", "A2", "2024-01-02", "P2", "bad"]])
    nokey = write_csv(tmp_path / "nokey.csv", [TX_HEADER[1:], ["A1", "2024-01-01", "P1", "5"],
                                               ["A2", "2024-01-02", "P2", "7"]])
    sig = write_csv(tmp_path / "sig.csv", [["account_id", "date", "kind", "value"],
                                           ["A1", "2024-01-01", "web_visit", "x"]])
    def content(table: str) -> list[list[tuple]]:
        return [sorted(fetch(ws, sql), key=repr) for sql in (
            f"SELECT * EXCLUDE (_load_id) FROM main.{table}",
            "SELECT * EXCLUDE (load_id) FROM gm.quarantine",
            "SELECT * EXCLUDE (load_id) FROM gm.data_quality")]

    for mode in ("replace", "upsert"):
        for table, f in (("transactions", tx), ("transactions", nokey), ("signals", sig)):
            load_table(ws, table, f, mode=mode)
            first = content(table)
            assert first[0], (mode, table, f.name)
            load_table(ws, table, f, mode=mode)
            assert content(table) == first, (mode, table, f.name)


def test_upsert_replaces_by_key_and_adds_the_rest(ws, tmp_path):
    load_reference_tables(ws, tmp_path)
    write_csv(tmp_path / "jan.csv", [TX_HEADER, ["L1", "A1", "2024-01-01", "P1", "5"],
                                     ["L2", "A1", "2024-01-02", "P1", "6"]])
    write_csv(tmp_path / "fix.csv", [TX_HEADER, ["L2", "A1", "2024-01-02", "P1", "60"],
                                     ["L3", "A2", "2024-01-03", "P2", "7"]])
    load_table(ws, "transactions", tmp_path / "jan.csv")
    report = load_table(ws, "transactions", tmp_path / "fix.csv", mode="upsert")
    assert report.rows_replaced == 1
    assert fetch(ws, "SELECT line_id, amount FROM transactions ORDER BY 1") == [
        ("L1", 5.0), ("L2", 60.0), ("L3", 7.0)]
    # replace: the table becomes the file's valid rows
    load_table(ws, "transactions", tmp_path / "fix.csv", mode="replace")
    assert fetch(ws, "SELECT line_id FROM transactions ORDER BY 1") == [("L2",), ("L3",)]


def test_upsert_without_key_replaces_rows_of_the_same_file_name(ws, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    rows = [["account_id", "date", "kind"], ["A1", "2024-01-01", "intent"]]
    load_table(ws, "signals", write_csv(tmp_path / "a" / "s.csv", rows), mode="upsert")
    load_table(ws, "signals", write_csv(tmp_path / "other.csv", rows), mode="upsert")
    rows.append(["A2", "2024-01-02", "web_visit"])
    report = load_table(ws, "signals", write_csv(tmp_path / "b" / "s.csv", rows), mode="upsert")
    assert report.rows_replaced == 1
    assert fetch(ws, "SELECT count(*) FROM signals") == [(3,)]


def test_upsert_into_a_table_made_elsewhere_adds_bookkeeping_columns(ws, tmp_path):
    ws.con.execute("CREATE TABLE territories (territory_id VARCHAR, name VARCHAR)")
    ws.con.execute("INSERT INTO territories VALUES ('T1', 'old'), ('T2', 'keep')")
    f = write_csv(tmp_path / "t.csv", [["territory_id", "name"], ["T1", "new"]])
    load_table(ws, "territories", f, mode="upsert")
    assert fetch(ws, "SELECT territory_id, name, _load_id FROM territories ORDER BY 1") == [
        ("T1", "new", 1), ("T2", "keep", None)]


# -- report and listings --------------------------------------------------------------
def test_report_renders_the_reconciliation_and_listings(ws, tmp_path):
    f = write_csv(tmp_path / "a.csv", [["account_id", "employees"], ["A1", "x"], ["", "1"],
                                       ["A1", "2"]])
    report = load_table(ws, "accounts", f)
    text = report.render()
    assert "read = loaded + quarantined: 3 = 1 + 2 (ok)" in text
    assert "missing key" in text and "duplicate key" in text and "unparsable value" in text
    assert report.to_dict()["by_reason_column"] == {"missing key|account_id": 1,
                                                    "duplicate key|account_id": 1}
    assert [r["reason"] for r in quarantined(ws, "accounts")] == ["missing key", "duplicate key"]
    assert {(s["kind"], s["reason"], s["n"]) for s in quarantine_summary(ws)} == {
        ("quarantined row", "missing key", 1), ("quarantined row", "duplicate key", 1),
        ("nulled cell", "unparsable value", 1)}
    assert fetch(ws, "SELECT table_name, rows_read, rows_loaded, rows_quarantined, cells_nulled "
                     "FROM gm.loads") == [("accounts", 3, 1, 2, 1)]


# -- command line -----------------------------------------------------------------------
def _cli_app() -> typer.Typer:
    """The real CLI; registers the load commands on a copy when the root lacks them."""
    names = {c.name or c.callback.__name__ for c in cli.app.registered_commands}
    if "load" in names:
        return cli.app
    app = typer.Typer(cls=cli.app.info.cls)
    app.callback()(cli.app.registered_callback.callback)
    register(app)
    return app


def test_cli_load_quarantine_and_quality(tmp_path):
    runner, app, wsf = CliRunner(), _cli_app(), str(tmp_path / "w.duckdb")
    f = write_csv(tmp_path / "a.csv", [["account_id", "employees"], ["A1", "-1"], ["", "2"]])
    result = runner.invoke(app, ["-w", wsf, "load", "accounts", str(f)])
    assert result.exit_code == 0, result.output
    assert "rows read" in result.output and "missing key" in result.output
    assert "read = loaded + quarantined: 2 = 1 + 1" in result.output
    result = runner.invoke(app, ["quarantine", "--workspace", wsf, "--table", "accounts"])
    assert result.exit_code == 0 and "missing key" in result.output
    result = runner.invoke(app, ["-w", wsf, "quality"])
    assert result.exit_code == 0 and "out of range" in result.output
    result = runner.invoke(app, ["-w", wsf, "load", "accounts", str(tmp_path / "nope.csv"),
                                 "--mode", "upsert"])
    assert result.exit_code == InputError.exit_code
    assert "does not" in result.output and "fix:" in result.output
