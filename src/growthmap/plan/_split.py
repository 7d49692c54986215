"""Splitting a total into bounded parts: the real-valued split and its rounding to cents.

Shared by the quota plan (:mod:`growthmap.plan.quotas`) and the per-family quotas inside
each unit (:mod:`growthmap.plan._family_quotas`), which the quota plan calls: apart from
both, so neither imports the other.
"""

from __future__ import annotations

import numpy as np

from growthmap.errors import InfeasibleError

__all__ = ["largest_remainder", "solve_split"]


def largest_remainder(exact: np.ndarray, total: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Integers near ``exact`` within [lo, hi] that sum to ``total``.

    Every part starts at its floor; the cents still missing go one each to the parts with
    the largest fractional remainders (ties: the earlier part).  The parts never move a
    whole cent away from ``exact`` when ``exact`` itself sums to ``total`` within bounds.
    """
    base = np.clip(np.floor(exact), lo, hi).astype(np.int64)
    frac = exact - base
    rest = int(total - base.sum())
    order = np.lexsort((np.arange(len(exact)), -frac)) if rest > 0 else \
        np.lexsort((np.arange(len(exact)), frac))
    step = 1 if rest > 0 else -1
    while rest != 0:
        moved = False
        for i in order:
            if rest == 0:
                break
            if (step > 0 and base[i] < hi[i]) or (step < 0 and base[i] > lo[i]):
                base[i] += step
                rest -= step
                moved = True
        if not moved:
            raise InfeasibleError("the quota bounds leave no way to reach the target exactly",
                                  hint="loosen the floors or caps")
    return base


def solve_split(weight: np.ndarray, total: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The real-valued split: ``clip(lam * weight, lo, hi)`` summing to ``total``.

    ``lam`` is found exactly at a breakpoint segment of the piecewise-linear sum.  Units
    with no weight sit at their floor unless the weighted units are all capped, in which
    case the rest is shared equally among the unweighted ones.
    """
    weight = np.asarray(weight, dtype=float)
    if weight.max(initial=0.0) > 0:  # scale so the largest weight is 1; drop dust
        weight = weight / weight.max()
        weight = np.where(weight > 1e-12, weight, 0.0)
    lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
    if lo.sum() > total + 1e-6 or hi.sum() < total - 1e-6:
        raise InfeasibleError("floors and caps cannot meet the target")
    pos = weight > 0
    if not pos.any():
        return solve_split(np.ones_like(weight), total, lo, hi)
    base_rest = lo[~pos].sum()
    reach = hi[pos].sum() + base_rest
    if reach < total - 1e-9 * max(1.0, abs(total)) and (~pos).any():
        out = np.where(pos, hi, lo)
        rest = total - hi[pos].sum()
        out[~pos] = solve_split(np.ones(int((~pos).sum())), rest, lo[~pos], hi[~pos])
        return out
    w = weight[pos]
    lp, hp = lo[pos], hi[pos]
    target = total - base_rest

    def f(lam: float) -> float:
        return float(np.clip(lam * w, lp, hp).sum())

    # f is continuous, non-decreasing and linear between these breakpoints
    brk = np.unique(np.concatenate([[0.0], lp / w, (hp / w)[np.isfinite(hp)]]))
    vals = np.array([f(b) for b in brk])
    k = int(np.searchsorted(vals, target, side="right")) - 1
    k = max(k, 0)
    if k + 1 < len(brk):
        rise = vals[k + 1] - vals[k]
        lam = brk[k] + (target - vals[k]) * (brk[k + 1] - brk[k]) / rise if rise > 0 else brk[k]
    else:
        slope = w[~np.isfinite(hp)].sum()
        lam = brk[k] + (target - vals[k]) / slope if slope > 0 else brk[k]
    out = np.array(lo, copy=True)
    out[pos] = np.clip(lam * w, lp, hp)
    return out
