"""Per-role access on every route of the app, enumerated from ``app.routes``.

A new route cannot escape: each one is called without a user (refused unless it is
one of the few public routes), and as a rep, a manager and an admin with ids from
inside and outside their book.  A rep must never see another rep's account - not by
id, search, filter, export, chart or older snapshot - and what a user may not see is
*not found*, never an empty page that leaks a count.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pandas as pd
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from growthmap.config import Config
from tests.test_web_api import bearer, ref, world

PUBLIC = {"/login", "/docs", "/openapi.json", "/healthz"}
ACCOUNT_ID = re.compile(r"A\d{7}")


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return world(tmp_path_factory)


@pytest.fixture(scope="module")
def client(w: dict[str, Any]):
    from fastapi.testclient import TestClient

    from growthmap.web.app import create_app

    with TestClient(create_app(w["path"], Config())) as c:
        yield c


@pytest.fixture(scope="module")
def book(w: dict[str, Any], client: Any) -> dict[str, Any]:
    """Who owns what, read straight from the snapshot."""
    av = ref(client, f"SELECT account_id, name, owner_rep_id, territory_id FROM "
             f"snap_{w['snapshot']}.account_value")
    terr = ref(client, "SELECT territory_id FROM main.territories WHERE territory_id = "
               f"'{w['manager_territory']}' OR parent_id = '{w['manager_territory']}'")
    mine = av[av["owner_rep_id"] == w["rep_a"]]
    region = av[av["territory_id"].isin(terr["territory_id"])]
    theirs = av[av["owner_rep_id"] == w["rep_b"]]
    assert len(mine) and len(theirs) and not set(theirs["account_id"]) & set(region["account_id"])
    return {"all": av, "visible": {"rep_a": set(mine["account_id"]),
                                   "manager": set(region["account_id"]),
                                   "admin": set(av["account_id"])},
            "own_account": mine["account_id"].iloc[0],
            "foreign_account": theirs["account_id"].iloc[0],
            "foreign_names": [n for n in theirs["name"].dropna() if len(n) > 6]}


def _walk(routes: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Every route, also inside included routers (FastAPI may wrap those)."""
    out = []
    for r in routes:
        sub = getattr(r, "original_router", None)
        if sub is not None:
            ctx = getattr(r, "include_context", None)
            out += _walk(sub.routes, prefix + (getattr(ctx, "prefix", "") or ""))
        else:
            out.append((prefix, r))
    return out


def _routes(app: Any) -> list[tuple[str, str]]:
    out = []
    for prefix, r in _walk(app.routes):
        if isinstance(r, Mount):
            assert r.path == "/static", f"new mount {r.path}: add it to this test"
        elif isinstance(r, APIRoute) or hasattr(r, "methods"):
            for m in sorted(r.methods - {"HEAD"}):
                out.append((m, prefix + r.path))
    return out


def _fill(path: str, *, account: str, rep: str) -> str:
    values = {"account_id": account, "rep_id": rep, "name": "matrix"}
    for param in re.findall(r"{(\w+)}", path):
        assert param in values, f"new path parameter {param!r} in {path}: add it to this test"
        path = path.replace("{" + param + "}", values[param])
    return path


def _payload(method: str, path: str) -> dict[str, Any]:
    if method != "POST":
        return {}
    if path.startswith("/api/"):
        return {"json": {"verdict": "too_low", "figure": 1e9, "reason": "probe"}}
    return {"data": {"verdict": "agreed", "reason": "probe", "username": "x", "password": "y"}}


def _ids_in(resp: Any) -> set[str]:
    """Account ids anywhere in a response: text, JSON, or the cells of a workbook."""
    ctype = resp.headers.get("content-type", "")
    if "spreadsheetml" in ctype:
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(resp.content), read_only=True)
        found: set[str] = set()
        for sheet in wb.worksheets:
            for row in sheet.iter_rows(values_only=True):
                found |= {v for v in row if isinstance(v, str) and ACCOUNT_ID.fullmatch(v)}
        return found
    if "image/" in ctype:
        return set()
    return set(ACCOUNT_ID.findall(resp.text))


def test_every_route_refuses_anonymous_callers(client: Any, book: dict[str, Any]) -> None:
    routes = _routes(client.app)
    assert len(routes) >= 25
    for method, path in routes:
        url = _fill(path, account=book["own_account"], rep="R")
        r = client.request(method, url, follow_redirects=False, **_payload(method, path))
        if path in PUBLIC:
            assert r.status_code in (200, 401, 422), (method, path, r.status_code)
            continue
        if path.startswith(("/api/", "/export/", "/charts/")):
            assert r.status_code == 401, (method, path, r.status_code)
        else:
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), (
                method, path, r.status_code)
        assert not _ids_in(r), (method, path)


@pytest.mark.parametrize("user", ["rep_a", "manager", "admin"])
def test_every_route_scopes_by_role(client: Any, w: dict[str, Any], book: dict[str, Any],
                                    user: str) -> None:
    hdr = bearer(w, user)
    visible = book["visible"][user]
    foreign_rep = w["rep_b"]
    before = ref(client, "SELECT count(*) AS n FROM gm.feedback")["n"].iloc[0]
    for method, path in _routes(client.app):
        if path in PUBLIC or path == "/logout":
            continue
        if user == "admin" and "{" not in path:
            continue  # an admin sees everything: only the by-id routes need checking
        heavy = path.startswith(("/export/", "/charts/"))  # same scoped reads as the JSON
        for snapshot in (None,) if heavy else (None, "previous"):
            url = _fill(path, account=book["foreign_account"], rep=foreign_rep)
            params = {"snapshot": snapshot} if snapshot else {}
            r = client.request(method, url, headers=hdr, params=params, follow_redirects=False,
                               **_payload(method, path))
            touches_foreign = "{account_id}" in path or "{rep_id}" in path
            if touches_foreign and user != "admin":
                assert r.status_code == 404, (user, method, path, r.status_code)
                # indistinguishable from an id that does not exist at all
                ghost = client.request(method, _fill(path, account="A9999999", rep="REP-NONE"),
                                       headers=hdr, params=params, follow_redirects=False,
                                       **_payload(method, path))
                assert ghost.status_code == 404
                assert (r.text.replace(book["foreign_account"], "X").replace(foreign_rep, "X")
                        == ghost.text.replace("A9999999", "X").replace("REP-NONE", "X"))
                continue
            else:
                assert r.status_code in (200, 201, 303, 404, 409), (user, method, path,
                                                                   r.status_code, r.text[:200])
            leaked = _ids_in(r) - visible
            assert not leaked, (user, method, path, sorted(leaked)[:5])
            if user != "admin" and "text" in r.headers.get("content-type", ""):
                for name in book["foreign_names"][:50]:
                    assert name not in r.text, (user, path, name)
    after = ref(client, "SELECT count(*) AS n FROM gm.feedback")["n"].iloc[0]
    if user != "admin":
        assert after == before, "feedback on a foreign account was stored"


def test_own_ids_are_served(client: Any, w: dict[str, Any], book: dict[str, Any]) -> None:
    """The positive control: the same routes with the rep's own ids answer 200."""
    hdr = bearer(w, "rep_a")
    for method, path in _routes(client.app):
        if method != "GET" or not ("{account_id}" in path or "{rep_id}" in path):
            continue
        url = _fill(path, account=book["own_account"], rep=w["rep_a"])
        r = client.get(url, headers=hdr)
        assert r.status_code == 200, (path, r.status_code)
        assert _ids_in(r) <= book["visible"]["rep_a"]


def test_search_and_filters_do_not_reach_other_books(client: Any, w: dict[str, Any],
                                                     book: dict[str, Any]) -> None:
    hdr = bearer(w, "rep_a")
    foreign = book["all"][book["all"]["account_id"] == book["foreign_account"]].iloc[0]
    probes = [{"q": foreign["account_id"]}, {"q": foreign["name"]},
              {"owner_rep_id": w["rep_b"]}, {"territory_id": foreign["territory_id"]}]
    for params in probes:
        for route in ("/api/accounts", "/api/prospects"):
            body = client.get(route, params=params, headers=hdr).json()
            assert body["total"] == 0 and body["rows"] == [], (route, params)
    own = client.get("/api/accounts", params={"page_size": 500}, headers=hdr).json()
    assert {r["account_id"] for r in own["rows"]} == book["visible"]["rep_a"]
    reps = client.get("/api/reps", headers=hdr).json()["rows"]
    assert [r["rep_id"] for r in reps] == [w["rep_a"]]


def test_exports_hold_only_the_users_book(client: Any, w: dict[str, Any],
                                          book: dict[str, Any]) -> None:
    for user in ("rep_a", "manager"):
        hdr = bearer(w, user)
        csv = pd.read_csv(io.StringIO(client.get("/export/crm.csv", headers=hdr).text),
                          dtype=str)
        assert set(csv["account_id"]) == book["visible"][user]
        xlsx = client.get("/export/accounts.xlsx", headers=hdr)
        assert _ids_in(xlsx) == book["visible"][user]
        spec = client.get("/api/charts/matrix", headers=hdr).json()
        plotted = {v["account_id"] for layer in spec.get("layer", [spec])
                   for v in (layer.get("data", {}).get("values") or []) if "account_id" in v}
        assert plotted and plotted <= book["visible"][user]


def test_a_browser_session_is_scoped_like_a_token(w: dict[str, Any],
                                                  book: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from growthmap.web.app import create_app
    from tests.test_web_api import PASSWORD

    with TestClient(create_app(w["path"], Config())) as c:
        c.post("/login", data={"username": "rep_a", "password": PASSWORD})
        assert c.get(f"/accounts/{book['own_account']}").status_code == 200
        r = c.get(f"/accounts/{book['foreign_account']}")
        assert r.status_code == 404 and "Not found" in r.text
        foreign = book["all"].set_index("account_id").loc[book["foreign_account"]]
        assert foreign["name"] not in r.text
        page = c.get("/accounts", params={"q": book["foreign_account"]})
        assert "0 accounts" in page.text
