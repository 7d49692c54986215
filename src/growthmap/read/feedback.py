"""Feedback on potential: reps and managers say whether an account's estimate is right.

A verdict is *agreed*, *too high* or *too low*; the latter two carry the figure the
person believes and a reason.  Every verdict is kept in ``gm.feedback`` with who gave
it and when (nothing is overwritten), shown on the account card and exported.

:func:`overrides` turns the latest verdict per account and family into figures the
potential engine may use instead of its estimate (when its config asks for it): an
*agreed* verdict after a correction withdraws the correction.  A verdict with no
family is about the account's total potential.

Nothing typed is trusted: :class:`FeedbackIn` validates it, SQL takes it as bound
parameters and templates escape it.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

import duckdb
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from growthmap.errors import ConfigError
from growthmap.read._store import fetch_records

__all__ = [
    "FEEDBACK_COLUMNS",
    "VERDICTS",
    "FeedbackIn",
    "add_feedback",
    "feedback_for",
    "feedback_records",
    "feedback_table",
    "overrides",
    "parse_feedback",
]

VERDICTS = ("agreed", "too_high", "too_low")
FEEDBACK_COLUMNS = ("feedback_id", "account_id", "family", "verdict", "figure", "reason",
                    "username", "created_at")


class FeedbackIn(BaseModel):
    """One verdict as a user submits it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    family: str | None = Field(None, max_length=100,
                               description="Product family; empty = the account's total.")
    verdict: Literal["agreed", "too_high", "too_low"] = Field(
        description="agreed, too_high or too_low.")
    figure: float | None = Field(None, ge=0, le=1e13, allow_inf_nan=False,
                                 description="The potential the user believes (needed for "
                                 "too_high / too_low).")
    reason: str = Field("", max_length=1000, description="Why (needed for too_high / too_low).")

    @model_validator(mode="after")
    def _complete(self) -> FeedbackIn:
        if self.family == "":
            self.family = None
        if self.verdict != "agreed":
            if self.figure is None:
                raise ValueError("a too_high or too_low verdict needs the figure you believe")
            if len(self.reason) < 3:
                raise ValueError("a too_high or too_low verdict needs a reason (a few words)")
        return self


def parse_feedback(data: dict[str, Any]) -> FeedbackIn:
    """Validate submitted feedback; a bad field raises a ConfigError naming it and the fix."""
    try:
        return FeedbackIn.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "feedback"
            parts.append(f"{key}: {err['msg']}")
        raise ConfigError("feedback is not valid: " + "; ".join(parts),
                          hint="verdict is agreed, too_high or too_low; too_high and too_low "
                          "need a figure (0 or more) and a reason") from None


def add_feedback(con: duckdb.DuckDBPyConnection, account_id: str, username: str,
                 fb: FeedbackIn, *, current_potential: float | None = None,
                 now: dt.datetime | None = None) -> int:
    """Store one verdict and return its id.

    ``current_potential`` (the estimate the user saw) lets a contradiction be caught:
    a figure *above* the estimate cannot be *too high*.
    """
    if current_potential is not None and fb.figure is not None and math.isfinite(
            current_potential):
        if fb.verdict == "too_high" and fb.figure >= current_potential:
            raise ConfigError(
                f"the figure {fb.figure:,.0f} is not below the estimate "
                f"{current_potential:,.0f}, so the estimate is not too high",
                hint="give a lower figure, or choose too_low")
        if fb.verdict == "too_low" and fb.figure <= current_potential:
            raise ConfigError(
                f"the figure {fb.figure:,.0f} is not above the estimate "
                f"{current_potential:,.0f}, so the estimate is not too low",
                hint="give a higher figure, or choose too_high")
    when = (now or dt.datetime.now(dt.UTC)).replace(tzinfo=None)
    for _ in range(5):  # a concurrent insert may take the same id: retry with the next one
        try:
            row = con.execute(
                "INSERT INTO gm.feedback SELECT coalesce(max(feedback_id), 0) + 1, ?, ?, ?, ?, "
                "?, ?, ? FROM gm.feedback RETURNING feedback_id",
                [account_id, fb.family, fb.verdict, fb.figure, fb.reason, username, when],
            ).fetchone()
            return int(row[0])
        except duckdb.ConstraintException:
            continue
        except duckdb.TransactionException:
            continue
    raise ConfigError("could not store the feedback: too many at once",
                      hint="submit it again")


def feedback_for(con: duckdb.DuckDBPyConnection, account_id: str) -> pd.DataFrame:
    """Every verdict on one account, newest first."""
    return con.execute(
        f"SELECT {', '.join(FEEDBACK_COLUMNS)} FROM gm.feedback WHERE account_id = ? "
        "ORDER BY created_at DESC, feedback_id DESC", [account_id]).fetch_arrow_table().to_pandas()


def feedback_records(con: duckdb.DuckDBPyConnection, account_id: str) -> list[dict[str, Any]]:
    """Every verdict on one account, newest first, as JSON-able dicts (the card's)."""
    return fetch_records(
        con, f"SELECT {', '.join(FEEDBACK_COLUMNS)} FROM gm.feedback WHERE account_id = ? "
        "ORDER BY created_at DESC, feedback_id DESC", [account_id])


def feedback_table(con: duckdb.DuckDBPyConnection,
                   account_ids: list[str] | None = None) -> pd.DataFrame:
    """Verdicts on ``account_ids`` (all when ``None``), newest first, for exports."""
    if account_ids is None:
        sql, params = "", []
    else:
        sql, params = "WHERE account_id IN (SELECT unnest(?::VARCHAR[]))", [account_ids]
    return con.execute(
        f"SELECT {', '.join(FEEDBACK_COLUMNS)} FROM gm.feedback {sql} "
        "ORDER BY created_at DESC, feedback_id DESC", params).fetch_arrow_table().to_pandas()


def overrides(ws: Any) -> pd.DataFrame:
    """The potential figures people asked for: one row per (account_id, family).

    Takes a :class:`~growthmap.workspace.Workspace` (or a DuckDB connection).  Only the
    latest verdict per account and family counts; it yields a row when it is too_high
    or too_low.  ``family`` is null for a verdict on the account's total potential.
    Columns: account_id, family, figure, verdict, username, created_at.
    """
    con = getattr(ws, "con", ws)
    return con.execute(
        "WITH last AS (SELECT *, row_number() OVER (PARTITION BY account_id, family "
        "ORDER BY created_at DESC, feedback_id DESC) AS rn FROM gm.feedback) "
        "SELECT account_id, family, figure, verdict, username, created_at FROM last "
        "WHERE rn = 1 AND verdict IN ('too_high', 'too_low') AND figure IS NOT NULL "
        "ORDER BY account_id, family NULLS FIRST").fetch_arrow_table().to_pandas()
