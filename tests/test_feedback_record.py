"""How often reps were right: verdicts judged on the next year's purchases."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pytest

from growthmap.config import Config
from growthmap.errors import WorkspaceError
from growthmap.read.feedback import add_feedback, parse_feedback
from growthmap.read.feedback_record import feedback_track_record
from growthmap.runner.snapshot import write_snapshot
from growthmap.workspace import Workspace


def _snap(ws, as_of, values, potential=None):
    outputs = {"account_value": pa.Table.from_pandas(pd.DataFrame(
        {"account_id": list(values), "value": list(values.values())}), preserve_index=False)}
    if potential:
        outputs["potential_account"] = pa.Table.from_pandas(pd.DataFrame(
            {"account_id": list(potential), "potential": [p * 2 for p in potential.values()],
             "potential_model": list(potential.values())}), preserve_index=False)
    return write_snapshot(ws, as_of=as_of, config=Config(), outputs=outputs)


def test_too_low_confirmed_and_closer_are_counted(tmp_path):
    ws = Workspace.create(tmp_path / "fb.duckdb")
    try:
        first = _snap(ws, dt.date(2024, 12, 31), {"A1": 80.0, "A2": 80.0, "A3": 90.0},
                      {"A1": 100.0, "A2": 100.0, "A3": 100.0})
        for acc, verdict, fig in (("A1", "too_low", 200), ("A2", "too_low", 300),
                                  ("A3", "too_high", 50)):
            add_feedback(ws.con, acc, "anna", parse_feedback(
                {"verdict": verdict, "figure": fig, "reason": "I know them"}))
        with pytest.raises(WorkspaceError, match="less than a year"):
            later = _snap(ws, dt.date(2025, 6, 30), {"A1": 1.0})
            feedback_track_record(ws, first, later)
        later = _snap(ws, dt.date(2025, 12, 31), {"A1": 180.0, "A2": 90.0, "A3": 40.0})
        rec = feedback_track_record(ws, first, later)
        assert rec["verdicts"] == 3 and rec["too_low"] == 2
        # A1 bought 180 > the model's 100: confirmed; A2 bought 90: not
        assert rec["too_low_confirmed"] == pytest.approx(0.5)
        # closer to what was bought: A1 (200 vs 100 → 180) and A3 (50 vs 100 → 40)
        assert rec["closer"] == pytest.approx(2 / 3)
        rows = rec["rows"].set_index("account_id")
        assert rows.loc["A1", "model"] == 100.0  # the model's own figure, not the published
    finally:
        ws.close()
