"""Feedback that feeds back: a rep's reviewed figure becomes the published potential in
the next run when ``potential.feedback = "replace"``, with the model's figure beside it."""

from __future__ import annotations

import datetime as dt

import pytest

from growthmap.config import Config
from growthmap.read.card import account_card
from growthmap.read.feedback import add_feedback, parse_feedback
from growthmap.runner.duckdb_run import run
from tests.test_web_api import LIGHT


def _config(mode: str) -> Config:
    raw = {**LIGHT, "potential": {**LIGHT.get("potential", {}), "feedback": mode}}
    return Config.from_dict(raw)


def _potential(ws, sid: int, account_id: str) -> dict:
    row = ws.con.execute(f"SELECT potential, potential_model, adjusted_by, current "
                         f"FROM snap_{sid}.potential_account WHERE account_id = ?",
                         [account_id]).fetchone()
    return dict(zip(["potential", "potential_model", "adjusted_by", "current"], row,
                    strict=True))


def test_too_low_120000_changes_the_published_potential(tmp_path):
    from growthmap.demo import DEMO_AS_OF, build_demo_workspace

    ws = build_demo_workspace(tmp_path / "fb.duckdb", 600, 7)
    try:
        first = run(ws, _config("replace"), as_of=DEMO_AS_OF, only=["value", "potential"])
        sid = first.snapshot_id
        # an account whose model figure is below 120,000 and within 5x of it
        acc, model = ws.con.execute(
            f"SELECT account_id, potential FROM snap_{sid}.potential_account "
            "WHERE potential BETWEEN 30000 AND 100000 AND current < 100000 "
            "ORDER BY account_id LIMIT 1").fetchone()
        fb = parse_feedback({"verdict": "too_low", "figure": 120_000,
                             "reason": "two new plants next year"})
        add_feedback(ws.con, acc, "rep_anna", fb, current_potential=model,
                     now=dt.datetime(2026, 1, 15, 9, 30))
        second = run(ws, _config("replace"), as_of=DEMO_AS_OF, only=["value", "potential"])
        got = _potential(ws, second.snapshot_id, acc)
        assert got["potential"] == pytest.approx(120_000)
        assert got["potential_model"] == pytest.approx(model)  # the same model, same data
        assert got["adjusted_by"] == "rep_anna"
        card = account_card(ws, acc, second.snapshot_id)
        assert card.potential == pytest.approx(120_000)
        assert card.potential_model == pytest.approx(model)
        assert (card.potential_adjusted_by, card.potential_adjusted_at) == ("rep_anna",
                                                                            "2026-01-15")
        others = ws.con.execute(
            f"SELECT count(*) FROM snap_{second.snapshot_id}.potential_account "
            "WHERE adjusted_by IS NOT NULL").fetchone()[0]
        assert others == 1
        # with the setting off the model's figure is published and nobody is named
        third = run(ws, _config("off"), as_of=DEMO_AS_OF, only=["value", "potential"])
        off = _potential(ws, third.snapshot_id, acc)
        assert off["potential"] == pytest.approx(model) and off["adjusted_by"] is None
        # a figure far beyond the model's is held within feedback_max_ratio
        big = parse_feedback({"verdict": "too_low", "figure": model * 50, "reason": "sure"})
        add_feedback(ws.con, acc, "rep_anna", big, current_potential=model,
                     now=dt.datetime(2026, 2, 1))
        fourth = run(ws, _config("replace"), as_of=DEMO_AS_OF, only=["value", "potential"])
        assert _potential(ws, fourth.snapshot_id, acc)["potential"] == pytest.approx(
            max(model, 1.0) * 5)
    finally:
        ws.close()


def test_a_family_verdict_moves_that_family_and_the_total(tmp_path):
    from growthmap.demo import DEMO_AS_OF, build_demo_workspace

    ws = build_demo_workspace(tmp_path / "fam.duckdb", 600, 11)
    try:
        first = run(ws, _config("replace"), as_of=DEMO_AS_OF, only=["value", "potential"])
        sid = first.snapshot_id
        acc, fam, model, _current, total = ws.con.execute(
            f"SELECT p.account_id, p.family, p.potential, p.current, a.potential "
            f"FROM snap_{sid}.potential p JOIN snap_{sid}.potential_account a USING "
            "(account_id) WHERE p.potential BETWEEN 10000 AND 40000 AND p.current < 10000 "
            "ORDER BY p.account_id, p.family LIMIT 1").fetchone()
        fb = parse_feedback({"family": fam, "verdict": "too_low", "figure": model * 2,
                             "reason": "new site needs it"})
        add_feedback(ws.con, acc, "rep_ben", fb, current_potential=model,
                     now=dt.datetime(2026, 1, 20, 8, 0))
        second = run(ws, _config("replace"), as_of=DEMO_AS_OF, only=["value", "potential"])
        s2 = second.snapshot_id
        row = ws.con.execute(
            f"SELECT potential, potential_model, adjusted_by, whitespace, current FROM "
            f"snap_{s2}.potential WHERE account_id = ? AND family = ?", [acc, fam]).fetchone()
        assert row[0] == pytest.approx(model * 2) and row[1] == pytest.approx(model)
        assert row[2] == "rep_ben" and row[3] == pytest.approx(model * 2 - row[4])
        # only that cell is adjusted; the account's total moves by what the family moved
        n_adj = ws.con.execute(f"SELECT count(*) FROM snap_{s2}.potential "
                               "WHERE adjusted_by IS NOT NULL").fetchone()[0]
        assert n_adj == 1
        got = _potential(ws, s2, acc)
        assert got["potential"] == pytest.approx(total + model)
        assert got["potential_model"] == pytest.approx(total) and got["adjusted_by"] == "rep_ben"
        # a verdict on the total replaces the total (bounded around the model's total)
        tot = parse_feedback({"verdict": "too_low", "figure": total * 1.5, "reason": "sure"})
        add_feedback(ws.con, acc, "rep_cy", tot, current_potential=total,
                     now=dt.datetime(2026, 1, 21))
        third = run(ws, _config("replace"), as_of=DEMO_AS_OF, only=["value", "potential"])
        got = _potential(ws, third.snapshot_id, acc)
        assert got["potential"] == pytest.approx(total * 1.5) and got["adjusted_by"] == "rep_cy"
        # with the setting off, the family keeps the model's figure and nobody is named
        off = run(ws, _config("off"), as_of=DEMO_AS_OF, only=["value", "potential"])
        row = ws.con.execute(
            f"SELECT potential, potential_model, adjusted_by FROM snap_{off.snapshot_id}"
            ".potential WHERE account_id = ? AND family = ?", [acc, fam]).fetchone()
        assert row[0] == pytest.approx(model) == pytest.approx(row[1]) and row[2] is None
    finally:
        ws.close()
