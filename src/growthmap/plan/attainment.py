"""Quota attainment: the one definition every face uses.

A quota covers a period: it starts the day after the quota plan's as-of date and runs
``period_months`` months (see :func:`growthmap.plan.quotas.save_quotas`).  Attainment
is the revenue booked in that period so far (transactions dated after the start, up to
the snapshot's as-of date and no later than the period's end) divided by the quota;
``pace`` divides it by the share of the period gone, so 1.0 is exactly on track.

The trailing-12-month value of a book is *not* attainment: it mixes last year's
revenue into this year's target.  The scorecard, the Reps page and its chart, the HTML
report and the Excel workbook all call :func:`measure`, so they show one figure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta

__all__ = ["QuotaPeriod", "attainment", "measure", "period_actuals"]


@dataclass(frozen=True)
class QuotaPeriod:
    """The quota period and how much of it lies before ``as_of``."""

    start: dt.date  # exclusive: the quota plan's as-of date
    end: dt.date  # inclusive
    upto: dt.date  # min(as_of, end)

    @classmethod
    def of(cls, quota_as_of: dt.date | pd.Timestamp, months: int, as_of: dt.date
           ) -> QuotaPeriod:
        start = pd.Timestamp(quota_as_of).date()
        end = start + relativedelta(months=int(months))
        return cls(start, end, min(as_of, end))

    @property
    def elapsed(self) -> float:
        """Share of the period gone by ``upto`` (0 before it starts)."""
        return max((self.upto - self.start).days, 0) / max((self.end - self.start).days, 1)

    @property
    def started(self) -> bool:
        return self.upto > self.start


def attainment(actual: np.ndarray | pd.Series | float,
               quota: np.ndarray | pd.Series | float) -> np.ndarray:
    """actual / quota where the quota is positive, NaN elsewhere."""
    a = np.asarray(actual, dtype=float)
    q = np.asarray(quota, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(q > 0, a / np.where(q > 0, q, 1.0), np.nan)


def period_actuals(con, period: QuotaPeriod) -> pd.DataFrame:
    """``account_id, actual``: revenue booked per account in the period so far."""
    if not period.started:
        return pd.DataFrame({"account_id": pd.Series(dtype=str), "actual": pd.Series(dtype=float)})
    return con.execute(
        "SELECT account_id::VARCHAR AS account_id, sum(amount) AS actual FROM main.transactions "
        "WHERE date > ? AND date <= ? GROUP BY 1", [period.start, period.upto]).df()


def measure(con, quota: pd.Series, owner: pd.Series, period: QuotaPeriod) -> pd.DataFrame:
    """Per key of ``quota`` (rep or territory): quota, actual, attainment, pace.

    ``owner`` maps account_id -> key (the rep or territory credited with its revenue);
    accounts outside it are not credited to anyone.
    """
    tx = period_actuals(con, period)
    tx["key"] = tx.account_id.map(owner)
    actual = tx.dropna(subset=["key"]).groupby("key").actual.sum()
    out = pd.DataFrame({"key": quota.index.astype(str), "quota": quota.to_numpy(dtype=float)})
    out["actual"] = out.key.map(actual).fillna(0.0).to_numpy()
    out["attainment"] = attainment(out.actual, out.quota)
    out["period_elapsed"] = period.elapsed
    out["pace"] = out.attainment / period.elapsed if period.elapsed > 0 else np.nan
    if not period.started:
        out[["actual", "attainment", "pace"]] = np.nan
    return out
