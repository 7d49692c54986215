"""Bad input files: a load never leaves less than it found without being told to, and
almost-right files get a faithful load or a clear error that names the fix.

Real files on disk (CSV, Excel, Parquet) into a real workspace; a hypothesis-driven
generator writes hostile rows in all three formats.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from growthmap.cli import app
from growthmap.errors import GrowthmapError, InputError
from growthmap.load import load_table
from growthmap.load._hazards import MAX_COLUMNS
from growthmap.report.csv_safety import neutralise, neutralise_frame
from growthmap.workspace import Workspace

ACCOUNTS = [("A1", "Müller GmbH"), ("A2", "Société Générale"), ("A3", "Øresund AB")]
TX = [("A1", "2025-01-31", "P1", "1200.50"), ("A2", "2025-02-28", "P1", "99.90"),
      ("A3", "2025-03-31", "P2", "10.00")]


def _csv(path: Path, header: list[str], rows: list[tuple], **kw) -> Path:
    with path.open("w", newline="", encoding=kw.pop("encoding", "utf-8")) as fh:
        csv.writer(fh, **kw).writerows([header, *rows])
    return path


@pytest.fixture
def ws(tmp_path: Path):
    w = Workspace.create(tmp_path / "ws.duckdb")
    load_table(w, "accounts", _csv(tmp_path / "accounts.csv", ["account_id", "name"], ACCOUNTS))
    load_table(w, "products", _csv(tmp_path / "products.csv", ["product_id"], [("P1",), ("P2",)]))
    load_table(w, "transactions", _csv(tmp_path / "tx.csv", ["account_id", "date", "product_id",
                                                             "amount"], TX))
    yield w
    w.close()


def _count(ws: Workspace, table: str) -> int:
    return ws.con.execute(f"SELECT count(*) FROM main.{table}").fetchone()[0]


# -- a replace never empties a table by accident ------------------------------------
@pytest.mark.parametrize("table,header", [
    ("transactions", "account_id,date,product_id,amount\n"), ("accounts", "account_id,name\n")])
def test_a_header_only_replace_changes_nothing_and_exits_non_zero(ws, tmp_path, table, header):
    path = ws.path
    before = _count(ws, table)
    loads = ws.con.execute("SELECT count(*) FROM gm.loads").fetchone()[0]
    ws.close()
    empty = tmp_path / f"{table}_header_only.csv"
    empty.write_text(header, encoding="utf-8")
    res = CliRunner().invoke(app, ["-w", str(path), "load", table, str(empty)])
    assert res.exit_code == 3, res.output
    assert "would empty it" in res.output and "--allow-empty" in res.output
    with Workspace.open(path) as again:
        assert _count(again, table) == before
        assert again.con.execute("SELECT count(*) FROM gm.loads").fetchone()[0] == loads
    res = CliRunner().invoke(app, ["-w", str(path), "load", table, str(empty), "--allow-empty"])
    assert res.exit_code == 0, res.output
    with Workspace.open(path) as again:
        assert _count(again, table) == 0


def test_decimal_commas_are_refused_with_the_fix(ws, tmp_path) -> None:
    rows = [(a, d, p, amt.replace(".", ",")) for a, d, p, amt in TX]
    path = _csv(tmp_path / "semi.csv", ["account_id", "date", "product_id", "amount"], rows,
                delimiter=";")
    with pytest.raises(InputError) as err:
        load_table(ws, "transactions", path)
    assert 'decimal = ","' in err.value.hint and "keeps its 3 rows" in err.value.hint
    assert _count(ws, "transactions") == 3
    fixed = load_table(ws, "transactions", path, mapping={"defaults": {"decimal": ","}})
    assert fixed.rows_loaded == 3
    assert ws.con.execute("SELECT sum(amount) FROM main.transactions").fetchone()[0] == \
        pytest.approx(1310.40)


def test_a_replace_that_quarantines_most_rows_is_refused_unless_allowed(ws, tmp_path) -> None:
    rows = [TX[0], ("A9", "2025-01-31", "P1", "1"), ("A8", "2025-01-31", "P1", "2")]
    path = _csv(tmp_path / "mostly_bad.csv", ["account_id", "date", "product_id", "amount"], rows)
    with pytest.raises(InputError) as err:
        load_table(ws, "transactions", path)
    assert "2 of 3 rows" in err.value.message and "unknown reference" in err.value.message
    assert _count(ws, "transactions") == 3
    report = load_table(ws, "transactions", path, max_quarantined=1.0)
    assert (report.rows_loaded, report.rows_quarantined) == (1, 2)


def test_an_amount_past_the_stated_bound_is_quarantined(ws, tmp_path) -> None:
    rows = [*TX, ("A1", "2025-04-30", "P1", "1e308"), ("A2", "2025-04-30", "P1", "-2e15")]
    path = _csv(tmp_path / "huge.csv", ["account_id", "date", "product_id", "amount"], rows)
    report = load_table(ws, "transactions", path)
    assert report.rows_loaded == 3 and report.by_reason == {"out of range": 2}
    (top,) = ws.con.execute("SELECT max(abs(amount)) FROM main.transactions").fetchone()
    assert top < 1e15


# -- almost-right files ----------------------------------------------------------------
def test_a_few_latin1_lines_do_not_garble_the_utf8_names(ws, tmp_path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes("account_id,name\nA1,Müller GmbH\nA2,Société Générale\n".encode()
                     + "A3,Bäcker Ltd\n".encode("latin-1") + "A4,Øresund AB\n".encode())
    report = load_table(ws, "accounts", path)
    names = dict(ws.con.execute("SELECT account_id, name FROM main.accounts").fetchall())
    assert names == {"A1": "Müller GmbH", "A2": "Société Générale", "A3": "Bäcker Ltd",
                     "A4": "Øresund AB"}
    assert any("line 4" in n for n in report.notes)


def test_utf16_without_bom_is_read(ws, tmp_path) -> None:
    path = tmp_path / "u16.csv"
    path.write_bytes("account_id,name\nA1,Müller\nA2,Zoë\n".encode("utf-16-le"))
    report = load_table(ws, "accounts", path)
    assert report.rows_loaded == 2 and any("UTF-16" in n for n in report.notes)
    assert ws.con.execute("SELECT name FROM main.accounts WHERE account_id = 'A2'"
                          ).fetchone() == ("Zoë",)


def test_too_wide_and_too_long_are_refused_by_name(ws, tmp_path) -> None:
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(MAX_COLUMNS + 1)) + "\n1\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match="columns in its header line"):
        load_table(ws, "accounts", wide)
    long = tmp_path / "long.csv"
    long.write_text("account_id,name\nA1," + "x" * 3_000_000 + "\nA2,b\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line \d+ is longer than the 2 MB"):
        load_table(ws, "accounts", long)
    assert _count(ws, "accounts") == 3


def test_duplicate_headers_are_noted(ws, tmp_path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("account_id,name,name\nA1,first,second\n", encoding="utf-8")
    report = load_table(ws, "accounts", path, mapping=None, mode="upsert")
    assert any("'name' appears 2 times" in n for n in report.notes)


def test_excel_repeated_header_rows_and_unsaved_formulas(ws, tmp_path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Accounts"
    for r in (["account_id", "name"], ["Account ID", "Name"], ["A1", "One"], ["A2", "Two"]):
        sheet.append(r)
    book.create_sheet("Notes")
    book.save(tmp_path / "two_headers.xlsx")
    report = load_table(ws, "accounts", tmp_path / "two_headers.xlsx")
    ids = {r[0] for r in ws.con.execute("SELECT account_id FROM main.accounts").fetchall()}
    assert ids == {"A1", "A2"} and report.rows_read == 2
    assert any("repeat the header" in n for n in report.notes)
    assert any("'Notes'" in n for n in report.notes)
    book = openpyxl.Workbook()
    book.active.append(["account_id", "employees"])
    book.active.append(["A1", "=6*7"])
    book.save(tmp_path / "formula.xlsx")
    with pytest.raises(InputError, match="formulas without a saved value") as err:
        load_table(ws, "accounts", tmp_path / "formula.xlsx")
    assert "B2" in err.value.message and "save it" in err.value.hint


# -- hostile rows in every format ------------------------------------------------------
hostile = st.one_of(
    st.sampled_from(["", " ", "NULL", "=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '"',
                     "'; DROP TABLE accounts; --", "../../etc/passwd", "1e308", "-1e308",
                     "inf", "nan", "1,5", "日本", "🙂", "a\nb", "x" * 2000]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
            max_size=12))
account_row = st.fixed_dictionaries({
    "account_id": st.one_of(st.sampled_from(["A1", "A2", "A5", ""]), hostile),
    "name": hostile, "employees": hostile, "annual_revenue": hostile, "country": hostile})


def _write(fmt: str, root: Path, rows: list[dict]) -> Path:
    df = pd.DataFrame(rows, columns=["account_id", "name", "employees", "annual_revenue",
                                     "country"])
    if fmt == "csv":  # a bare CR inside a quoted CSV cell: see the xfail below
        path = root / "bad.csv"
        df.replace("\r", "", regex=True).to_csv(path, index=False)
    elif fmt == "xlsx":
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # what a sheet cannot hold

        path = root / "bad.xlsx"
        book = openpyxl.Workbook()
        book.active.append(list(df.columns))
        for r in df.itertuples(index=False):  # written as text: a formula stays a string
            book.active.append([None if v == "" else ILLEGAL_CHARACTERS_RE.sub("", str(v))
                                for v in r])
        for row in book.active.iter_rows():
            for cell in row:
                cell.data_type = "s"
        book.save(path)
    else:
        path = root / "bad.parquet"
        df.to_parquet(path, index=False)
    return path


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(rows=st.lists(account_row, min_size=1, max_size=12),
       fmt=st.sampled_from(["csv", "xlsx", "parquet"]), mode=st.sampled_from(["replace",
                                                                              "upsert"]))
def test_hostile_files_load_faithfully_or_fail_clearly(ws, rows, fmt, mode) -> None:
    before = sorted(ws.con.execute("SELECT account_id, name FROM main.accounts").fetchall())
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(fmt, Path(tmp), rows)
        try:
            report = load_table(ws, "accounts", path, mode=mode)
        except GrowthmapError as exc:  # a clear error: the message names the file
            assert str(path) in exc.message or path.name in exc.message, exc.message
            after = sorted(ws.con.execute("SELECT account_id, name FROM main.accounts"
                                          ).fetchall())
            assert after == before  # ...and nothing changed
            return
    assert report.rows_read == report.rows_loaded + report.rows_quarantined
    assert report.rows_read == len(rows)
    bad = ws.con.execute(
        "SELECT count(*) FROM main.accounts WHERE account_id IS NULL OR NOT isfinite("
        "coalesce(employees, 0)) OR abs(coalesce(annual_revenue, 0)) > 1e15").fetchone()[0]
    assert bad == 0


@pytest.mark.xfail(strict=True, reason="known gap: DuckDB's CSV reader ends a record at a "
                   "bare CR inside a quoted cell (the counts still reconcile)")
def test_a_carriage_return_inside_a_quoted_csv_cell_stays_in_its_row(ws, tmp_path) -> None:
    path = tmp_path / "cr.csv"
    pd.DataFrame({"account_id": ["A1", "A2"], "name": ["one", "\rx"]}).to_csv(path, index=False)
    report = load_table(ws, "accounts", path)
    assert report.rows_read == 2 and report.rows_loaded == 2


def test_the_formula_guard_leaves_numbers_and_plain_text() -> None:
    for cell in ("=1+1", "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(cell) == "'" + cell
    for cell in ("-12.50", "+3", "1e-5", "Müller", "", "a=b", None, -3.0):
        assert neutralise(cell) == cell
    df = pd.DataFrame({"name": ["=cmd|' /C calc'!A0", "ok"], "value": [-1.5, 2.0]})
    out = neutralise_frame(df)
    assert out["name"].tolist() == ["'=cmd|' /C calc'!A0", "ok"]
    assert out["value"].tolist() == [-1.5, 2.0]


def test_plan_csv_output_is_neutralised(tmp_path) -> None:
    from growthmap.cli._plan import _write as write_plan

    df = pd.DataFrame({"rep_id": ["=HYPERLINK(\"http://x\")", "R2"], "quota": [-5.0, 10.0]})
    out = tmp_path / "plan.csv"
    write_plan(df, out)
    text = out.read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text and "-5.0" in text


def test_a_workbook_with_the_data_on_another_sheet_says_so(ws, tmp_path) -> None:
    path, file = ws.path, tmp_path / "cover.xlsx"
    ws.close()
    book = openpyxl.Workbook()
    book.active.title = "Cover"
    book.active.append(["Report", "2025"])
    data = book.create_sheet("Accounts")
    data.append(["account_id", "name"])
    data.append(["A7", "Seven"])
    book.save(file)
    res = CliRunner().invoke(app, ["-w", str(path), "load", "accounts", str(file)])
    assert res.exit_code == 3
    assert "'Accounts'" in " ".join(res.output.split()), res.output
