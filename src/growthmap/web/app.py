"""The dashboard and JSON API: ``create_app(workspace_path, config) -> FastAPI``.

The workspace is held open only while requests are in flight (:mod:`._lease`), so the
CLI can run, load and manage users beside the dashboard; each request works on its own
cursor, through a :class:`~growthmap.read.access.DataAccess` built for the signed-in
user, so every route — page, JSON, chart or export — is scoped by the same rule.
Errors are turned into responses in one place (:func:`_on_error`): JSON for
``/api`` and exports, a page for the browser, and a sign-in redirect when a browser
is not logged in.  The OpenAPI description is at ``/openapi.json`` and rendered, without
any outside asset, at ``/docs``.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import duckdb
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from growthmap import __version__
from growthmap.config import Config
from growthmap.errors import AccessDenied, GrowthmapError
from growthmap.read.access import Catalog, ensure_indexes
from growthmap.web._lease import Lease
from growthmap.web.auth import SESSION_COOKIE, Authenticator, SessionSigner, session_key
from growthmap.workspace import Workspace

__all__ = ["ROUTE_MODULES", "SESSION_COOKIE", "AppState", "create_app"]

#: Router modules under growthmap.web.routes, one per resource.
ROUTE_MODULES = ["auth", "docs", "overview", "matrix", "territories", "reps", "accounts",
                 "prospects", "migration", "charts", "exports", "snapshots", "planning"]
HERE = Path(__file__).parent


@dataclass
class AppState:
    """What every request shares: the workspace lease, config, auth, caches."""

    path: Path
    config: Config
    lease: Lease
    auth: Authenticator
    templates: Jinja2Templates
    catalog: Catalog = field(default_factory=Catalog)

    def cursor(self) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A cursor for one request (``with state.cursor() as cur``)."""
        return self.lease.cursor()

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """A separate connection to the workspace, for callers outside a request."""
        return self.lease.connection()


def _wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/export/", "/charts/")) or path == "/api":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


async def _on_error(request: Request, exc: Exception) -> Response:
    """The one place a growthmap error becomes an HTTP response."""
    assert isinstance(exc, GrowthmapError)
    status = exc.http_status
    if _wants_json(request):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"error": exc.message, "fix": exc.hint, "status": status},
                            status_code=status, headers=headers)
    if isinstance(exc, AccessDenied) and request.url.path != "/login":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    state: AppState = request.app.state.gm
    return state.templates.TemplateResponse(
        request, "error.html", {"status": status, "message": exc.message, "hint": exc.hint,
                                "user": getattr(request.state, "user", None), "csrf": "",
                                "nav": None, "snapshot_id": None, "query": {}},
        status_code=status)


async def _on_invalid(request: Request, exc: Exception) -> Response:
    """A malformed query or form: FastAPI's JSON for the API, a page for the browser."""
    from fastapi.exception_handlers import request_validation_exception_handler

    assert isinstance(exc, RequestValidationError)
    if _wants_json(request):
        return await request_validation_exception_handler(request, exc)
    fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
                       for e in exc.errors())
    state: AppState = request.app.state.gm
    return state.templates.TemplateResponse(
        request, "error.html", {"status": 422, "message": f"the request is not valid: {fields}",
                                "hint": "go back and correct it", "csrf": "", "nav": None,
                                "user": getattr(request.state, "user", None),
                                "snapshot_id": None, "query": {}},
        status_code=422)


def create_app(workspace_path: str | Path, config: Config | None = None) -> FastAPI:
    """The dashboard + API over the workspace at ``workspace_path``."""
    config = config or Config()
    wc = config.web
    # checks the schema version; the file is released again before serving
    with Workspace.open(workspace_path, read_only=wc.read_only,
                        wait=wc.lock_wait_seconds) as ws:
        key = session_key(ws.con, writable=not wc.read_only)
    signer = SessionSigner(key, lifetime_s=wc.session_hours * 3600)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    _filters(templates)
    catalog = Catalog()
    # each time the workspace is opened again, a command may have changed it meanwhile
    lease = Lease(workspace_path, read_only=wc.read_only, wait=wc.lock_wait_seconds,
                  setup=lambda _con: catalog.forget_live())
    state = AppState(Path(workspace_path), config, lease,
                     Authenticator(signer, wc.login_attempts, persist=not wc.read_only),
                     templates, catalog)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()  # one indexer per start: the app may be started again
        indexer = threading.Thread(target=_index_snapshots, args=(state, stop), daemon=True,
                                   name="growthmap-indexer")
        if not wc.read_only:
            indexer.start()
        yield
        stop.set()
        if indexer.is_alive():
            indexer.join(timeout=60)
        lease.close()

    app = FastAPI(
        title="growthmap", version=__version__, lifespan=lifespan,
        description="Where the next B2B revenue comes from: value, potential, segments and "
        "plan of one snapshot, scoped to what the signed-in user may see. Authenticate with "
        "`Authorization: Bearer TOKEN` (create one with `growthmap user token NAME`).",
        docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.gm = state
    app.add_exception_handler(GrowthmapError, _on_error)
    app.add_exception_handler(RequestValidationError, _on_invalid)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for mod in ROUTE_MODULES:
        app.include_router(importlib.import_module(f"growthmap.web.routes.{mod}").router)

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        if not request.url.path.startswith("/static/"):
            # pages, API answers and exports carry account data: never kept by a
            # browser or a proxy (a shared computer's back button shows nothing)
            response.headers["Cache-Control"] = "no-store"
            response.headers.setdefault("Pragma", "no-cache")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # vega compiles chart expressions with Function(): 'unsafe-eval', nothing inline
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-eval'; frame-ancestors 'none'")
        return response

    return app


def _index_snapshots(state: AppState, stop: threading.Event) -> None:
    """Index every snapshot's account_id columns, newest first, while serving.

    Requests do not wait: until a snapshot is indexed its lookups scan (slower at a
    million accounts, never wrong).  The workspace is held for one snapshot at a time,
    so a CLI command waiting for it gets its turn.  Failures only cost speed, so they
    are swallowed (a busy workspace included: the next start tries again).
    """
    with contextlib.suppress(duckdb.Error, GrowthmapError):
        with state.cursor() as cur:
            ids = [r[0] for r in cur.execute(
                "SELECT snapshot_id FROM gm.snapshots ORDER BY snapshot_id DESC").fetchall()]
        for sid in ids:
            if stop.is_set():
                return
            with state.cursor() as cur:
                if ensure_indexes(cur, f"snap_{sid}"):
                    state.catalog.forget(f"snap_{sid}")  # it holds a search table now
            time.sleep(0.05)  # let a waiting CLI command in between two snapshots


def _filters(templates: Jinja2Templates) -> None:
    from growthmap.report.html import money, number, percent, text

    env = templates.env
    env.filters.update(money=money, percent=percent, number=number, text=text,
                       urlid=lambda v: quote(str(v), safe=""))  # ids are opaque: "/" too
