"""Per-family quotas inside each unit's total: the same caps and floors as the totals.

Splitting the target over families first and then each family over the units lets the
families undo the totals' caps: a rep capped at +50% overall could get +179% across
families.  So the units' totals come first (:func:`growthmap.plan.quotas.plan_quotas`,
floors and caps applied), and each total is then shared over the unit's families:

1. a seed per (unit, family): the family's company quota × the unit's share of that
   family (history and whitespace mixed as for the totals);
2. iterative proportional fitting moves the seeds toward both margins — every unit's
   total and every family's company quota;
3. per unit, the family parts become ``clip(lam × seed, floor, cap)`` summing to the
   unit's total, with floor and cap from the family's own history and the same ratios
   as the totals (a family the unit never bought has no cap: cross-sell is allowed);
4. integer cents by largest remainder, so each unit's parts add up to its total exactly.

Units' totals are exact to the cent and within their bounds; a family's sum can differ
from its company quota when caps stop the fitting, and ``family_quota`` reports the sum.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from growthmap.errors import InfeasibleError
from growthmap.plan._split import largest_remainder, solve_split

__all__ = ["split_within_units"]

FIT_ROUNDS = 200


def split_within_units(cells: pd.DataFrame, totals: pd.DataFrame, families: pd.DataFrame,
                       *, history_weight: float, floor_ratio: float | pd.Series,
                       cap_ratio: float | None) -> pd.DataFrame:
    """Family quotas per unit.

    ``cells``: ``key, family, history, whitespace`` per (unit, family); ``totals``: the
    units' quotas (``key, quota_cents``); ``families``: the company quota per family
    (``key, quota``).  Returns one row per (unit, family) with ``quota_cents``,
    ``quota``, ``floor``, ``cap``, ``uplift_pct`` and ``family_target``.
    ``floor_ratio`` is one ratio or one per unit key (a Series), as the totals used.
    """
    units = totals.key.astype(str).tolist()
    fams = families.key.astype(str).tolist()
    grid = pd.MultiIndex.from_product([units, fams], names=["key", "family"])
    c = cells.groupby(["key", "family"])[["history", "whitespace"]].sum().reindex(grid,
                                                                                 fill_value=0.0)
    hist = c.history.clip(lower=0).to_numpy().reshape(len(units), len(fams))
    ws = c.whitespace.clip(lower=0).to_numpy().reshape(len(units), len(fams))
    fam_q = families.set_index(families.key.astype(str)).quota.reindex(fams).to_numpy(float)
    unit_c = totals.set_index(totals.key.astype(str)).quota_cents.reindex(units).to_numpy(
        np.int64)
    unit_q = unit_c / 100
    seed = fam_q[None, :] * _share(hist, ws, history_weight)
    fitted = _fit(seed, unit_q, fam_q)
    if isinstance(floor_ratio, pd.Series):
        floor_ratio = floor_ratio.reindex(units).to_numpy(float)[:, None]
    lo = hist * floor_ratio
    hi = np.where(hist > 0, hist * cap_ratio, np.inf) if cap_ratio is not None else \
        np.full_like(hist, np.inf)
    rows = []
    for i, unit in enumerate(units):
        total_c = int(unit_c[i])
        w = fitted[i] if fitted[i].sum() > 0 else np.where(hist[i] + ws[i] > 0, 1.0, 0.0)
        if w.sum() == 0:
            w = np.ones(len(fams))
        try:
            exact = solve_split(w, unit_q[i], lo[i], hi[i])
            # bounds in whole cents, widened to the cent so that rounding stays feasible
            lo_c = np.floor(lo[i] * 100 + 1e-6)
            hi_c = np.where(np.isfinite(hi[i]), np.ceil(np.where(np.isfinite(hi[i]), hi[i],
                                                                 0) * 100 - 1e-6), 2**60)
            cents = largest_remainder(exact * 100, total_c, lo_c.astype(np.int64),
                                      hi_c.astype(np.int64))
        except InfeasibleError:  # the unit's own floor/cap lie outside its families' bounds
            exact = unit_q[i] * w / w.sum()
            cents = largest_remainder(exact * 100, total_c, np.zeros(len(fams), np.int64),
                                      np.full(len(fams), 2**60, np.int64))
        rows.append(pd.DataFrame({
            "key": unit, "family": fams, "history": hist[i], "whitespace": ws[i],
            "quota_cents": cents, "floor": lo[i], "cap": np.where(np.isfinite(hi[i]), hi[i],
                                                                  np.nan)}))
    out = pd.concat(rows, ignore_index=True)
    out["quota"] = out.quota_cents / 100
    out["uplift"] = out.quota - out.history
    out["uplift_pct"] = np.where(out.history > 0, out.quota / out.history.where(
        out.history > 0, 1.0) - 1, np.nan)
    out["family_target"] = out.family.map(dict(zip(fams, fam_q, strict=True)))
    out["family_quota"] = out.groupby("family").quota.transform("sum")
    keep = (out.quota_cents != 0) | (out.history > 0) | (out.whitespace > 0)
    return out[keep].reset_index(drop=True)


def _share(hist: np.ndarray, ws: np.ndarray, history_weight: float) -> np.ndarray:
    """Each unit's share of each family: history and whitespace mixed per family."""
    h_tot, w_tot = hist.sum(axis=0), ws.sum(axis=0)
    h = np.divide(hist, h_tot, out=np.zeros_like(hist), where=h_tot > 0)
    w = np.divide(ws, w_tot, out=np.zeros_like(ws), where=w_tot > 0)
    a = np.where(w_tot > 0, history_weight, 1.0)
    a = np.where(h_tot > 0, a, 0.0)
    return a * h + (1 - a) * w


def _fit(seed: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Iterative proportional fitting toward row and column sums (rows last)."""
    m = seed.copy()
    for _ in range(FIT_ROUNDS):
        cs = m.sum(axis=0)
        m *= np.divide(cols, cs, out=np.ones_like(cols), where=cs > 0)[None, :]
        rs = m.sum(axis=1)
        m *= np.divide(rows, rs, out=np.ones_like(rows), where=rs > 0)[:, None]
        cs = m.sum(axis=0)
        if np.allclose(cs, cols, rtol=1e-9, atol=1e-6):
            break
    return m
