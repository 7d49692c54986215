"""Named charts: which view feeds which chart function.

``growthmap chart NAME``, the dashboard's ``/api/charts/NAME`` and the report all go
through :func:`build_chart`, so a chart is drawn from the same scoped data wherever
it appears.  A chart whose data the snapshot lacks raises a
:class:`~growthmap.errors.WorkspaceError` saying which stage to run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import altair as alt

from growthmap.errors import NotFoundError, WorkspaceError
from growthmap.read import views
from growthmap.read.access import DataAccess
from growthmap.report import charts as ch

__all__ = ["CHARTS", "ChartDef", "build_chart", "save_chart"]


@dataclass(frozen=True)
class ChartDef:
    """A named chart: a title for menus and how to build it from scoped data."""

    name: str
    title: str
    table: str  # the snapshot table it needs (for the "not computed" message)
    build: Callable[[DataAccess, int], alt.TopLevelMixin | None]


def _pareto(da: DataAccess, w: int) -> alt.TopLevelMixin:
    return ch.pareto_chart(views.pareto(da), views.concentration(da), width=w)


def _tiers_value(da: DataAccess, w: int) -> alt.TopLevelMixin:
    return ch.value_tier_chart(views.value_tiers(da), width=w)


def _matrix(da: DataAccess, w: int) -> alt.TopLevelMixin | None:
    sample = views.matrix_sample(da)
    if sample is None:
        return None
    total = views.headline(da)["accounts"]
    return ch.matrix_scatter(sample, views.band_edges(da), total=total, width=w)


def _heat(da: DataAccess, w: int) -> alt.TopLevelMixin | None:
    cells = views.matrix_cells(da)
    return None if cells is None or cells.empty else ch.matrix_heatmap(cells, width=w)


def _road(da: DataAccess, w: int) -> alt.TopLevelMixin | None:
    df = views.road_counts(da)
    return None if df is None else ch.road_chart(df, width=w)


def _tiers(da: DataAccess, w: int) -> alt.TopLevelMixin | None:
    df = views.tier_counts(da)
    return None if df is None else ch.tier_chart(df, width=w)


def _ws_family(da: DataAccess, w: int) -> alt.TopLevelMixin | None:
    df = views.whitespace_by_family(da)
    return None if df is None else ch.whitespace_family_chart(df, width=w)


def _ws_territory(da: DataAccess, w: int) -> alt.TopLevelMixin | None:
    df = views.territories(da)
    return None if df.empty else ch.whitespace_territory_chart(df, width=w)


def _reps(da: DataAccess, w: int) -> alt.TopLevelMixin | None:
    df = views.reps(da)
    return None if df.empty else ch.rep_chart(df, width=w)


def _migration(da: DataAccess, w: int) -> alt.TopLevelMixin | None:
    dim = "tier" if "tier" in da.columns("segments") else "value_tier"
    try:
        df = views.migration(da, dim)
    except NotFoundError:
        return None
    return ch.migration_chart(df, dim, width=w)


def _markets(da: DataAccess, w: int) -> alt.TopLevelMixin | None:
    df = views.markets(da)
    return None if df is None else ch.markets_chart(df, width=w)


CHARTS: dict[str, ChartDef] = {c.name: c for c in (
    ChartDef("pareto", "Pareto curve and concentration", "account_value", _pareto),
    ChartDef("value_tiers", "Value tiers", "account_value", _tiers_value),
    ChartDef("matrix", "Value × potential scatter", "potential_account", _matrix),
    ChartDef("matrix_heatmap", "Value × potential matrix", "potential_account", _heat),
    ChartDef("road", "ROAD counts", "potential_account", _road),
    ChartDef("tiers", "Tier counts", "segments", _tiers),
    ChartDef("whitespace_family", "Whitespace by family", "potential", _ws_family),
    ChartDef("whitespace_territory", "Whitespace by territory", "account_value", _ws_territory),
    ChartDef("reps", "Rep potential vs attainment", "account_value", _reps),
    ChartDef("migration", "Migration between snapshots", "snapshots", _migration),
    ChartDef("markets", "Addressable, obtainable, active", "markets", _markets),
)}


def build_chart(da: DataAccess, name: str, *, width: int = ch.WIDTH) -> alt.TopLevelMixin:
    """The chart ``name`` over what ``da``'s user may see."""
    if name not in CHARTS:
        raise NotFoundError(f"no chart {name!r}", hint=f"use one of: {', '.join(CHARTS)}")
    cdef = CHARTS[name]
    chart = cdef.build(da, width)
    if chart is None:
        if cdef.name == "migration":
            raise WorkspaceError("migration needs two snapshots with the same classes",
                                 hint="run `growthmap run` again after new data arrives")
        if cdef.name == "markets" and not da.user.sees_everything:
            raise NotFoundError("markets are company-wide figures",
                                hint="ask an admin; your views show your own book")
        raise WorkspaceError(da.missing(cdef.table),
                             hint="run `growthmap run` with the data that stage needs")
    return chart


def save_chart(da: DataAccess, name: str, path: str | Path, *, scale: float = 2.0,
               width: int = ch.WIDTH) -> Path:
    """Write chart ``name`` as PNG (or SVG / Vega-Lite JSON by the file's suffix)."""
    import json

    path = Path(path)
    chart = build_chart(da, name, width=width)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(ch.to_svg(chart), encoding="utf-8")
    elif suffix in (".json", ".vl.json"):
        path.write_text(json.dumps(ch.to_spec(chart), indent=1), encoding="utf-8")
    else:
        path.write_bytes(ch.to_png(chart, scale=scale))
    return path


def chart_items(da: DataAccess, names: list[str], *, width: int = ch.WIDTH,
                render: Callable[[alt.TopLevelMixin], object] = ch.to_spec,
                ) -> list[dict[str, object]]:
    """``[{name, title, chart, missing}]`` for a page: each chart rendered by ``render``
    (a Vega-Lite dict for the dashboard, SVG for the report) or the reason it is absent.
    Company-wide charts a user may not see are left out rather than explained."""
    from growthmap.errors import GrowthmapError

    out: list[dict[str, object]] = []
    for name in names:
        item: dict[str, object] = {"name": name, "title": CHARTS[name].title, "chart": None,
                                   "missing": None}
        try:
            item["chart"] = render(build_chart(da, name, width=width))
        except NotFoundError:
            if name in ("markets", "migration"):
                continue
            raise
        except GrowthmapError as exc:
            item["missing"] = exc.message
        out.append(item)
    return out
