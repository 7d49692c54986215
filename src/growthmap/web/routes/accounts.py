"""Accounts: search, filter and page the book; the account card; potential feedback."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from growthmap.errors import ConfigError
from growthmap.read.access import AccountQuery, records
from growthmap.read.feedback import FeedbackIn
from growthmap.web._deps import Access, check_csrf, page_context

router = APIRouter(tags=["accounts"])
AccountId = Annotated[str, Path(max_length=100, description="The account's id.")]
LIST_COLUMNS = ["account_id", "name", "status", "territory_id", "owner_rep_id", "value_tier",
                "tier", "road", "value", "potential", "whitespace", "ptb", "icp_fit"]


def _page(request: Request, da: Access, query: AccountQuery):
    cfg = request.app.state.gm.config.web
    return da.accounts(query, page_size=cfg.page_size, max_page_size=cfg.max_page_size)


def _writable(request: Request) -> None:
    cfg = request.app.state.gm.config.web
    if cfg.read_only or not cfg.feedback:
        raise ConfigError("feedback is switched off on this server",
                          hint="set web.feedback = true and web.read_only = false")


@router.get("/accounts", response_class=HTMLResponse, include_in_schema=False)
def accounts_page(request: Request, da: Access,
                  query: Annotated[AccountQuery, Query()]) -> Response:
    page = _page(request, da, query)
    ctx = page_context(request, da, "accounts", page=page, rows=records(page.rows),
                       columns=[c for c in LIST_COLUMNS if c in page.rows.columns],
                       filters=query, title="Accounts")
    return request.app.state.gm.templates.TemplateResponse(request, "accounts.html", ctx)


@router.get("/api/accounts")
def accounts_api(request: Request, da: Access,
                 query: Annotated[AccountQuery, Query()]) -> dict[str, Any]:
    """Search (``q``), filter, sort and page the accounts the user may see."""
    return {"snapshot_id": da.snapshot_id, **_page(request, da, query).to_json()}


@router.get("/accounts/{account_id:path}", response_class=HTMLResponse, include_in_schema=False)
def account_page(request: Request, da: Access, account_id: AccountId) -> Response:
    card = da.account(account_id)
    ctx = page_context(request, da, "accounts", card=card, families=da.families())
    return request.app.state.gm.templates.TemplateResponse(request, "account.html", ctx)


@router.get("/api/accounts/{account_id:path}")
def account_api(da: Access, account_id: AccountId) -> dict[str, Any]:
    """The account card: figures, families, potential with drivers, competitors, feedback."""
    return da.account(account_id)


@router.post("/accounts/{account_id:path}/feedback", include_in_schema=False)
def feedback_form(request: Request, da: Access, account_id: AccountId,
                  verdict: Annotated[str, Form(max_length=20)],
                  csrf: Annotated[str | None, Form(max_length=200)] = None,
                  family: Annotated[str | None, Form(max_length=100)] = None,
                  figure: Annotated[str | None, Form(max_length=40)] = None,
                  reason: Annotated[str, Form(max_length=1000)] = "") -> Response:
    check_csrf(request, csrf)
    _writable(request)
    typed = {"verdict": verdict, "family": family or "", "figure": figure or "",
             "reason": reason}
    try:
        try:
            number = float(figure.replace(",", "")) if figure and figure.strip() else None
        except ValueError:
            raise ConfigError(f"figure {figure!r} is not a number",
                              hint="type the potential you believe, e.g. 120000") from None
        da.add_feedback(account_id, {"verdict": verdict, "family": family or None,
                                     "figure": number, "reason": reason})
    except ConfigError as exc:  # keep what the rep typed, say what to fix
        card = da.account(account_id)
        ctx = page_context(request, da, "accounts", card=card, families=da.families(),
                           fb_error=exc.message, fb_hint=exc.hint, fb_input=typed)
        return request.app.state.gm.templates.TemplateResponse(
            request, "account.html", ctx, status_code=400)
    return RedirectResponse(f"/accounts/{quote(account_id, safe='')}#feedback", status_code=303)


@router.post("/api/accounts/{account_id:path}/feedback", status_code=201)
def feedback_api(request: Request, da: Access, account_id: AccountId,
                 body: FeedbackIn) -> dict[str, Any]:
    """Mark the account's potential as agreed, too high or too low (with figure and reason).

    With the session cookie (not a bearer token) send the page's form token as the
    ``X-CSRF-Token`` header."""
    check_csrf(request)
    _writable(request)
    fid = da.add_feedback(account_id, body.model_dump())
    return {"feedback_id": fid, "account_id": account_id}


@router.get("/api/feedback")
def feedback_list(da: Access) -> dict[str, Any]:
    """Every verdict on the accounts the user may see, newest first."""
    return {"rows": records(da.feedback())}
