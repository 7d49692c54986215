"""The alignment page and API: ops align every rep of a role, a manager only their team."""

from __future__ import annotations

from typing import Any

import pytest

from growthmap.config import Config
from tests.test_web_api import bearer, ref, world


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return world(tmp_path_factory)


@pytest.fixture(scope="module")
def client(w: dict[str, Any]):
    from fastapi.testclient import TestClient

    from growthmap.web.app import create_app

    with TestClient(create_app(w["path"], Config())) as c:
        yield c


def test_ops_alignment_keeps_regions_and_adds_up(client, w) -> None:
    r = client.get("/api/plan/alignment?role=field&tolerance=0.2", headers=bearer(w, "ops"))
    assert r.status_code == 200, r.text
    body = r.json()
    s, reps, moves = body["summary"], body["reps"], body["moves"]
    field = ref(client, "SELECT rep_id FROM main.reps WHERE role = 'field'").rep_id
    assert sorted(x["rep_id"] for x in reps) == sorted(
        set(field) & {x["rep_id"] for x in reps})
    assert s["moved"] == len(moves) == sum(x["moved_in"] for x in reps)
    assert s["moved_across_regions"] == 0 and all(not m["changes_region"] for m in moves)
    region = ref(client, "SELECT r.rep_id, t.region FROM main.reps r JOIN main.territories t "
                 "USING (territory_id)").set_index("rep_id").region
    assert all(m["region"] == region[m["to_rep"]] for m in moves if m["region"])
    # filters: one rep's rows only
    rep = reps[0]["rep_id"]
    one = client.get(f"/api/plan/alignment?role=field&tolerance=0.2&rep={rep}",
                     headers=bearer(w, "ops")).json()
    assert [x["rep_id"] for x in one["reps"]] == [rep]
    assert all(rep in (m["from_rep"], m["to_rep"]) for m in one["moves"])


def test_manager_aligns_only_their_team_and_reps_have_none(client, w) -> None:
    r = client.get("/api/plan/alignment?role=field&tolerance=0.3", headers=bearer(w, "manager"))
    assert r.status_code == 200, r.text
    body = r.json()
    subtree = ref(client, "SELECT territory_id FROM main.territories WHERE parent_id = "
                  f"'{w['manager_territory']}' OR territory_id = '{w['manager_territory']}'")
    mine = ref(client, "SELECT rep_id FROM main.reps WHERE territory_id IN ("
               + ", ".join(f"'{t}'" for t in subtree.territory_id) + ")").rep_id
    assert body["reps"] and {x["rep_id"] for x in body["reps"]} <= set(mine)
    sid = w["snapshot"]
    visible = ref(client, f"SELECT count(*) AS n FROM snap_{sid}.account_value WHERE "
                  "territory_id IN (" + ", ".join(f"'{t}'" for t in subtree.territory_id)
                  + ")").n[0]
    assert body["summary"]["accounts"] <= visible
    assert client.get("/api/plan/alignment", headers=bearer(w, "rep_a")).status_code == 404
    page = client.get("/plan/alignment?role=field&tolerance=0.3",
                      headers=bearer(w, "manager"))
    assert page.status_code == 200 and "Alignment proposal" in page.text
    assert "travel today" in page.text and "(EUR" in page.text
