"""Prospects: accounts that have not bought yet, best fit to the ideal customer first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from growthmap.read.access import AccountQuery, records
from growthmap.web._deps import Access, page_context

router = APIRouter(tags=["prospects"])
COLUMNS = ["account_id", "name", "industry", "country", "territory_id", "owner_rep_id",
           "employees", "icp_fit", "ptb", "potential", "road", "tier"]


def _query(da: Access, query: AccountQuery) -> AccountQuery:
    update: dict[str, Any] = {"status": "prospect"}
    if "sort" not in query.model_fields_set:  # best first: ICP fit, else potential, else size
        cols = da.available()
        update["sort"] = next((c for c in ("icp_fit", "potential", "employees") if c in cols),
                              "account_id")
    return query.model_copy(update=update)


def _page(request: Request, da: Access, query: AccountQuery):
    cfg = request.app.state.gm.config.web
    return da.accounts(_query(da, query), page_size=cfg.page_size,
                       max_page_size=cfg.max_page_size)


@router.get("/prospects", response_class=HTMLResponse, include_in_schema=False)
def prospects_page(request: Request, da: Access,
                   query: Annotated[AccountQuery, Query()]) -> Response:
    page = _page(request, da, query)
    ctx = page_context(request, da, "prospects", page=page, rows=records(page.rows),
                       columns=[c for c in COLUMNS if c in page.rows.columns],
                       filters=query, title="Prospects",
                       missing=None if "icp_fit" in da.available() else da.missing("icp"))
    return request.app.state.gm.templates.TemplateResponse(request, "accounts.html", ctx)


@router.get("/api/prospects")
def prospects_api(request: Request, da: Access,
                  query: Annotated[AccountQuery, Query()]) -> dict[str, Any]:
    """Prospects the user may see, best ICP fit first (else largest potential)."""
    return {"snapshot_id": da.snapshot_id, **_page(request, da, query).to_json()}
