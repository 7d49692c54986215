"""Reps and rep books: each rep's accounts, potential and attainment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from growthmap.read import views
from growthmap.read.access import AccountQuery, records
from growthmap.report.gallery import chart_items
from growthmap.web._deps import Access, page_context

router = APIRouter(tags=["reps"])
RepId = Annotated[str, Path(max_length=100, description="The rep's id.")]


def _book(da: Access, rep_id: str, query: AccountQuery, request: Request) -> dict[str, Any]:
    da.require_rep(rep_id)
    cfg = request.app.state.gm.config.web
    q = query.model_copy(update={"owner_rep_id": rep_id})
    page = da.accounts(q, page_size=cfg.page_size, max_page_size=cfg.max_page_size)
    reps = views.reps(da)
    row = reps[reps["rep_id"] == rep_id]
    return {"rep_id": rep_id, "figures": records(row)[0] if len(row) else None,
            "accounts": page}


@router.get("/reps", response_class=HTMLResponse, include_in_schema=False)
def reps_page(request: Request, da: Access) -> Response:
    ctx = page_context(request, da, "reps", rows=records(views.reps(da)),
                       charts=chart_items(da, ["reps"]))
    return request.app.state.gm.templates.TemplateResponse(request, "reps.html", ctx)


@router.get("/reps/{rep_id:path}", response_class=HTMLResponse, include_in_schema=False)
def rep_page(request: Request, da: Access, rep_id: RepId,
             query: Annotated[AccountQuery, Query()]) -> Response:
    book = _book(da, rep_id, query, request)
    ctx = page_context(request, da, "reps", rows=records(book["accounts"].rows), **book)
    return request.app.state.gm.templates.TemplateResponse(request, "rep.html", ctx)


@router.get("/api/reps")
def reps_api(da: Access) -> dict[str, Any]:
    """One row per rep the user may see: book size, value, potential, quota attainment."""
    return {"snapshot_id": da.snapshot_id, "rows": records(views.reps(da))}


@router.get("/api/reps/{rep_id:path}")
def rep_api(request: Request, da: Access, rep_id: RepId,
            query: Annotated[AccountQuery, Query()]) -> dict[str, Any]:
    """A rep's book: the rep's figures and a page of the rep's accounts."""
    book = _book(da, rep_id, query, request)
    return {"snapshot_id": da.snapshot_id, "rep_id": rep_id, "figures": book["figures"],
            "accounts": book["accounts"].to_json()}
