"""CSV cells that a spreadsheet would run as formulas are neutralised.

A CSV opened in Excel, LibreOffice or Google Sheets runs a cell that starts with
``=``, ``+``, ``-`` or ``@`` (and, in some versions, a tab or carriage return) as a
formula - an account named ``=HYPERLINK("http://evil", "click")`` in a CRM export
is an attack on whoever opens it.  Following the OWASP CSV-injection advice, every
CSV growthmap writes prefixes such a *text* cell with an apostrophe, which the
spreadsheet shows as text and does not run.  Numbers growthmap formats itself
(``-12.50``) are left as they are, and so is text that is a plain number.

The CRM import file can be written unguarded (``report.csv_formula_guard = false``)
for an import path that never passes through a spreadsheet.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

__all__ = ["FORMULA_START", "neutralise", "neutralise_frame"]

#: Leading characters that make a spreadsheet treat a cell as a formula (OWASP).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise(value: Any) -> Any:
    """``value`` with a leading apostrophe when it is text a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells are neutralised (numeric columns untouched)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col].dtype):
            out[col] = out[col].map(neutralise, na_action="ignore")
    if any(isinstance(c, str) for c in out.columns):
        out.columns = [neutralise(c) for c in out.columns]
    return out
