"""The JSON API through an in-process client against a real workspace.

The workspace is the demo world (600 accounts) run through the real pipeline twice
(as of 2025-06-30 and 2025-12-31, so migration has two snapshots): every stage runs,
with a lighter model set-up so the world builds in seconds, and nothing is filled in
or caught.  A stage that fails fails the world, and with it every test of the faces
built on it (web, report, Excel, charts, feedback, browser).

Other test modules import :func:`world` from here to share the one built workspace.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from growthmap.config import Config
from growthmap.runner.duckdb_run import run
from growthmap.web.auth import add_user, issue_token
from growthmap.workspace import Workspace

EARLY_AS_OF = dt.date(2025, 6, 30)
PASSWORD = "correct horse 1"
#: A lighter model set-up than the defaults, so the world builds in seconds.
LIGHT = {"potential": {"method": "peer", "backtest": False},
         "scores": {"n_estimators": 20, "backtest_cutoffs": 1, "train_cutoffs": 1,
                    "calibration": "none", "per_family": False}}


def light_config() -> Config:
    return Config.from_dict(LIGHT)


# -- the shared world ---------------------------------------------------------------------
def build_world(path: Path, n_accounts: int = 600, seed: int = 42) -> dict[str, Any]:
    """The demo world run twice, plus users of every role with tokens; returns facts."""
    from growthmap.demo import DEMO_AS_OF, build_demo_workspace

    ws = build_demo_workspace(path, n_accounts, seed)
    try:
        config = light_config()
        # the earlier snapshot only feeds migration: keep it cheap
        run(ws, config, as_of=EARLY_AS_OF, only=["value", "segments"], label=str(EARLY_AS_OF))
        run(ws, config, as_of=DEMO_AS_OF, label=str(DEMO_AS_OF))
        facts = _facts(ws)
        tokens = {}
        for name, role, terr, rep in (
                ("admin", "admin", None, None), ("ops", "ops", None, None),
                ("manager", "manager", facts["manager_territory"], None),
                ("rep_a", "rep", None, facts["rep_a"]), ("rep_b", "rep", None, facts["rep_b"])):
            add_user(ws.con, name, role, password=PASSWORD, territory_id=terr, rep_id=rep)
            tokens[name] = issue_token(ws.con, name)
        facts["tokens"] = tokens
    finally:
        ws.close()
    facts["path"] = path
    return facts


def _facts(ws: Workspace) -> dict[str, Any]:
    """Two reps in different regions, and a manager over rep_a's region only."""
    sid = ws.snapshot_ids()[-1]
    df = ws.con.execute(
        f"SELECT a.owner_rep_id, t.parent_id, count(*) AS n FROM snap_{sid}.account_value a "
        "JOIN main.territories t ON t.territory_id = a.territory_id "
        "WHERE a.owner_rep_id IS NOT NULL GROUP BY 1, 2 ORDER BY n DESC, 1").df()
    rep_a, region_a = df.iloc[0]["owner_rep_id"], df.iloc[0]["parent_id"]
    other = df[df["parent_id"] != region_a]
    return {"rep_a": rep_a, "rep_b": other.iloc[0]["owner_rep_id"],
            "manager_territory": region_a, "snapshot": sid}


_BUILT: dict[str, Any] = {}


def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A private copy of the shared world (built once per test session)."""
    if "path" not in _BUILT:
        _BUILT.update(build_world(tmp_path_factory.mktemp("world") / "world.duckdb"))
    copy = tmp_path_factory.mktemp("ws") / "ws.duckdb"
    shutil.copy(_BUILT["path"], copy)
    return {**_BUILT, "path": copy}


def ref(client: Any, sql: str) -> pd.DataFrame:
    """The reference side of a test: plain SQL on the app's own workspace connection."""
    cur = client.app.state.gm.con.cursor()
    try:
        return cur.execute(sql).df()
    finally:
        cur.close()


# -- fixtures -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return world(tmp_path_factory)


@pytest.fixture(scope="module")
def client(w: dict[str, Any]):
    from fastapi.testclient import TestClient

    from growthmap.web.app import create_app

    with TestClient(create_app(w["path"], Config())) as c:
        yield c


def bearer(w: dict[str, Any], user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {w['tokens'][user]}"}


@pytest.fixture(scope="module")
def av(w: dict[str, Any], client: Any) -> pd.DataFrame:
    sid = w["snapshot"]
    return ref(client, f"SELECT a.*, p.potential, p.whitespace FROM snap_{sid}.account_value a "
                f"LEFT JOIN snap_{sid}.potential_account p USING (account_id)")


# -- tests --------------------------------------------------------------------------------
def test_openapi_lists_every_resource(client) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/api/overview", "/api/matrix", "/api/territories", "/api/reps",
                 "/api/reps/{rep_id}", "/api/accounts", "/api/accounts/{account_id}",
                 "/api/accounts/{account_id}/feedback", "/api/prospects", "/api/migration",
                 "/api/charts/{name}", "/export/crm.csv", "/export/accounts.xlsx"):
        assert path in spec["paths"], path
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/api/accounts/{account_id}" in docs.text
    assert not re.search(r"""(src|href)=["']https?://""", docs.text)


def test_unauthenticated_requests_are_refused(client) -> None:
    r = client.get("/api/overview")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "sign in" in r.json()["error"]
    page = client.get("/matrix", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fmatrix"
    bad = client.get("/api/overview", headers={"Authorization": "Bearer gm.YWRtaW4.forged"})
    assert bad.status_code == 401


def test_overview_figures_match_the_snapshot(client, w, av) -> None:
    body = client.get("/api/overview", headers=bearer(w, "admin")).json()
    h = body["headline"]
    assert h["accounts"] == len(av)
    assert h["customers"] == int(av["is_customer"].sum())
    assert h["value"] == pytest.approx(av["value"].sum())
    assert h["potential"] == pytest.approx(av["potential"].sum())
    assert h["whitespace"] == pytest.approx(av["whitespace"].sum())
    conc = ref(client, f"SELECT * FROM snap_{w['snapshot']}.concentration "
                "WHERE dimension = 'all'").iloc[0]
    assert h["gini"] == pytest.approx(conc["gini"])
    assert h["top20_share"] == pytest.approx(conc["top20_share"])
    pareto = ref(client, f"SELECT * FROM snap_{w['snapshot']}.pareto ORDER BY point")
    got = pd.DataFrame(body["pareto"])
    assert np.allclose(got["cum_share_of_value"], pareto["cum_share_of_value"])
    assert sum(r["accounts"] for r in body["value_tiers"]) == len(av)
    assert any("top 20%" in s for s in body["sentences"])


def test_manager_overview_sums_the_territory_subtree(client, w, av) -> None:
    terr = ref(client, "SELECT territory_id FROM main.territories WHERE parent_id = "
                f"'{w['manager_territory']}' OR territory_id = '{w['manager_territory']}'")
    mine = av[av["territory_id"].isin(terr["territory_id"])]
    h = client.get("/api/overview", headers=bearer(w, "manager")).json()["headline"]
    assert 0 < h["accounts"] == len(mine) < len(av)
    assert h["value"] == pytest.approx(mine["value"].sum())
    assert h["whitespace"] == pytest.approx(mine["whitespace"].sum())


def test_account_list_pages_sorts_searches_and_filters(client, w, av) -> None:
    hdr = bearer(w, "admin")
    seen: list[str] = []
    page = 1
    while True:
        r = client.get("/api/accounts", params={"page": page, "page_size": 97}, headers=hdr)
        body = r.json()
        seen += [row["account_id"] for row in body["rows"]]
        if page >= body["pages"]:
            break
        page += 1
    # by value = the value tiers' ranking: value (clipped at zero) descending, then id
    expected = av.assign(v=av["value"].clip(lower=0)).sort_values(
        ["v", "account_id"], ascending=[False, True])["account_id"]
    assert seen == list(expected)
    bottom = client.get("/api/accounts", params={"order": "asc", "page_size": 30},
                        headers=hdr).json()
    assert [r["account_id"] for r in bottom["rows"]] == list(expected)[::-1][:30]
    customers = client.get("/api/accounts", params={"status": "customer", "page": 2,
                                                    "page_size": 40}, headers=hdr).json()
    cust = [a for a in expected if a in set(av.loc[av["is_customer"], "account_id"])]
    assert [r["account_id"] for r in customers["rows"]] == cust[40:80]
    word = av["name"].dropna().iloc[7].split()[0].lower()
    r = client.get("/api/accounts", params={"q": word.upper()}, headers=hdr).json()
    assert r["total"] == int(av["name"].str.lower().str.contains(word, regex=False).sum()) > 0
    r = client.get("/api/accounts", params={"value_tier": "A", "sort": "whitespace",
                                            "order": "asc", "page_size": 500}, headers=hdr).json()
    tier_a = av[av["value_tier"] == "A"].sort_values(["whitespace", "account_id"])
    assert [x["account_id"] for x in r["rows"]] == list(tier_a["account_id"])
    assert client.get("/api/accounts", params={"sort": "bogus"}, headers=hdr).status_code == 422
    wild = client.get("/api/accounts", params={"q": "%' OR 1=1 --"}, headers=hdr).json()
    assert wild["total"] == 0
    capped = client.get("/api/accounts", params={"page_size": 5000}, headers=hdr).json()
    assert capped["page_size"] == Config().web.max_page_size


def test_account_card_and_feedback(client, w, av) -> None:
    hdr = bearer(w, "rep_a")
    acc = av[(av["owner_rep_id"] == w["rep_a"]) & (av["potential"] > 0)].iloc[0]
    card = client.get(f"/api/accounts/{acc['account_id']}", headers=hdr).json()
    assert card["current"] == pytest.approx(acc["value"])
    assert card["potential"] == pytest.approx(acc["potential"])
    assert card["feedback"] == []
    url = f"/api/accounts/{acc['account_id']}/feedback"
    ok = client.post(url, headers=hdr, json={"verdict": "too_high",
                                             "figure": float(acc["potential"]) / 2,
                                             "reason": "'); DROP TABLE gm.users; --"})
    assert ok.status_code == 201
    bad = client.post(url, headers=hdr, json={"verdict": "too_high",
                                              "figure": float(acc["potential"]) * 2,
                                              "reason": "contradiction"})
    assert bad.status_code == 400 and "not below" in bad.json()["error"]
    assert client.post(url, headers=hdr, json={"verdict": "maybe"}).status_code == 422
    assert client.post(url, headers=hdr, json={"verdict": "too_low"}).status_code == 422
    card = client.get(f"/api/accounts/{acc['account_id']}", headers=hdr).json()
    assert [f["reason"] for f in card["feedback"]] == ["'); DROP TABLE gm.users; --"]
    assert card["feedback"][0]["username"] == "rep_a"
    assert client.get("/api/me", headers=hdr).json()["rep_id"] == w["rep_a"]


def test_matrix_charts_and_exports(client, w, av) -> None:
    hdr = bearer(w, "admin")
    m = client.get("/api/matrix", headers=hdr).json()
    assert sum(c["accounts"] for c in m["cells"]) == len(av)
    assert 0 < len(m["sample"]) <= Config().report.scatter_max_points
    spec = client.get("/api/charts/pareto", headers=hdr).json()
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    png = client.get("/charts/tiers.png", headers=hdr)
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/api/charts/nope", headers=hdr).status_code == 404
    crm = client.get("/export/crm.csv", headers=hdr)
    assert crm.status_code == 200 and crm.text.count("\r\n") == len(av) + 1
    xlsx = client.get("/export/accounts.xlsx", headers=hdr)
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_migration_counts_match_a_crosstab(client, w) -> None:
    first, last = w["snapshot"] - 1, w["snapshot"]
    both = ref(client, f"SELECT a.value_tier AS t0, b.value_tier AS t1 FROM "
                f"snap_{last}.account_value b LEFT JOIN snap_{first}.account_value a "
                "USING (account_id)")
    expected = both.fillna("(new)").value_counts().to_dict()
    rows = client.get("/api/migration", params={"dimension": "value_tier"},
                      headers=bearer(w, "admin")).json()["rows"]
    got = {(r["from_class"], r["to_class"]): r["accounts"] for r in rows}
    assert got == expected


def test_browser_login_logout_and_csrf(w) -> None:
    from fastapi.testclient import TestClient

    from growthmap.web.app import SESSION_COOKIE, create_app

    with TestClient(create_app(w["path"], Config())) as c:
        wrong = c.post("/login", data={"username": "rep_a", "password": "nope"})
        assert wrong.status_code == 401 and "wrong password" in wrong.text
        r = c.post("/login", data={"username": "rep_a", "password": PASSWORD,
                                   "next": "//evil.example/"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert "httponly" in r.headers["set-cookie"].lower()
        assert c.get("/").status_code == 200
        assert c.post("/logout", data={"csrf": "forged"},
                      follow_redirects=False).status_code == 303  # to the login page
        assert c.get("/", follow_redirects=False).status_code == 200  # still signed in
        page = c.get("/accounts")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        out = c.post("/logout", data={"csrf": csrf}, follow_redirects=False)
        assert out.status_code == 303 and SESSION_COOKIE in out.headers["set-cookie"]
        c.cookies.clear()
        assert c.get("/", follow_redirects=False).status_code == 303


def test_a_removed_user_loses_access_at_once(tmp_path_factory) -> None:
    from fastapi.testclient import TestClient

    from growthmap.web.app import create_app
    from growthmap.web.auth import remove_user

    ww = world(tmp_path_factory)
    app = create_app(ww["path"], Config())
    with TestClient(app) as c:
        hdr = bearer(ww, "ops")
        assert c.get("/api/me", headers=hdr).status_code == 200  # now cached as verified
        remove_user(app.state.gm.con, "ops")
        assert c.get("/api/me", headers=hdr).status_code == 401
