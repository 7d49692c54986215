"""Scope over snapshots: every route x role x snapshot, with accounts moved between reps.

Three accounts moved from rep B to rep A between snapshot 1 and 2 (a real run each,
see :mod:`tests._security_world`).  The rule under test: a user sees in a snapshot
only the accounts that were in their book *in that snapshot*; the account card's
history follows the same rule; feedback is read and written on today's book.

The route matrix is enumerated from ``app.routes`` (a new GET route cannot escape):
each GET route, for each role and each snapshot, must not name an account outside
that user's book in that snapshot.
"""

from __future__ import annotations

import io
import re
from typing import Any
from urllib.parse import quote, unquote

import openpyxl
import pytest
from fastapi.routing import APIRoute

from growthmap.config import Config
from tests._security_world import ROLES, visible, world

ACCOUNT_ID = re.compile(r"(?:A/)?A\d{7}")
SNAPSHOTS = ("1", "2")  # latest / previous resolve to these (test_snapshot_aliases)
#: Path parameters of the GET routes, per name (ids filled in per user below).
MATRIX: list[tuple[str, str, str]] = []  # (route, role, snapshot) checked, for the docs


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    w = world(tmp_path_factory)
    # the reference, read before the app opens the file
    w["visible"] = {(u, s): visible(w["path"], u, w, s) for u in ROLES for s in (1, 2)}
    return w


@pytest.fixture(scope="module")
def client(w: dict[str, Any]):
    from fastapi.testclient import TestClient

    from growthmap.web.app import create_app

    with TestClient(create_app(w["path"], Config())) as c:
        yield c


def h(w: dict[str, Any], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w['tokens'][user]}"}


def _sid(snapshot: str) -> int:
    return int(snapshot)


def _ids(resp: Any) -> set[str]:
    if resp.headers.get("content-type", "").startswith(
            "application/vnd.openxmlformats-officedocument"):
        book = openpyxl.load_workbook(io.BytesIO(resp.content), read_only=True)
        text = " ".join(str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True)
                        for v in row if v is not None)
    else:
        text = resp.text
    return set(ACCOUNT_ID.findall(unquote(text)))


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


def _get_routes(app: Any) -> list[str]:
    out = []
    for prefix, r in _walk(app.routes):
        if (isinstance(r, APIRoute) or hasattr(r, "methods")) and "GET" in (
                r.methods or ()) and prefix + r.path not in (
                "/login", "/docs", "/openapi.json", "/healthz"):
            out.append(prefix + r.path)
    return sorted(set(out))


def _fill(path: str, w: dict[str, Any], user: str, sid: int) -> list[str]:
    """Concrete URLs of one route for one user: path ids from inside and outside the book."""
    if "{account_id" in path:
        own = sorted(w["visible"][(user, sid)])[:1]
        other = sorted(w["visible"][("admin", sid)] - w["visible"][(user, sid)])[:1]
        return [re.sub(r"\{account_id(:path)?\}", quote(i, safe=""), path)
                for i in [*own, *other, w["moved"][0], w["slash_id"]]]
    if "{rep_id" in path:
        return [re.sub(r"\{rep_id(:path)?\}", quote(r, safe=""), path)
                for r in (w["rep_a"], w["rep_b"])]
    if "{name}" in path:  # every chart's data; one rendered picture (slow to draw)
        from growthmap.report.gallery import CHARTS

        names = list(CHARTS) if not path.endswith(".png") else list(CHARTS)[:1]
        return [path.replace("{name}", n) for n in names]
    return [path]


@pytest.mark.parametrize("user", ROLES)
def test_no_route_names_an_account_outside_the_book_of_that_snapshot(w, client, user) -> None:
    routes = _get_routes(client.app)
    assert any("{account_id" in r for r in routes) and "/export/crm.csv" in routes
    for snapshot in SNAPSHOTS:
        sid = _sid(snapshot)
        allowed = w["visible"][(user, sid)]
        for route in routes:
            for url in _fill(route, w, user, sid):
                resp = client.get(url, params={"snapshot": snapshot}, headers=h(w, user))
                assert resp.status_code < 500, (url, snapshot, resp.text[:300])
                seen = _ids(resp)
                # feedback follows today's book
                allowed_here = w["visible"][(user, 2)] if route == "/api/feedback" else allowed
                leaked = seen - allowed_here - set(ACCOUNT_ID.findall(unquote(url)))
                assert not leaked, (user, url, snapshot, sorted(leaked)[:5])
                MATRIX.append((route, user, snapshot))
    assert len({(r, s) for r, u, s in MATRIX if u == user}) == len(routes) * len(SNAPSHOTS)


def test_the_moved_accounts_are_the_old_owners_then_and_the_new_owners_now(w, client) -> None:
    moved = w["moved"]
    for acc in moved:
        url = f"/api/accounts/{acc}"
        # rep B: the account was theirs in snapshot 1 only, with that snapshot's history
        card = client.get(url, params={"snapshot": "1"}, headers=h(w, "rep_b"))
        assert card.status_code == 200
        assert [p["snapshot_id"] for p in card.json()["history"]] == [1]
        assert card.json()["feedback"] == []
        assert client.get(url, params={"snapshot": "2"}, headers=h(w, "rep_b")).status_code == 404
        assert client.get(url, headers=h(w, "rep_b")).status_code == 404
        # rep A: theirs from snapshot 2 on, and not their past under rep B
        assert client.get(url, params={"snapshot": "1"}, headers=h(w, "rep_a")).status_code == 404
        card = client.get(url, headers=h(w, "rep_a"))
        assert card.status_code == 200
        assert [p["snapshot_id"] for p in card.json()["history"]] == [2]
        # an admin sees the whole history
        card = client.get(url, headers=h(w, "admin")).json()
        assert [p["snapshot_id"] for p in card["history"]] == [1, 2]
    for snapshot, owner, other in (("1", "rep_b", "rep_a"), ("2", "rep_a", "rep_b")):
        for user, present in ((owner, True), (other, False)):
            page = client.get("/api/accounts", params={"snapshot": snapshot, "page_size": 500},
                              headers=h(w, user)).json()
            ids = {r["account_id"] for r in page["rows"]}
            assert (set(moved) <= ids) is present and (set(moved) & ids or not present)
            crm = client.get("/export/crm.csv", params={"snapshot": snapshot},
                             headers=h(w, user))
            assert all((m in crm.text) is present for m in moved), (snapshot, user)
            xlsx = client.get("/export/accounts.xlsx", params={"snapshot": snapshot},
                              headers=h(w, user))
            assert all((m in _ids(xlsx)) is present for m in moved), (snapshot, user)


def test_snapshot_aliases_resolve_to_the_same_books(w, client) -> None:
    for alias, sid in (("latest", "2"), ("previous", "1"), (None, "2")):
        for user in ("rep_a", "rep_b"):
            params = {"page_size": 500} | ({"snapshot": alias} if alias else {})
            got = client.get("/api/accounts", params=params, headers=h(w, user)).json()
            ref = client.get("/api/accounts", params={"page_size": 500, "snapshot": sid},
                             headers=h(w, user)).json()
            assert got["snapshot_id"] == int(sid) and got["rows"] == ref["rows"]


def test_feedback_is_written_on_todays_book_only(w, client) -> None:
    acc = w["moved"][0]
    body = {"verdict": "agreed", "reason": "checked"}
    for snapshot in ("1", "2", "latest"):
        r = client.post(f"/api/accounts/{acc}/feedback", params={"snapshot": snapshot},
                        json=body, headers=h(w, "rep_b"))
        assert r.status_code == 404, (snapshot, r.text)
    r = client.post(f"/api/accounts/{acc}/feedback", json=body, headers=h(w, "rep_a"))
    assert r.status_code == 201, r.text
    # the new owner's verdict is not shown to the old owner through the old snapshot
    old = client.get(f"/api/accounts/{acc}", params={"snapshot": "1"},
                     headers=h(w, "rep_b")).json()
    assert old["feedback"] == []
    listed = client.get("/api/feedback", params={"snapshot": "1"}, headers=h(w, "rep_b"))
    assert acc not in listed.text
    assert acc in client.get("/api/feedback", headers=h(w, "rep_a")).text


def test_migration_shows_moves_not_the_other_books_classes(w, client) -> None:
    def rows(user: str) -> list[dict[str, Any]]:
        r = client.get("/api/migration", params={"dimension": "value_tier"}, headers=h(w, user))
        assert r.status_code == 200, r.text
        return r.json()["rows"]

    moved_in = sum(r["accounts"] for r in rows("rep_a") if r["from_class"] == "(moved in)")
    moved_out = sum(r["accounts"] for r in rows("rep_b") if r["to_class"] == "(moved out)")
    assert moved_in == len(w["moved"]) and moved_out == len(w["moved"])
    assert not any("(moved" in f"{r['from_class']}{r['to_class']}" for r in rows("admin"))


def test_a_card_hides_a_parent_outside_the_book(w, client) -> None:
    child, parent = w["parent_child"], w["foreign_parent"]
    mine = client.get(f"/api/accounts/{child}", headers=h(w, "rep_a")).json()
    assert "parent_id" not in mine["attributes"] and parent not in str(mine)
    page = client.get(f"/accounts/{child}", headers=h(w, "rep_a")).text
    assert parent not in page
    admin = client.get(f"/api/accounts/{child}", headers=h(w, "admin")).json()
    assert admin["attributes"]["parent_id"] == parent


def test_an_id_with_a_slash_opens_and_is_linked_encoded(w, client) -> None:
    sid = w["slash_id"]
    enc = quote(sid, safe="")
    assert client.get(f"/api/accounts/{enc}", headers=h(w, "rep_a")).json()["account_id"] == sid
    assert client.get(f"/accounts/{enc}", headers=h(w, "rep_a")).status_code == 200
    assert client.get(f"/api/accounts/{enc}", headers=h(w, "rep_b")).status_code == 404
    listing = client.get("/accounts", params={"q": sid}, headers=h(w, "rep_a")).text
    assert f'href="/accounts/{enc}"' in listing
    r = client.post(f"/api/accounts/{enc}/feedback", json={"verdict": "agreed"},
                    headers=h(w, "rep_a"))
    assert r.status_code == 201 and r.json()["account_id"] == sid


def test_the_matrix_was_walked(w, client) -> None:
    """The figures docs/security.md quotes: routes x roles x snapshots checked."""
    if not MATRIX:
        pytest.skip("run together with the route matrix above")
    routes = {r for r, _, _ in MATRIX}
    assert len(routes) >= 20, routes
    assert len(set(MATRIX)) == len(routes) * len(ROLES) * len(SNAPSHOTS)


def test_the_one_migration_keeps_other_books_figures_out_of_the_movers(w) -> None:
    from growthmap.read.access import DataAccess, Principal
    from growthmap.read.migration import between
    from growthmap.workspace import Workspace

    with Workspace.open(w["path"], wait=30) as ws:
        for user, direction in (("rep_a", "moved in"), ("rep_b", "moved out")):
            p = Principal(user, "rep", rep_id=w[user])
            m = between(DataAccess(ws.con, p, 2), DataAccess(ws.con, p, 1), "value_tier",
                        ("account_value", "account_value"))
            got = m.movers[m.movers.account_id.isin(w["moved"])]
            assert set(got.direction) == {direction} and len(got) == len(w["moved"])
            hidden = "value_from" if direction == "moved in" else "value_to"
            assert got[hidden].isna().all() and m.summary()[direction] == len(w["moved"])


@pytest.mark.parametrize("user", ["rep_a", "rep_b", "manager"])
def test_name_search_through_the_search_table_keeps_to_the_book(w, client, user) -> None:
    """Search reads the derived table of lower-cased names for candidates; what it counts
    and lists is still the reader's book in the snapshot read, nothing more or less."""
    from growthmap.read.access import SEARCH_TABLE, ensure_indexes

    state = client.app.state.gm
    for sid in (1, 2):
        with state.cursor() as cur:  # what the server's indexer does at start
            ensure_indexes(cur, f"snap_{sid}")
            names = dict(cur.execute(f"SELECT account_id, name FROM snap_{sid}.account_value"
                                     ).fetchall())
            assert cur.execute(f"SELECT count(*) FROM snap_{sid}.{SEARCH_TABLE}").fetchone()[0]
        state.catalog.forget(f"snap_{sid}")
        book = w["visible"][(user, sid)]
        others = sorted(set(names) - book)
        # a word of a name in another book, and one from this book: neither leaks
        for term in {str(names[others[0]]).split()[0][:4].lower(),
                     str(names[sorted(book)[0]]).split()[0][:4].lower()}:
            r = client.get("/api/accounts", params={"q": term, "snapshot": str(sid),
                                                    "page_size": 500}, headers=h(w, user))
            want = {a for a in book if term in str(names[a] or "").lower()}
            assert r.status_code == 200
            assert {row["account_id"] for row in r.json()["rows"]} == want, (user, sid, term)
            assert r.json()["total"] == len(want)
