"""How often reps were right about potential, once the next year's purchases are in.

A verdict on an account's total potential is judged against what the account bought in
the twelve months after the snapshot it was given on (the later snapshot's trailing-12-
month value, as of at least a year later):

* a *too low* verdict is **confirmed** when the account then bought more than the
  model's figure — spend is a floor for the wallet, so the model was provably low;
* either verdict is **closer** when the rep's figure lies nearer to that spend than the
  model's figure does.  Spend is only a floor for the wallet, so "closer" favours low
  figures; read it beside "confirmed", never alone.

The figures come from snapshots only (``potential_account.potential_model`` of the
earlier one, ``account_value.value`` of the later one), so nothing after a snapshot's
as-of date is used to judge a verdict given on it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from growthmap.errors import WorkspaceError

__all__ = ["feedback_track_record"]


def feedback_track_record(ws: Any, given: int | str, later: int | str = "latest"
                          ) -> dict[str, Any]:
    """Verdicts on totals given on snapshot ``given``, judged on snapshot ``later``.

    Returns ``{"verdicts", "too_low", "too_low_confirmed", "closer", "rows"}``; ``rows``
    is one row per judged verdict (account, verdict, figure, model, next_year, judgements).
    """
    g, l_ = ws.resolve_snapshot(given), ws.resolve_snapshot(later)
    a0 = pd.Timestamp(ws.snapshot_info(g)["as_of"]).date()
    a1 = pd.Timestamp(ws.snapshot_info(l_)["as_of"]).date()
    if a1 < a0 + dt.timedelta(days=365):
        raise WorkspaceError(
            f"snapshot {l_} (as of {a1}) is less than a year after snapshot {g} (as of {a0})",
            hint="judge verdicts once a snapshot a year later exists")
    cols = ws.con.execute(f"SELECT * FROM snap_{g}.potential_account LIMIT 0").df().columns
    model = "potential_model" if "potential_model" in cols else "potential"
    fb = ws.con.execute(
        "WITH last AS (SELECT *, row_number() OVER (PARTITION BY account_id ORDER BY "
        "created_at DESC, feedback_id DESC) AS rn FROM gm.feedback WHERE family IS NULL "
        "AND created_at >= ? AND created_at <= ?) "
        f"SELECT l.account_id, l.verdict, l.figure, l.username, p.{model} AS model, "
        "v.value AS next_year FROM last l "
        f"JOIN snap_{g}.potential_account p USING (account_id) "
        f"JOIN snap_{l_}.account_value v USING (account_id) "
        "WHERE l.rn = 1 AND l.verdict IN ('too_high', 'too_low') AND l.figure IS NOT NULL",
        [pd.Timestamp(ws.snapshot_info(g)["created_at"]),
         pd.Timestamp(ws.snapshot_info(l_)["created_at"])]).df()
    fb["next_year"] = fb.next_year.fillna(0.0).astype(float)
    fb["confirmed"] = np.where(fb.verdict == "too_low", fb.next_year > fb.model, np.nan)
    fb["closer"] = (fb.figure - fb.next_year).abs() < (fb.model - fb.next_year).abs()
    low = fb[fb.verdict == "too_low"]
    return {
        "verdicts": len(fb), "too_low": len(low),
        "too_low_confirmed": float(low.confirmed.mean()) if len(low) else None,
        "closer": float(fb.closer.mean()) if len(fb) else None,
        "rows": fb,
    }
