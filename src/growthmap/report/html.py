"""The self-contained HTML report: findings, charts, tables and methodology in one file.

Charts are rendered to inline SVG with vl-convert (no JavaScript, no CDN), styles are
inline, and nothing refers to another host, so the file opens offline, prints, and
can be mailed as it is.  Everything comes from one snapshot through the scoped data
layer; the command line renders for the all-seeing system user.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from growthmap.config import Config
from growthmap.read import views
from growthmap.read.access import SYSTEM, AccountQuery, DataAccess, Principal
from growthmap.report import charts as ch
from growthmap.report.gallery import chart_items
from growthmap.report.methodology import methodology

__all__ = ["REPORT_CHARTS", "money", "percent", "render_report", "write_report"]

#: charts in the report, in order.
REPORT_CHARTS = ("pareto", "value_tiers", "matrix", "matrix_heatmap", "road", "tiers",
                 "whitespace_family", "whitespace_territory", "reps", "markets", "migration")

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("growthmap.report", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _missing(v: Any) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and math.isnan(v))


def money(v: Any) -> str:
    """A money figure with thousands separators, no decimals ('-' when missing)."""
    return "-" if _missing(v) else f"{float(v):,.0f}"


def percent(v: Any, digits: int = 0) -> str:
    return "-" if _missing(v) else f"{float(v):.{digits}%}"


def number(v: Any) -> str:
    if _missing(v):
        return "-"
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}"
    return f"{int(v):,}" if isinstance(v, int | float) else str(v)


def text(v: Any) -> str:
    return "" if _missing(v) else str(v)


for _name, _f in (("money", money), ("percent", percent), ("number", number), ("text", text)):
    _ENV.filters[_name] = _f


def _svg(chart: Any) -> Markup:
    """vl-convert's SVG (it escapes the data's text) made inline-ready."""
    svg = ch.to_svg(chart)
    if svg.startswith("<?xml"):
        svg = svg[svg.index("?>") + 2:]
    return Markup(svg.strip())


def _table(df: pd.DataFrame | None, columns: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Rows as display text for the template: (column, header, format) triples."""
    if df is None or df.empty:
        return {"headers": [], "rows": []}
    cols = [(c, h, f) for c, h, f in columns if c in df.columns]
    fmt = {"money": money, "pct": percent, "num": number, "text": text}
    rows = [[(fmt[f](r[c]), f != "text") for c, _, f in cols] for r in df.to_dict("records")]
    return {"headers": [(h, f != "text") for _, h, f in cols], "rows": rows}


ACCOUNT_COLUMNS = [
    ("account_id", "account", "text"), ("name", "name", "text"),
    ("territory_id", "territory", "text"), ("owner_rep_id", "owner", "text"),
    ("value_tier", "value tier", "text"), ("tier", "tier", "text"), ("road", "ROAD", "text"),
    ("value", "current value", "money"), ("potential", "potential", "money"),
    ("whitespace", "whitespace", "money"), ("share_of_wallet", "share of wallet", "pct"),
    ("ptb", "PtB", "pct"), ("icp_fit", "ICP fit", "num"),
]
ROLLUP_COLUMNS = [
    ("territory_id", "territory", "text"), ("territory_name", "name", "text"),
    ("rep_id", "rep", "text"), ("rep_name", "name", "text"),
    ("accounts", "accounts", "num"), ("customers", "customers", "num"),
    ("prospects", "prospects", "num"), ("current", "current value", "money"),
    ("potential", "potential", "money"), ("whitespace", "whitespace", "money"),
    ("share_of_wallet", "share of wallet", "pct"), ("quota", "quota", "money"),
    ("attainment", "attainment", "pct"),
    ("tier_1a", "1a", "num"), ("tier_1b", "1b", "num"), ("tier_2", "2", "num"),
    ("tier_3", "3", "num"),
]


def _top(da: DataAccess, sort: str, n: int, **filters: Any) -> pd.DataFrame | None:
    if sort not in da.available():
        return None
    return da.accounts(AccountQuery(sort=sort, page_size=n, **filters), page_size=n,
                       max_page_size=n).rows


def render_report(ws: Any, config: Config | None = None, *, snapshot: int | str = "latest",
                  user: Principal = SYSTEM, alignment: Any = None) -> str:
    """The report of one snapshot as a self-contained HTML document.

    ``alignment`` (a :class:`growthmap.plan.AccountAlignment`) adds the alignment
    proposal: its figures, every rep's book before and after, and the map."""
    config = config or Config()
    rc = config.report
    con = getattr(ws, "con", ws)
    da = DataAccess(con, user, snapshot, scatter_max_points=rc.scatter_max_points)
    info = da.snapshot_info()
    currency = (info.get("config_json") or {}).get("run", {}).get("currency", "")
    head = views.headline(da)
    top = rc.top_accounts
    evaluations = info.get("evaluations") or {}
    # a score that is not informative is not shown as a figure (the methodology says why)
    cols = [c for c in ACCOUNT_COLUMNS if c[0] != "ptb"
            or not (evaluations.get("propensity") or {}).get("not_informative")]
    tables = [
        ("Largest accounts by current value", _table(_top(da, "value", top), cols)),
        ("Largest whitespace", _table(_top(da, "whitespace", top), cols)),
        ("Prospects that look most like our best customers",
         _table(_top(da, "icp_fit", top, status="prospect"), cols)),
        ("Territories", _table(views.territories(da), ROLLUP_COLUMNS)),
        ("Reps", _table(views.reps(da), ROLLUP_COLUMNS)),
    ]
    tables = [(t, tb) for t, tb in tables if tb["rows"]]
    sections = methodology(info.get("config_json"), info.get("evaluations"),
                           info.get("tables"), info.get("notes"))
    template = _ENV.get_template("report.html.j2")
    return template.render(
        title=rc.title, info=info, head=head, currency=currency,
        sentences=views.sentences(da, currency),
        charts=chart_items(da, list(REPORT_CHARTS), width=rc.chart_width, render=_svg),
        tables=tables, sections=sections, user=user, alignment=_alignment(alignment, rc))


def _alignment(out: Any, rc: Any) -> dict[str, Any] | None:
    if out is None:
        return None
    from growthmap.report.maps import alignment_map

    cols = [("rep_id", "rep", "text"), ("group", "group", "text"),
            ("accounts_before", "accounts before", "num"),
            ("accounts_after", "accounts after", "num"),
            ("moved_out", "moved out", "num"), ("moved_in", "moved in", "num"),
            ("potential_moved_out", "potential moved out (EUR)", "money"),
            ("potential_moved_in", "potential moved in (EUR)", "money"),
            ("potential_dev_after", "potential vs target", "pct"),
            ("travel_before_km", "travel before (km a year)", "money"),
            ("travel_after_km", "travel after (km a year)", "money")]
    return {"summary": out.summary, "reps": _table(out.reps, cols),
            "map": _svg(alignment_map(out.reassignment, out.reps, width=rc.chart_width))}


def write_report(ws: Any, path: str | Path, config: Config | None = None, *,
                 snapshot: int | str = "latest", user: Principal = SYSTEM,
                 alignment: Any = None) -> Path:
    """Write :func:`render_report` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(ws, config, snapshot=snapshot, user=user,
                                  alignment=alignment), encoding="utf-8")
    return path
