"""Sessions that end, logins that cannot be turned into a lock-out, forms that carry
their token, answers no browser keeps, and exports that do not run as formulas.

All on the real app over a workspace from a real run (:mod:`tests._security_world`).
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from growthmap.config import Config
from growthmap.web.auth import LoginThrottle
from tests._security_world import FORMULAS, PASSWORD, world


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return world(tmp_path_factory)


@pytest.fixture(scope="module")
def app(w: dict[str, Any]):
    from growthmap.web.app import create_app

    return create_app(w["path"], Config())


def _client(app: Any, address: str = "testclient"):
    from fastapi.testclient import TestClient

    return TestClient(app, client=(address, 50000))


def _login(c: Any, user: str, password: str = PASSWORD) -> Any:
    return c.post("/login", data={"username": user, "password": password, "next": "/"},
                  follow_redirects=False)


def _csrf(c: Any) -> str:
    import re

    page = c.get("/accounts").text
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_logout_ends_the_session_for_every_copy_of_the_cookie(app) -> None:
    with _client(app) as c:
        assert _login(c, "rep_a").status_code == 303
        cookie = c.cookies.get("gm_session")
        assert c.get("/api/me").json()["username"] == "rep_a"
        token = _csrf(c)
        assert c.post("/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
    with _client(app) as thief:  # the cookie copied before signing out
        thief.cookies.set("gm_session", cookie)
        assert thief.get("/api/me").status_code == 401
        assert thief.get("/accounts", follow_redirects=False).status_code == 303


def test_removing_a_user_refuses_their_token_and_cookie_at_once(w, app) -> None:
    from growthmap.web.auth import add_user, issue_token, remove_user

    con = app.state.gm.con
    add_user(con, "leaver", "rep", password=PASSWORD, rep_id=w["rep_a"])
    token = issue_token(con, "leaver")
    con.close()
    bearer = {"Authorization": f"Bearer {token}"}
    with _client(app) as c:
        assert _login(c, "leaver").status_code == 303
        assert c.get("/api/me").status_code == 200
        assert c.get("/api/me", headers=bearer).status_code == 200
        con = app.state.gm.con
        remove_user(con, "leaver")
        con.close()
        assert c.get("/api/me").status_code == 401
        assert c.get("/api/me", headers=bearer).status_code == 401


def test_failed_logins_slow_the_guesser_not_the_user(app, monkeypatch) -> None:
    import time

    frozen = time.time()  # the clock stands still: the waits cannot run out mid-test
    monkeypatch.setattr(time, "time", lambda: frozen)
    with _client(app, "203.0.113.9") as attacker, _client(app, "198.51.100.7") as owner:
        # the owner signed in from their own address before
        assert _login(owner, "rep_b").status_code == 303
        codes = [_login(attacker, "rep_b", "wrong password").status_code for _ in range(14)]
        assert codes == [401] * 10 + [429] * 4
        # right password, but from the guessing address: still asked to wait
        assert _login(attacker, "rep_b").status_code == 429
        # the owner is not locked out
        owner.cookies.clear()
        assert _login(owner, "rep_b").status_code == 303


def test_the_throttle_backs_off_and_cannot_lock_out() -> None:
    t = LoginThrottle(limit=3, window_s=900)
    now = 1_000.0
    for i in range(3):
        assert t.wait("ann", "a", now + i) == 0
        t.failed("ann", "a", now + i)
    # past the limit: 1 s, then 2 s, then 4 s after the last failure
    assert t.wait("ann", "a", now + 2) == pytest.approx(1.0)
    t.failed("ann", "a", now + 3)
    assert t.wait("ann", "a", now + 3) == pytest.approx(2.0)
    assert t.wait("ann", "b", now + 3) == 0  # another address is not held back
    # a spray over many addresses holds the user name back at most a minute...
    for i in range(40):
        t.failed("ann", f"bot{i}", now + 10)
    assert 0 < t.wait("ann", "new", now + 10) <= 60
    # ...and never an address that signed in as the user before
    t.succeeded("ann", "home")
    assert t.wait("ann", "home", now + 10) == 0
    # the window forgets
    assert t.wait("ann", "a", now + 10_000) == 0


def test_a_cookie_session_needs_the_token_for_every_change(w, app) -> None:
    own = w["moved"][0]  # rep A's account now
    with _client(app) as c:
        assert _login(c, "rep_a").status_code == 303
        body = {"verdict": "agreed", "reason": "seen"}
        assert c.post(f"/api/accounts/{own}/feedback", json=body).status_code == 401
        assert c.post(f"/api/accounts/{own}/feedback", json=body,
                      headers={"X-CSRF-Token": "forged"}).status_code == 401
        ok = c.post(f"/api/accounts/{own}/feedback", json=body,
                    headers={"X-CSRF-Token": _csrf(c)})
        assert ok.status_code == 201, ok.text
        admin = {"Authorization": f"Bearer {w['tokens']['admin']}"}

        def verdicts() -> int:
            rows = c.get("/api/feedback", headers=admin).json()["rows"]
            return sum(r["account_id"] == own for r in rows)

        before = verdicts()
        form = c.post(f"/accounts/{own}/feedback", data={"verdict": "agreed"},
                      follow_redirects=False)
        assert form.headers["location"].startswith("/login") and verdicts() == before
        c.post("/logout", follow_redirects=False)  # no token: the session goes on
        assert c.get("/api/me").json()["username"] == "rep_a"


@pytest.mark.parametrize("url", ["/", "/accounts", "/api/accounts", "/api/me", "/api/feedback",
                                 "/export/crm.csv", "/export/accounts.xlsx", "/api/overview"])
def test_nothing_with_account_data_is_kept_by_a_browser(w, app, url) -> None:
    with _client(app) as c:
        r = c.get(url, headers={"Authorization": f"Bearer {w['tokens']['rep_a']}"})
        assert r.status_code == 200
        assert r.headers["cache-control"] == "no-store"
        denied = c.get(url, follow_redirects=False)
        assert denied.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("guard", [True, False])
def test_crm_export_neutralises_formulas_unless_told_not_to(w, guard) -> None:
    from fastapi.testclient import TestClient

    from growthmap.web.app import create_app

    cfg = Config.from_dict({"report": {"csv_formula_guard": guard}})
    with TestClient(create_app(w["path"], cfg)) as c:
        r = c.get("/export/crm.csv", headers={"Authorization": f"Bearer {w['tokens']['admin']}"})
    rows = {row["account_id"]: row for row in csv.DictReader(io.StringIO(r.text, newline=""))}
    for acc, name in zip(w["formula_ids"], FORMULAS, strict=True):
        got = rows[acc]["account_name"]
        assert got == ("'" + name if guard else name), (acc, got)
    # figures stay numbers: a negative growth or value is not prefixed
    assert all(not row["current_value"].startswith("'") for row in rows.values())


def test_injection_and_traversal_strings_are_refused_or_not_found(w, app) -> None:
    hdr = {"Authorization": f"Bearer {w['tokens']['rep_a']}"}
    nasty = ["' OR 1=1 --", "../../etc/passwd", "..%2F..%2Fgm.meta", "A0000001' UNION "
             "SELECT * FROM gm.users --", "<script>alert(1)</script>", "%00", "snap_1.accounts"]
    with _client(app) as c:
        for s in nasty:
            from urllib.parse import quote

            r = c.get(f"/api/accounts/{quote(s, safe='')}", headers=hdr)
            assert r.status_code == 404, (s, r.status_code)
            r = c.get("/api/accounts", params={"q": s}, headers=hdr)
            assert r.status_code == 200 and r.json()["total"] == 0, s
            r = c.get("/api/accounts", params={"snapshot": s}, headers=hdr)
            assert r.status_code == 422, s
            r = c.get("/api/accounts", params={"sort": s}, headers=hdr)
            assert r.status_code == 422, s
            page = c.get(f"/accounts/{quote(s, safe='')}", headers=hdr).text
            assert "<script>alert(1)</script>" not in page
        assert c.get("/static/../../../etc/passwd").status_code == 404
        assert c.get("/static/%2e%2e/%2e%2e/app.py").status_code == 404
