"""The Excel workbook: accounts with segments and potential, rollups, rep books, quotas.

Every sheet is a native Excel table (sortable, filterable, banded) under a frozen header
row with readable names ("Account ID", "Share of wallet"), and every column has a format
by its kind (money without decimals, shares as percentages, counts such as employees as
integers, ISO dates).  Text is always written as text — a name starting with ``=`` never
becomes a formula.  Values are converted a column at a time and written row by row
with no per-cell dispatch.  A book too large to hold in memory (more than
``STREAM_ROWS`` accounts) is streamed instead (XlsxWriter's constant-memory mode, which
cannot write tables: those sheets get an autofilter); a sheet longer than Excel's row
limit continues on a second sheet.  Data comes through the scoped access layer, so a
rep's workbook holds only the rep's book.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter

from growthmap.config import Config
from growthmap.read import views
from growthmap.read.access import SYSTEM, DataAccess, Principal

__all__ = ["EXCEL_MAX_ROWS", "STREAM_ROWS", "column_format", "header_label", "sheet_name",
           "write_workbook"]

EXCEL_MAX_ROWS = 1_048_576 - 1  # one row for the header
#: Above this many accounts the workbook is streamed (constant memory, no native tables).
STREAM_ROWS = 200_000
#: Words shown in capitals (or their usual spelling) in column headers.
_WORDS = {"id": "ID", "ptb": "PtB", "icp": "ICP", "arpa": "ARPA", "nbo": "NBO", "road": "ROAD",
          "t12m": "T12M", "hhi": "HHI", "crm": "CRM", "fx": "FX", "kam": "KAM"}
_COUNT = re.compile(r"(^|_)(employees|accounts|customers|prospects|rank|count|touches|heads|"
                    r"n|reps|families|products|lines|orders|deals)(_|$)")

_MONEY = re.compile(r"(value|revenue|potential|whitespace|current|quota|margin|figure|"
                    r"wallet|amount|low|high|history|_cost)$")
_SHARE = re.compile(r"(share|share_of_wallet|attainment|ptb|growth|risk|value_share|cum_share)$")


def header_label(name: str) -> str:
    """``"share_of_wallet"`` -> ``"Share of wallet"``, ``"account_id"`` -> ``"Account ID"``."""
    words = [_WORDS.get(w, w) for w in str(name).split("_") if w]
    if not words:
        return str(name)
    first = words[0]
    return " ".join([first[:1].upper() + first[1:], *words[1:]])


def column_format(name: str, series: pd.Series) -> str:
    """The format kind of a column: money, share, int, float, date, bool or text.

    A count (employees, accounts, ...) is an integer even when missing values made it a
    float column; so is any float column whose values are all whole numbers and whose
    name is not money or a share."""
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
        if pd.api.types.is_integer_dtype(series) or _COUNT.search(name):
            return "int"
        v = series.dropna()
        if len(v) and bool((v == v.round()).all()):
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
    def __init__(self, path: Path, stream: bool = False) -> None:
        self.stream = stream
        self.wb = xlsxwriter.Workbook(str(path), {"constant_memory": stream,
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
        labels = _unique([header_label(c) for c in cols])
        kinds = [column_format(c, whole[c]) for c in cols]
        for j, (label, kind) in enumerate(zip(labels, kinds, strict=True)):
            width = max(len(label) + 4, 10 if kind != "text" else 14)
            if kind == "text" and len(whole):
                longest = whole[cols[j]].head(500).fillna("").astype(str).str.len().max()
                width = min(max(width, int(longest) + 2), 48)
            ws.set_column(j, j, width, self.fmt[kind])
        ws.set_row(0, 30)
        ws.freeze_panes(1, 1 if cols and cols[0] == "account_id" else 0)
        columns = [_values(df[c], kind) for c, kind in zip(cols, kinds, strict=True)]
        if self.stream or not cols:
            for j, label in enumerate(labels):
                ws.write_string(0, j, label, self.fmt["header"])
        write = {"money": ws.write_number, "share": ws.write_number, "int": ws.write_number,
                 "float": ws.write_number, "date": ws.write_datetime,
                 "bool": ws.write_boolean, "text": ws.write_string}
        writers = [write[k] for k in kinds]
        fmts = [self.fmt[k] for k in kinds]
        for i in range(len(df)):
            for j in range(len(cols)):
                v = columns[j][i]
                if v is not None:
                    writers[j](i + 1, j, v, fmts[j])
        if not cols:
            return
        if self.stream:
            ws.autofilter(0, 0, max(len(df), 1), len(cols) - 1)
        else:  # a native table over the written cells (at least one data row)
            ws.add_table(0, 0, max(len(df), 1), len(cols) - 1, {
                "columns": [{"header": lb, "header_format": self.fmt["header"]}
                            for lb in labels],
                "style": "Table Style Light 9", "name": _table_name(name)})

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


def _values(series: pd.Series, kind: str) -> list[Any]:
    """A column as Python values its writer takes (``None`` where the cell stays empty)."""
    if kind == "date":
        ts = pd.to_datetime(series, errors="coerce")
        return [None if pd.isna(v) else v.to_pydatetime() for v in ts]
    if kind == "bool":
        return [None if pd.isna(v) else bool(v) for v in series.astype(object)]
    if kind == "text":
        return [None if v is None or v is pd.NA or (isinstance(v, float) and v != v)
                else str(v) for v in series.astype(object)]
    num = pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()
    ok = np.isfinite(num)
    return [float(v) if k else None for v, k in zip(num.tolist(), ok.tolist(), strict=True)]


def _unique(labels: list[str]) -> list[str]:
    """Table headers must differ (case-insensitively)."""
    seen: set[str] = set()
    out = []
    for lb in labels:
        name, i = lb, 2
        while name.lower() in seen:
            name, i = f"{lb} ({i})", i + 1
        seen.add(name.lower())
        out.append(name)
    return out


def _table_name(sheet: str) -> str:
    """An Excel table name from a sheet name (letters, digits, underscores)."""
    base = re.sub(r"\W", "_", sheet).strip("_") or "Table"
    return base if base[0].isalpha() else f"T_{base}"


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
    w = _Writer(path, stream=len(accounts) > STREAM_ROWS)
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
