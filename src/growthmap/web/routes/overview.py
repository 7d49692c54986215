"""The overview: headline figures, findings and the main charts of the user's book."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from growthmap.read import views
from growthmap.read.access import records
from growthmap.report.gallery import chart_items
from growthmap.web._deps import Access, page_context

router = APIRouter(tags=["overview"])
CHARTS = ["pareto", "value_tiers", "road", "tiers", "whitespace_family", "markets"]


def overview_data(da: Access) -> dict[str, Any]:
    road, tiers, markets = views.road_counts(da), views.tier_counts(da), views.markets(da)
    return {
        "snapshot_id": da.snapshot_id, "headline": views.headline(da),
        "sentences": views.sentences(da), "value_tiers": records(views.value_tiers(da)),
        "road": records(road) if road is not None else None,
        "tiers": records(tiers) if tiers is not None else None,
        "markets": records(markets) if markets is not None else None,
        "pareto": records(views.pareto(da)),
    }


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def overview_page(request: Request, da: Access) -> Response:
    ctx = page_context(request, da, "overview", head=views.headline(da),
                       sentences=views.sentences(da), tiers=records(views.value_tiers(da)),
                       charts=chart_items(da, CHARTS))
    return request.app.state.gm.templates.TemplateResponse(request, "overview.html", ctx)


@router.get("/api/overview")
def overview_api(da: Access) -> dict[str, Any]:
    """Headline figures, findings, value tiers, ROAD and tier counts, Pareto points."""
    return overview_data(da)
