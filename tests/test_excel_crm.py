"""The Excel workbook and the CRM import file, read back with independent readers."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pandas as pd
import pytest
from openpyxl import load_workbook

from growthmap.config import Config
from growthmap.read.access import Principal
from growthmap.report.crm import CRM_COLUMNS, format_value, write_crm_csv
from growthmap.report.excel import column_format, header_label, sheet_name, write_workbook
from growthmap.workspace import Workspace
from tests.test_web_api import world


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return world(tmp_path_factory)


@pytest.fixture(scope="module")
def ref(w: dict[str, Any]) -> dict[str, pd.DataFrame]:
    ws = Workspace.open(w["path"], read_only=True)
    try:
        sid = w["snapshot"]
        av = ws.con.execute(
            f"SELECT a.*, p.potential, p.whitespace, s.tier, s.care_model, s.next_best_offer, "
            f"r.ptb FROM snap_{sid}.account_value a "
            f"LEFT JOIN snap_{sid}.potential_account p USING (account_id) "
            f"LEFT JOIN snap_{sid}.segments s USING (account_id) "
            f"LEFT JOIN snap_{sid}.propensity r USING (account_id)").df()
        as_of = ws.snapshot_info()["as_of"]
    finally:
        ws.close()
    return {"av": av, "as_of": as_of}


@pytest.fixture(scope="module")
def workbook(w: dict[str, Any], tmp_path_factory: pytest.TempPathFactory):
    from typer.testing import CliRunner

    from growthmap.cli import app

    out = tmp_path_factory.mktemp("xlsx") / "plan.xlsx"
    r = CliRunner().invoke(app, ["-w", str(w["path"]), "export", "--format", "xlsx",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    return load_workbook(out)


def test_workbook_sheets_are_ready_to_filter(workbook, ref) -> None:
    av = ref["av"]
    names = workbook.sheetnames
    assert names[:5] == ["Summary", "Accounts", "Families", "Territories", "Reps"]
    reps = sorted(av["owner_rep_id"].dropna().unique())
    assert [n for n in names if n.startswith("Book ")] == [f"Book {r}" for r in reps]
    acc = workbook["Accounts"]
    header = [c.value for c in acc[1]]
    assert header[0] == "Account ID" and {"Value", "Potential", "Tier", "ROAD"} <= set(header)
    assert acc.freeze_panes == "B2"
    (table,) = acc.tables.values()  # a native Excel table over the whole sheet
    assert table.ref == f"A1:{acc.cell(len(av) + 1, len(header)).coordinate}"
    assert [c.name for c in table.tableColumns] == header
    assert acc.max_row == len(av) + 1
    col = {h: i + 1 for i, h in enumerate(header)}
    assert acc.cell(2, col["Value"]).number_format == "#,##0"
    assert acc.cell(2, col["Share of wallet"]).number_format == "0.0%"
    assert acc.cell(2, col["Last purchase"]).number_format == "yyyy-mm-dd"
    if "Employees" in col:  # a count: an integer format, not #,##0.00
        assert acc.cell(2, col["Employees"]).number_format == "#,##0"
    ids = [acc.cell(r, 1).value for r in range(2, acc.max_row + 1)]
    values = [acc.cell(r, col["Value"]).value for r in range(2, acc.max_row + 1)]
    expected = av.sort_values(["value", "account_id"], ascending=[False, True])
    assert ids == list(expected["account_id"])
    assert values == pytest.approx(list(expected["value"]))
    book = workbook[f"Book {reps[0]}"]
    assert book.max_row - 1 == int((av["owner_rep_id"] == reps[0]).sum())
    assert workbook["Summary"]["B4"].value == len(av)


def test_many_reps_get_one_filterable_sheet(w: dict[str, Any], tmp_path) -> None:
    ws = Workspace.open(w["path"], read_only=True)
    try:
        cfg = Config.from_dict({"report": {"rep_sheets_max": 0}})
        path = write_workbook(ws, tmp_path / "b.xlsx", cfg)
    finally:
        ws.close()
    wb = load_workbook(path, read_only=True)
    assert "Rep books" in wb.sheetnames
    assert not [n for n in wb.sheetnames if n.startswith("Book ")]
    first = next(wb["Rep books"].iter_rows(max_row=1, values_only=True))
    assert first[:2] == ("Owner rep ID", "Account ID")


def test_text_never_becomes_a_formula(tmp_path) -> None:
    from growthmap.report.excel import _Writer

    wr = _Writer(tmp_path / "t.xlsx")
    wr.frame("Evil", pd.DataFrame({"account_id": ["A1"], "name": ["=HYPERLINK(\"x\")"],
                                   "value": [float("nan")]}))
    wr.wb.close()
    sheet = load_workbook(tmp_path / "t.xlsx")["Evil"]
    assert sheet["B2"].value == '=HYPERLINK("x")' and sheet["B2"].data_type == "s"
    assert sheet["C2"].value is None


def test_sheet_names_and_formats() -> None:
    used: set[str] = set()
    assert sheet_name("Book a/b:c*d?[e]", used) == "Book a_b_c_d__e_"
    assert sheet_name("x" * 40, used) == "x" * 31
    assert sheet_name("x" * 40, used) == "x" * 27 + " (2)"
    assert column_format("whitespace", pd.Series([1.0])) == "money"
    assert column_format("ptb", pd.Series([0.1])) == "share"
    assert column_format("employees", pd.Series([3])) == "int"
    assert column_format("employees", pd.Series([3.0, None])) == "int"  # NaN made it float
    assert column_format("need", pd.Series([0.25, 1.0])) == "float"
    assert header_label("share_of_wallet") == "Share of wallet"
    assert header_label("owner_rep_id") == "Owner rep ID"
    assert header_label("ptb") == "PtB"
    assert column_format("name", pd.Series(["a"])) == "text"


def test_crm_file_is_import_ready(w: dict[str, Any], ref, tmp_path) -> None:
    from typer.testing import CliRunner

    from growthmap.cli import app

    out = tmp_path / "crm.csv"
    r = CliRunner().invoke(app, ["-w", str(w["path"]), "export", "--format", "crm",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    raw = out.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # plain UTF-8 by default
    raw.decode("utf-8")
    assert raw.count(b"\r\n") == raw.count(b"\n")  # CRLF line ends
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert rows[0] == list(CRM_COLUMNS)
    df = pd.DataFrame(rows[1:], columns=rows[0])
    av = ref["av"].set_index("account_id")
    assert set(df["account_id"]) == set(av.index)
    money = re.compile(r"^-?\d+\.\d{2}$")
    for col in ("current_value", "potential", "whitespace"):
        filled = df[col][df[col] != ""]
        assert filled.map(lambda s: bool(money.match(s))).all(), col
    assert df["ptb"][df["ptb"] != ""].map(lambda s: bool(re.match(r"^0\.\d{4}$|^1\.0000$",
                                                                   s))).all()
    iso = re.compile(r"^\d{4}-\d{2}-\d{2}$")
    assert df["as_of"].map(lambda s: bool(iso.match(s))).all()
    assert set(df["as_of"]) == {ref["as_of"].isoformat()}
    last = df["last_purchase"][df["last_purchase"] != ""]
    assert last.map(lambda s: bool(iso.match(s))).all()
    got = df.set_index("account_id")
    pot = av["potential"].dropna()
    assert got.loc[pot.index, "potential"].astype(float).to_numpy() == pytest.approx(
        pot.round(2).to_numpy())
    assert (got["segment"] == av["care_model"].reindex(got.index).fillna("")).all()
    assert (got["tier"] == av["tier"].reindex(got.index).fillna("")).all()
    assert (got["owner_rep_id"] == av["owner_rep_id"].reindex(got.index).fillna("")).all()
    assert not {"nan", "NaN", "None", "<NA>", "NaT"} & set(df.to_numpy().ravel())


def test_crm_bom_option_and_rep_scope(w: dict[str, Any], ref, tmp_path) -> None:
    ws = Workspace.open(w["path"], read_only=True)
    try:
        cfg = Config.from_dict({"report": {"crm_bom": True, "crm_decimals": 0}})
        path = write_crm_csv(ws, tmp_path / "bom.csv", cfg,
                             user=Principal("rep_a", "rep", rep_id=w["rep_a"]))
    finally:
        ws.close()
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    df = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    av = ref["av"]
    assert set(df["account_id"]) == set(av.loc[av["owner_rep_id"] == w["rep_a"], "account_id"])
    assert df["current_value"].str.fullmatch(r"-?\d+").all()


def test_format_value_rules() -> None:
    import datetime as dt

    assert format_value(1234567.891, "money") == "1234567.89"
    assert format_value(float("nan"), "money") == ""
    assert format_value(None, "text") == ""
    assert format_value(dt.date(2025, 12, 31), "date") == "2025-12-31"
    assert format_value(pd.Timestamp("2025-01-02 13:00"), "date") == "2025-01-02"
    assert format_value(0.123456, "prob") == "0.1235"
    assert format_value(True, "text") == "true"
