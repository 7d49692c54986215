"""Feedback on potential: validation, storage with who/when, overrides, and escaping."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from growthmap.config import Config
from growthmap.errors import ConfigError, NotFoundError
from growthmap.read.access import DataAccess, Principal
from growthmap.read.feedback import (
    FeedbackIn,
    add_feedback,
    feedback_for,
    feedback_table,
    overrides,
    parse_feedback,
)
from growthmap.workspace import Workspace
from tests.test_web_api import PASSWORD, world

T0 = dt.datetime(2026, 1, 5, 9, 0)


@pytest.fixture
def ws(tmp_path) -> Workspace:
    w = Workspace.create(tmp_path / "fb.duckdb")
    yield w
    w.close()


def _add(ws: Workspace, account: str, verdict: str, figure: float | None = None,
         family: str | None = None, minutes: int = 0, user: str = "ann") -> int:
    fb = FeedbackIn(verdict=verdict, figure=figure, family=family,
                    reason="" if verdict == "agreed" else "knows the budget")
    return add_feedback(ws.con, account, user, fb, now=T0 + dt.timedelta(minutes=minutes))


def test_validation_names_the_field_and_the_fix() -> None:
    assert parse_feedback({"verdict": "agreed"}).figure is None
    assert parse_feedback({"verdict": "too_low", "figure": 5, "reason": "  big plans  ",
                           "family": ""}).model_dump() == {
        "family": None, "verdict": "too_low", "figure": 5.0, "reason": "big plans"}
    cases = [({"verdict": "maybe"}, "verdict"),
             ({"verdict": "too_high", "reason": "why not"}, "needs the figure"),
             ({"verdict": "too_high", "figure": 10}, "needs a reason"),
             ({"verdict": "too_low", "figure": -1, "reason": "negative"}, "figure"),
             ({"verdict": "too_low", "figure": float("inf"), "reason": "inf"}, "figure"),
             ({"verdict": "agreed", "figure": 1, "user": "eve"}, "user"),
             ({"verdict": "agreed", "reason": "x" * 1001}, "reason")]
    for data, word in cases:
        with pytest.raises(ConfigError, match=word) as exc:
            parse_feedback(data)
        assert exc.value.hint and "too_high" in exc.value.hint


def test_each_verdict_is_kept_with_who_and_when(ws: Workspace) -> None:
    ids = [_add(ws, "A1", "too_high", 100.0, minutes=0),
           _add(ws, "A1", "agreed", minutes=5, user="bob"),
           _add(ws, "A2", "too_low", 900.0, family="Cloud", minutes=1)]
    assert ids == [1, 2, 3]
    rows = feedback_for(ws.con, "A1")
    assert list(rows["feedback_id"]) == [2, 1]  # newest first
    assert list(rows["username"]) == ["bob", "ann"]
    assert rows["created_at"].iloc[0] == T0 + dt.timedelta(minutes=5)
    assert len(feedback_table(ws.con)) == 3
    assert list(feedback_table(ws.con, ["A2"])["account_id"]) == ["A2"]


def test_overrides_take_the_latest_verdict_per_account_and_family(ws: Workspace) -> None:
    _add(ws, "A1", "too_high", 100.0, minutes=0)            # total: later withdrawn
    _add(ws, "A1", "agreed", minutes=5)
    _add(ws, "A1", "too_low", 70.0, family="Cloud", minutes=1)
    _add(ws, "A1", "too_low", 80.0, family="Cloud", minutes=2)  # replaces 70
    _add(ws, "A2", "too_high", 10.0, minutes=3)
    _add(ws, "A3", "agreed", minutes=4)
    got = overrides(ws)
    assert list(got.columns[:3]) == ["account_id", "family", "figure"]
    rows = {(r.account_id, r.family if isinstance(r.family, str) else None): r.figure
            for r in got.itertuples()}
    assert rows == {("A1", "Cloud"): 80.0, ("A2", None): 10.0}
    assert overrides(ws.con).equals(got)  # a bare connection works too


def test_a_contradicting_figure_is_refused(ws: Workspace) -> None:
    fb = FeedbackIn(verdict="too_high", figure=150.0, reason="above the estimate")
    with pytest.raises(ConfigError, match="not below"):
        add_feedback(ws.con, "A1", "ann", fb, current_potential=100.0)
    fb = FeedbackIn(verdict="too_low", figure=50.0, reason="below the estimate")
    with pytest.raises(ConfigError, match="not above"):
        add_feedback(ws.con, "A1", "ann", fb, current_potential=100.0)
    assert feedback_table(ws.con).empty


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return world(tmp_path_factory)


def test_access_layer_checks_scope_and_family(w: dict[str, Any]) -> None:
    ws = Workspace.open(w["path"])
    try:
        da = DataAccess(ws.con, Principal("rep_a", "rep", rep_id=w["rep_a"]))
        own = da.sql(f"SELECT account_id FROM {da.schema}.account_value WHERE owner_rep_id = ? "
                     "ORDER BY account_id LIMIT 1", [w["rep_a"]]).iloc[0, 0]
        other = da.sql(f"SELECT account_id FROM {da.schema}.account_value WHERE "
                       "owner_rep_id = ? LIMIT 1", [w["rep_b"]]).iloc[0, 0]
        family = da.families()[0]
        est = da.sql(f"SELECT potential FROM {da.schema}.potential WHERE account_id = ? AND "
                     "family = ?", [own, family])
        figure = float(est.iloc[0, 0]) * 2 + 1 if len(est) else 1e9
        fid = da.add_feedback(own, {"verdict": "too_low", "family": family, "figure": figure,
                                    "reason": "new plant opening"})
        assert feedback_for(ws.con, own)["feedback_id"].tolist() == [fid]
        with pytest.raises(NotFoundError):
            da.add_feedback(other, {"verdict": "agreed"})
        with pytest.raises(ConfigError, match="unknown product family"):
            da.add_feedback(own, {"verdict": "agreed", "family": "Teleportation"})
        assert feedback_for(ws.con, other).empty
        assert set(da.feedback()["account_id"]) == {own}
        admin = DataAccess(ws.con, Principal("root", "admin"))
        assert set(admin.feedback()["account_id"]) == {own}
    finally:
        ws.close()


def test_what_a_user_types_is_escaped_on_the_card(w: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from growthmap.web.app import create_app

    with TestClient(create_app(w["path"], Config())) as c:
        c.post("/login", data={"username": "rep_a", "password": PASSWORD})
        page = c.get("/accounts", params={"page_size": 1})
        account = re.search(r'href="/accounts/([^"]+)"', page.text).group(1)
        card = c.get(f"/accounts/{account}")
        csrf = re.search(r'name="csrf" value="([^"]+)"', card.text).group(1)
        evil = '<script>alert("x")</script> & <b>bold</b>'
        r = c.post(f"/accounts/{account}/feedback", follow_redirects=False,
                   data={"csrf": csrf, "verdict": "agreed", "reason": evil})
        assert r.status_code == 303 and r.headers["location"].endswith("#feedback")
        page = c.get(f"/accounts/{account}").text
        assert evil not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in page
        forged = c.post(f"/accounts/{account}/feedback", follow_redirects=False,
                        data={"csrf": "forged", "verdict": "agreed"})
        assert forged.status_code == 303 and forged.headers["location"].startswith("/login")
        bad = c.post(f"/accounts/{account}/feedback", data={"csrf": csrf, "verdict": "too_low",
                                                            "figure": "lots", "reason": "x"})
        assert bad.status_code == 400 and "is not a number" in bad.text


def test_feedback_can_be_switched_off(w: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from growthmap.web.app import create_app

    cfg = Config.from_dict({"web": {"feedback": False}})
    with TestClient(create_app(w["path"], cfg)) as c:
        hdr = {"Authorization": f"Bearer {w['tokens']['admin']}"}
        acc = c.get("/api/accounts", params={"page_size": 1}, headers=hdr).json()["rows"][0]
        r = c.post(f"/api/accounts/{acc['account_id']}/feedback", headers=hdr,
                   json={"verdict": "agreed"})
        assert r.status_code == 400 and "switched off" in r.json()["error"]
