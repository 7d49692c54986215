"""The Excel workbook: accounts with segments and potential, rollups, rep books, quotas.

Every sheet has a frozen, bold header row, an autofilter and number formats by column
(money without decimals, shares as percentages, ISO dates), so it is ready to sort and
filter.  Text is always written as text — a name starting with ``=`` never becomes a
formula.  The workbook streams rows (XlsxWriter's constant-memory mode), and a sheet
longer than Excel's row limit continues on a second sheet.  Data comes through the
scoped access layer, so a rep's workbook holds only the rep's book.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import xlsxwriter

from growthmap.config import Config
from growthmap.read import views
from growthmap.read.access import SYSTEM, DataAccess, Principal

__all__ = ["EXCEL_MAX_ROWS", "column_format", "sheet_name", "write_workbook"]

EXCEL_MAX_ROWS = 1_048_576 - 1  # one row for the header

_MONEY = re.compile(r"(value|revenue|potential|whitespace|current|quota|margin|figure|"
                    r"wallet|amount|low|high|history|_cost)$")
_SHARE = re.compile(r"(share|share_of_wallet|attainment|ptb|growth|risk|value_share|cum_share)$")


def column_format(name: str, series: pd.Series) -> str:
    """The format kind of a column: money, share, int, float, date, bool or text."""
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(series) or (
            series.dtype == object and series.dropna().map(
                lambda v: isinstance(v, dt.date)).all() and series.notna().any()):
        return "date"
    if pd.api.types.is_numeric_dtype(series):
        if _SHARE.search(name):
            return "share"
        if _MONEY.search(name):
            return "money"
        if pd.api.types.is_integer_dtype(series):
            return "int"
        return "float"
    return "text"


def sheet_name(text: str, used: set[str]) -> str:
    """A valid, unique Excel sheet name (31 characters, none of []:*?/\\)."""
    base = re.sub(r"[\[\]:*?/\\]", "_", text).strip("'")[:31] or "Sheet"
    name, i = base, 2
    while name.lower() in used:
        suffix = f" ({i})"
        name = base[: 31 - len(suffix)] + suffix
        i += 1
    used.add(name.lower())
    return name


class _Writer:
    def __init__(self, path: Path) -> None:
        self.wb = xlsxwriter.Workbook(str(path), {"constant_memory": True,
                                                  "strings_to_formulas": False,
                                                  "strings_to_urls": False,
                                                  "nan_inf_to_errors": False})
        self.used: set[str] = set()
        f = self.wb.add_format
        self.fmt = {
            "header": f({"bold": True, "bg_color": "#DDE6F0", "bottom": 1, "text_wrap": True,
                         "valign": "top"}),
            "money": f({"num_format": "#,##0"}), "share": f({"num_format": "0.0%"}),
            "int": f({"num_format": "#,##0"}), "float": f({"num_format": "#,##0.00"}),
            "date": f({"num_format": "yyyy-mm-dd"}), "bool": None, "text": None,
            "title": f({"bold": True, "font_size": 14}), "bold": f({"bold": True}),
            "wrap": f({"text_wrap": True, "valign": "top"}),
        }

    def frame(self, title: str, df: pd.DataFrame) -> None:
        """One sheet per frame (more when it exceeds Excel's row limit)."""
        chunks = [df.iloc[i:i + EXCEL_MAX_ROWS] for i in range(0, max(len(df), 1),
                                                                EXCEL_MAX_ROWS)]
        for chunk in chunks:
            self._sheet(sheet_name(title, self.used), chunk, df)

    def _sheet(self, name: str, df: pd.DataFrame, whole: pd.DataFrame) -> None:
        ws = self.wb.add_worksheet(name)
        cols = list(df.columns)
        kinds = [column_format(c, whole[c]) for c in cols]
        for j, (c, kind) in enumerate(zip(cols, kinds, strict=True)):
            width = max(len(str(c)) + 2, 10 if kind != "text" else 14)
            if kind == "text" and len(whole):
                longest = whole[c].head(500).fillna("").astype(str).str.len().max()
                width = min(max(width, int(longest) + 2), 48)
            ws.set_column(j, j, width, self.fmt[kind])
        ws.set_row(0, 30)
        ws.freeze_panes(1, 1 if cols and cols[0] == "account_id" else 0)
        for j, c in enumerate(cols):
            ws.write_string(0, j, str(c), self.fmt["header"])
        for i, row in enumerate(df.itertuples(index=False, name=None), start=1):
            for j, v in enumerate(row):
                self._cell(ws, i, j, v, kinds[j])
        ws.autofilter(0, 0, max(len(df), 1), max(len(cols) - 1, 0))

    def _cell(self, ws: Any, i: int, j: int, v: Any, kind: str) -> None:
        if v is None or v is pd.NaT or v is pd.NA:
            return
        if isinstance(v, float) and not math.isfinite(v):
            return
        if kind == "date" and isinstance(v, dt.date | pd.Timestamp):
            ws.write_datetime(i, j, pd.Timestamp(v).to_pydatetime(), self.fmt["date"])
        elif isinstance(v, bool):
            ws.write_boolean(i, j, v)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            ws.write_number(i, j, v, self.fmt.get(kind))
        elif hasattr(v, "item"):
            self._cell(ws, i, j, v.item(), kind)
        else:
            ws.write_string(i, j, str(v))

    def summary(self, da: DataAccess, config: Config) -> None:
        ws = self.wb.add_worksheet(sheet_name("Summary", self.used))
        info = da.snapshot_info()
        head = views.headline(da)
        ws.set_column(0, 0, 34)
        ws.set_column(1, 1, 90)
        ws.write_string(0, 0, config.report.title, self.fmt["title"])
        ws.write_string(1, 0, f"Snapshot {info['snapshot_id']}, figures as of {info['as_of']}")
        rows = [("accounts", head["accounts"], "int"), ("customers", head["customers"], "int"),
                ("prospects", head["prospects"], "int"), ("current value", head["value"], "money"),
                ("ARPA per customer", head["arpa"], "money"),
                ("potential", head.get("potential"), "money"),
                ("whitespace", head.get("whitespace"), "money"),
                ("share of wallet", head.get("share_of_wallet"), "share"),
                ("top-20% share of value", head.get("top20_share"), "share"),
                ("Gini", head.get("gini"), "float")]
        r = 3
        for label, value, kind in rows:
            ws.write_string(r, 0, label, self.fmt["bold"])
            self._cell(ws, r, 1, value, kind)
            r += 1
        r += 1
        for s in views.sentences(da):
            ws.write_string(r, 0, "•")
            ws.write_string(r, 1, s, self.fmt["wrap"])
            r += 1


def write_workbook(ws: Any, path: str | Path, config: Config | None = None, *,
                   snapshot: int | str = "latest", user: Principal = SYSTEM) -> Path:
    """Write the workbook of one snapshot for ``user`` to ``path`` and return it."""
    from growthmap.read.feedback import FEEDBACK_COLUMNS

    config = config or Config()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = getattr(ws, "con", ws)
    da = DataAccess(con, user, snapshot)
    accounts = da.export_accounts()
    w = _Writer(path)
    try:
        w.summary(da, config)
        w.frame("Accounts", accounts)
        w.frame("Families", da.export_families())
        w.frame("Territories", views.territories(da))
        w.frame("Reps", views.reps(da))
        reps = sorted(accounts["owner_rep_id"].dropna().astype(str).unique()) \
            if "owner_rep_id" in accounts else []
        if reps and len(reps) <= config.report.rep_sheets_max:
            for rep in reps:
                book = accounts[accounts["owner_rep_id"] == rep]
                w.frame(f"Book {rep}", book)
        elif reps:
            first = ["owner_rep_id", "account_id"]
            book = accounts[first + [c for c in accounts.columns if c not in first]]
            w.frame("Rep books", book.sort_values(["owner_rep_id", "account_id"]))
        quotas = views.quota_rows(da)
        if quotas is not None and not quotas.empty:
            w.frame("Quotas", quotas.drop(columns=["quota_cents"], errors="ignore"))
        fb = da.feedback()
        w.frame("Feedback", fb[[c for c in FEEDBACK_COLUMNS if c in fb.columns]])
        if user.sees_everything and da.has("rollup"):
            w.frame("Plan rollup", da.sql(f"SELECT * FROM {da.schema}.rollup"))
    finally:
        w.wb.close()
    return path
