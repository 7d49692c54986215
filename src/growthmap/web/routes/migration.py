"""Migration: how accounts moved between classes from one snapshot to another."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from growthmap.errors import GrowthmapError
from growthmap.read import views
from growthmap.read.access import records
from growthmap.report import charts as ch
from growthmap.web._deps import Access, page_context

router = APIRouter(tags=["migration"])
Dimension = Annotated[Literal[tuple(views.MIGRATION_DIMENSIONS)], Query(  # type: ignore[valid-type]
    description="What to compare: value_tier, status, road, matrix_cell or tier.")]
FromSnap = Annotated[str, Query(max_length=20, pattern=r"^(previous|(snap_)?\d+)$",
                                description="The earlier snapshot (default: previous).")]


@router.get("/migration", response_class=HTMLResponse, include_in_schema=False)
def migration_page(request: Request, da: Access, dimension: Dimension = "value_tier",
                   from_snapshot: FromSnap = "previous") -> Response:
    rows, chart, missing = [], None, None
    try:
        mig = views.migration(da, dimension, from_snapshot)
        rows, chart = records(mig), ch.to_spec(ch.migration_chart(mig, dimension))
    except GrowthmapError as exc:
        missing = exc.message
    ctx = page_context(request, da, "migration", rows=rows, dimension=dimension,
                       dimensions=list(views.MIGRATION_DIMENSIONS), missing=missing,
                       charts=[{"name": "migration", "title": "Migration", "chart": chart,
                                "missing": missing}])
    return request.app.state.gm.templates.TemplateResponse(request, "migration.html", ctx)


@router.get("/api/migration")
def migration_api(da: Access, dimension: Dimension = "value_tier",
                  from_snapshot: FromSnap = "previous") -> dict[str, Any]:
    """Counts of accounts by (class before, class now); ``(new)`` and ``(gone)`` included."""
    mig = views.migration(da, dimension, from_snapshot)
    return {"snapshot_id": da.snapshot_id, "dimension": dimension, "rows": records(mig)}
