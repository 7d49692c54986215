"""The CRM import file: one row per account with its segment, tier, potential and offer.

The format is the one CRM import wizards accept without options:

* UTF-8 without a byte-order mark by default (``report.crm_bom = true`` adds one for
  people who open the file in Excel first);
* a header row with the column names below, comma separated, fields quoted only when
  they contain a comma, quote or line break (RFC 4180, CRLF line ends);
* ISO dates (``2025-12-31``), a dot as decimal separator, no thousands separators,
  money with ``report.crm_decimals`` decimals, probabilities between 0 and 1;
* an empty field where a figure was not computed (never ``nan`` or ``None``);
* a text field a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab,
  carriage return first) starts with an apostrophe (:mod:`growthmap.report.csv_safety`;
  ``report.csv_formula_guard = false`` writes names unchanged for an import path that
  never passes through a spreadsheet).

Rows come through the scoped access layer, so a rep's export holds the rep's book only.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pandas as pd

from growthmap.config import Config
from growthmap.read.access import SYSTEM, DataAccess, Principal
from growthmap.report.csv_safety import neutralise

__all__ = ["CRM_COLUMNS", "crm_frame", "format_value", "write_crm_csv"]

#: output column -> (source column in the account view, kind)
CRM_COLUMNS: dict[str, tuple[str, str]] = {
    "account_id": ("account_id", "text"),
    "account_name": ("name", "text"),
    "owner_rep_id": ("owner_rep_id", "text"),
    "territory_id": ("territory_id", "text"),
    "status": ("status", "text"),
    "segment": ("care_model", "text"),
    "tier": ("tier", "text"),
    "value_tier": ("value_tier", "text"),
    "road": ("road", "text"),
    "current_value": ("value", "money"),
    "potential": ("potential", "money"),
    "whitespace": ("whitespace", "money"),
    "ptb": ("ptb", "prob"),
    "icp_fit": ("icp_fit", "score"),
    "next_best_offer": ("next_best_offer", "text"),
    "last_purchase": ("last_purchase", "date"),
    "as_of": ("as_of", "date"),
    "snapshot_id": ("snapshot_id", "int"),
}


def format_value(v: Any, kind: str, decimals: int = 2) -> str:
    """One field as import-ready text (see the module docstring for the rules)."""
    if v is None or v is pd.NA or v is pd.NaT:
        return ""
    if hasattr(v, "item") and not isinstance(v, pd.Timestamp):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    if kind == "money":
        return f"{float(v):.{decimals}f}"
    if kind == "prob":
        return f"{float(v):.4f}"
    if kind == "score":
        return f"{float(v):.1f}"
    if kind == "int":
        return str(int(v))
    if kind == "date":
        return pd.Timestamp(v).date().isoformat()
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def crm_frame(da: DataAccess, decimals: int = 2, *, guard: bool = True) -> pd.DataFrame:
    """The CRM rows as text, columns in :data:`CRM_COLUMNS` order (``guard``: text
    cells neutralised against formula injection)."""
    acc = da.export_accounts()
    info = da.snapshot_info()
    acc["as_of"] = info["as_of"]
    acc["snapshot_id"] = da.snapshot_id
    out = {}
    for col, (src, kind) in CRM_COLUMNS.items():
        series = acc[src] if src in acc.columns else pd.Series([None] * len(acc), dtype=object)
        out[col] = [format_value(v, kind, decimals) for v in series.tolist()]
        if guard and kind == "text":
            out[col] = [neutralise(v) for v in out[col]]
    return pd.DataFrame(out, columns=list(CRM_COLUMNS))


def write_crm_csv(ws: Any, path: str | Path, config: Config | None = None, *,
                  snapshot: int | str = "latest", user: Principal = SYSTEM) -> Path:
    """Write the CRM import file of one snapshot for ``user`` and return its path."""
    config = config or Config()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    da = DataAccess(getattr(ws, "con", ws), user, snapshot)
    df = crm_frame(da, config.report.crm_decimals, guard=config.report.csv_formula_guard)
    encoding = "utf-8-sig" if config.report.crm_bom else "utf-8"
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh, dialect="excel", lineterminator="\r\n")
        w.writerow(df.columns)
        w.writerows(df.itertuples(index=False, name=None))
    return path
