"""Sign in and out (browser), and who am I (API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from growthmap.errors import AccessDenied
from growthmap.web._deps import User, check_csrf
from growthmap.web.auth import SESSION_COOKIE

router = APIRouter(tags=["auth"])


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never redirect to another host after signing in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str = "/") -> Response:
    return request.app.state.gm.templates.TemplateResponse(
        request, "login.html", {"next": _safe_next(next), "error": None, "user": None,
                                "nav": None, "csrf": "", "snapshot_id": None, "query": {}})


@router.post("/login", include_in_schema=False)
def login(request: Request, username: Annotated[str, Form(max_length=64)],
          password: Annotated[str, Form(max_length=256)],
          next: Annotated[str, Form(max_length=2000)] = "/") -> Response:
    state = request.app.state.gm
    client = request.client.host if request.client else ""
    try:
        with state.cursor() as cur:
            cookie = state.auth.login(cur, username, password, client)
    except AccessDenied as exc:
        return state.templates.TemplateResponse(
            request, "login.html", {"next": _safe_next(next), "user": None, "nav": None,
                                    "error": f"{exc.message} ({exc.hint})" if "try again"
                                    in (exc.hint or "") else exc.message,
                                    "csrf": "", "snapshot_id": None, "query": {}},
            status_code=429 if "try again" in (exc.hint or "") else 401)
    resp = RedirectResponse(_safe_next(next), status_code=303)
    resp.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="lax",
                    secure=state.config.web.secure_cookies,
                    max_age=int(state.config.web.session_hours * 3600))
    return resp


@router.post("/logout", include_in_schema=False)
def logout(request: Request, user: User,
           csrf: Annotated[str | None, Form(max_length=200)] = None) -> Response:
    check_csrf(request, csrf)
    state = request.app.state.gm
    with state.cursor() as cur:  # the session ends on the server, not only in this browser
        state.auth.logout(cur, request.cookies.get(SESSION_COOKIE))
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("/api/me")
def me(user: User) -> dict[str, Any]:
    """The signed-in user and what their role lets them see."""
    return {"username": user.username, "role": user.role, "territory_id": user.territory_id,
            "rep_id": user.rep_id, "sees_everything": user.sees_everything}
