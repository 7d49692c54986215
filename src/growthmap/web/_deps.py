"""Request dependencies: who is asking, and the scoped data access built for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from growthmap.errors import AccessDenied
from growthmap.read.access import DataAccess, Principal
from growthmap.web.auth import SESSION_COOKIE

__all__ = ["Access", "User", "check_csrf", "current_user", "get_access", "page_context"]


def current_user(request: Request) -> Principal:
    """The signed-in user: a bearer token (API) or the session cookie (browser)."""
    state = request.app.state.gm
    auth = request.headers.get("authorization", "")
    with state.cursor() as cur:
        if auth.lower().startswith("bearer "):
            user = state.auth.from_token(cur, auth[7:].strip())
        else:
            user = state.auth.from_cookie(cur, request.cookies.get(SESSION_COOKIE))
    if user is None:
        raise AccessDenied("please sign in",
                           hint="log in at /login, or send 'Authorization: Bearer TOKEN'")
    request.state.user = user
    return user


User = Annotated[Principal, Depends(current_user)]


def get_access(request: Request, user: User,
               snapshot: Annotated[str | None, Query(
                   max_length=20, pattern=r"^(latest|previous|(snap_)?\d+)$",
                   description="Snapshot id, latest (default) or previous.")] = None,
               ) -> Iterator[DataAccess]:
    """A :class:`DataAccess` for this request's user on its own cursor."""
    state = request.app.state.gm
    with state.cursor() as cur:
        yield DataAccess(cur, user, snapshot or "latest", catalog=state.catalog,
                         scatter_max_points=state.config.report.scatter_max_points)


Access = Annotated[DataAccess, Depends(get_access)]


def check_csrf(request: Request, token: str | None = None) -> None:
    """Every state change made with the session cookie carries the token bound to that
    session: a form field (``token``) or, for JSON calls, the ``X-CSRF-Token`` header.
    Calls authenticated with a bearer token need none (a browser never adds one)."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    token = token or request.headers.get("x-csrf-token")
    cookie = request.cookies.get(SESSION_COOKIE) or ""
    import hmac

    if not cookie or not token or not hmac.compare_digest(
            token, request.app.state.gm.auth.signer.csrf(cookie)):
        raise AccessDenied("the form expired or did not come from this site",
                           hint="reload the page and submit again")


def page_context(request: Request, da: DataAccess, nav: str, **extra: Any) -> dict[str, Any]:
    """What every page template gets: user, snapshot, navigation, the form token."""
    cookie = request.cookies.get(SESSION_COOKIE)
    state = request.app.state.gm
    ctx = {"user": da.user, "nav": nav, "snapshot_id": da.snapshot_id,
           "snapshot_info": da.snapshot_info(), "snapshots": da.snapshots()["snapshot_id"].tolist(),
           "csrf": state.auth.signer.csrf(cookie) if cookie else "",
           "feedback_enabled": state.config.web.feedback and not state.config.web.read_only,
           "query": dict(request.query_params)}
    ctx.update(extra)
    return ctx
