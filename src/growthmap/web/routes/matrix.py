"""The value x potential matrix: a sampled scatter on log axes and the cell heat-map."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from growthmap.read import views
from growthmap.read.access import records
from growthmap.report.gallery import chart_items
from growthmap.web._deps import Access, page_context

router = APIRouter(tags=["matrix"])


@router.get("/matrix", response_class=HTMLResponse, include_in_schema=False)
def matrix_page(request: Request, da: Access) -> Response:
    cells = views.matrix_cells(da)
    ctx = page_context(request, da, "matrix", cells=records(cells),
                       missing=None if cells is not None else da.missing("potential_account"),
                       charts=chart_items(da, ["matrix_heatmap", "matrix", "road"]))
    return request.app.state.gm.templates.TemplateResponse(request, "matrix.html", ctx)


@router.get("/api/matrix")
def matrix_api(da: Access) -> dict[str, Any]:
    """Cells (accounts, value, potential per band pair), band limits and a bounded sample
    of accounts for the scatter; ``missing`` says why when potential was not computed."""
    cells = views.matrix_cells(da)
    if cells is None:
        return {"snapshot_id": da.snapshot_id, "cells": None, "sample": None,
                "edges": None, "missing": da.missing("potential_account")}
    return {"snapshot_id": da.snapshot_id, "cells": records(cells),
            "sample": records(views.matrix_sample(da)), "edges": views.band_edges(da),
            "missing": None}
