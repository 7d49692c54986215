"""Territories: customers, prospects, value, potential and whitespace per territory."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from growthmap.read import views
from growthmap.read.access import records
from growthmap.report.gallery import chart_items
from growthmap.web._deps import Access, page_context

router = APIRouter(tags=["territories"])


@router.get("/territories", response_class=HTMLResponse, include_in_schema=False)
def territories_page(request: Request, da: Access) -> Response:
    ctx = page_context(request, da, "territories", rows=records(views.territories(da)),
                       charts=chart_items(da, ["whitespace_territory"]))
    return request.app.state.gm.templates.TemplateResponse(request, "territories.html", ctx)


@router.get("/api/territories")
def territories_api(da: Access) -> dict[str, Any]:
    """One row per territory the user may see."""
    return {"snapshot_id": da.snapshot_id, "rows": records(views.territories(da))}
