"""One attainment: the scorecard, the Reps view (page, chart, report) agree to the cent."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from growthmap.config._plan import PlanConfig
from growthmap.plan import save_quotas, scorecard
from growthmap.plan.attainment import QuotaPeriod, attainment
from growthmap.read import views
from growthmap.read.access import DataAccess, Principal
from tests.test_scorecards import NOW, PREV, two_snapshots


def test_reps_view_and_scorecard_give_one_attainment(tmp_path):
    ws = two_snapshots(tmp_path)
    q = pd.DataFrame({"level": "rep", "key": ["R1", "R2"], "family": None,
                      "quota_cents": [100_000, 50_000], "history": [150.0, 250.0],
                      "whitespace": [200.0, 10.0], "explanation": "by hand"})
    save_quotas(ws, q, as_of=PREV, snapshot_id=1)
    card = scorecard(ws, PlanConfig()).table.set_index("key")
    cur = ws.con.cursor()
    try:
        reps = views.reps(DataAccess(cur, Principal("ops", "ops"), "latest")).set_index("rep_id")
    finally:
        cur.close()
    for rep in ("R1", "R2"):
        assert reps.loc[rep, "attainment"] == pytest.approx(card.loc[rep, "attainment"])
        assert reps.loc[rep, "quota_actual"] == pytest.approx(card.loc[rep, "actual"])
        # not the trailing-12-month value over the quota
        assert reps.loc[rep, "current"] != pytest.approx(card.loc[rep, "actual"])
    ws.close()


def test_period_and_ratio():
    p = QuotaPeriod.of(dt.date(2024, 12, 31), 12, dt.date(2025, 6, 30))
    assert p.started and p.end == dt.date(2025, 12, 31)
    assert p.elapsed == pytest.approx(181 / 365)
    assert not QuotaPeriod.of(NOW, 12, NOW).started
    got = attainment([50.0, 10.0, 5.0], [100.0, 0.0, np.nan])
    assert got[0] == 0.5 and np.isnan(got[1]) and np.isnan(got[2])
