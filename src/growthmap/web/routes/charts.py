"""Charts as Vega-Lite specs (for vega-embed) or PNG images, over the user's scope."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response

from growthmap.report import charts as ch
from growthmap.report.gallery import CHARTS, build_chart
from growthmap.web._deps import Access

router = APIRouter(tags=["charts"])
Name = Annotated[str, Path(max_length=40, pattern=r"^[a-z_]+$", description="Chart name.")]


@router.get("/api/charts")
def chart_list(da: Access) -> dict[str, Any]:
    """The charts there are (name and title)."""
    return {"charts": [{"name": c.name, "title": c.title} for c in CHARTS.values()]}


@router.get("/api/charts/{name}")
def chart_spec(da: Access, name: Name) -> dict[str, Any]:
    """One chart's Vega-Lite spec with its (scoped, bounded) data inlined."""
    return ch.to_spec(build_chart(da, name))


@router.get("/charts/{name}.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def chart_png(da: Access, name: Name) -> Response:
    """One chart as a PNG image, for slides."""
    png = ch.to_png(build_chart(da, name), scale=2.0)
    return Response(png, media_type="image/png",
                    headers={"Content-Disposition": f'inline; filename="{name}.png"'})
