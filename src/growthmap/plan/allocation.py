"""Headcount allocation across regions: where does one more rep earn the most?

Each region's expected revenue responds to its headcount with diminishing returns::

    R(h) = W * (1 - exp(-k * h))

``W`` is what the region could give at most — its total potential — and ``k`` how fast
heads turn potential into revenue.  ``k`` is fitted so the curve passes through the
region's situation today (``h`` heads earning the current value): ``k = -ln(1 - C/W)/h``.
A region without heads today takes the pooled ``k`` of :class:`SaturatingResponse`, a
scikit-learn regressor fitted over all regions.

The allocation maximising total expected revenue for a given number of heads is found
exactly by marginal analysis: each head goes where it adds most, which is optimal for a
separable concave objective.  With a budget and different costs per head, the greedy
rule is no longer exact, so the same problem is solved as a small integer programme with
HiGHS.  Either way the result carries the marginal value of one more head per region —
the number that settles the regional budget argument.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp, minimize_scalar
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from growthmap.config._plan import PlanConfig
from growthmap.errors import (
    ConfigError,
    InfeasibleError,
    NotFittedError,
    NotFoundError,
    WorkspaceError,
)
from growthmap.plan.capacity import rep_capacity
from growthmap.plan.rollups import NONE_KEY, PlanSource

__all__ = [
    "Allocation",
    "ResponseCurve",
    "SaturatingCurve",
    "SaturatingResponse",
    "allocate",
    "fit_curves",
    "region_allocation",
]


@runtime_checkable
class ResponseCurve(Protocol):
    """Expected annual revenue of a region as a function of its headcount (concave)."""

    def revenue(self, heads: np.ndarray | float) -> np.ndarray | float: ...


@dataclass(frozen=True)
class SaturatingCurve:
    """R(h) = wallet x (1 - exp(-k h)): saturates at the region's potential."""

    wallet: float
    k: float

    def revenue(self, heads: np.ndarray | float) -> np.ndarray | float:
        return self.wallet * -np.expm1(-self.k * np.asarray(heads, dtype=float))


class SaturatingResponse(RegressorMixin, BaseEstimator):
    """One steepness ``k`` shared by all regions, by least squares.

    ``X``: heads in the first column, then the wallet — one column, or one per product
    family, summed; with heads alone ``y`` is the captured share of wallet.  ``y`` is
    the revenue earned.  ``predict`` returns wallet x (1 - exp(-k_ x heads)); ``k_max``
    bounds the search.
    """

    def __init__(self, k_max: float = 10.0) -> None:
        self.k_max = k_max

    @staticmethod
    def _split(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        wallet = X[:, 1:].sum(axis=1) if X.shape[1] > 1 else np.ones(X.shape[0])
        return X[:, 0], wallet

    def fit(self, X, y) -> SaturatingResponse:
        """Find ``k_`` minimising the squared error of the curve over the regions."""
        X, y = validate_data(self, X, y, y_numeric=True)
        if not self.k_max > 0:
            raise ValueError(f"k_max must be > 0, got {self.k_max}")
        h, w = self._split(X)

        def loss(k: float) -> float:
            return float(np.sum((y - w * -np.expm1(-k * h)) ** 2))

        res = minimize_scalar(loss, bounds=(0.0, float(self.k_max)), method="bounded",
                              options={"xatol": 1e-10})
        self.k_ = float(res.x)
        return self

    def predict(self, X) -> np.ndarray:
        """Expected revenue for each row's heads and wallet."""
        try:
            check_is_fitted(self, "k_")
        except Exception:
            raise NotFittedError("SaturatingResponse is not fitted yet",
                                 hint="call fit(X, y) before predict") from None
        X = validate_data(self, X, reset=False)
        h, w = self._split(X)
        return w * -np.expm1(-self.k_ * h)


def fit_curves(regions: pd.DataFrame, *, max_capture: float = 0.95) -> pd.DataFrame:
    """Fit W and k per region from columns key, heads_today, current, potential.

    W = max(potential, current / max_capture); k passes the curve through today's
    (heads, current).  Regions without heads or revenue take the pooled k.
    """
    df = regions.reset_index(drop=True).copy()
    cur = df.current.astype(float).fillna(0).clip(lower=0)
    pot = df.potential.astype(float).fillna(0).clip(lower=0)
    df["wallet"] = np.maximum(pot, cur / max_capture)
    h = df.heads_today.astype(float)
    own = (h > 0) & (cur > 0) & (df.wallet > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        k_own = -np.log1p(-(cur / df.wallet).clip(upper=max_capture)) / h
    if own.any():
        pooled = SaturatingResponse().fit(np.c_[h[own], df.wallet[own]], cur[own]).k_
    else:
        pooled = 0.2
    df["k"] = np.where(own, k_own, pooled)
    df["fitted_by"] = np.where(own, "own region", "pooled")
    return df


@dataclass
class Allocation:
    """The optimal heads per region, with expected revenue and marginal values."""

    regions: pd.DataFrame  # key, heads_today, heads, change, revenue_today, revenue, ...
    total_heads: int
    expected_revenue: float
    method: str


def _greedy(curves: Sequence[ResponseCurve], total: int, lo: np.ndarray,
            hi: np.ndarray) -> np.ndarray:
    """Marginal analysis: start at the minimums and give each next head to the best gain."""
    h = lo.copy()
    left = total - int(h.sum())
    heap = [(-(float(c.revenue(h[i] + 1)) - float(c.revenue(h[i]))), i)
            for i, c in enumerate(curves) if h[i] < hi[i]]
    heapq.heapify(heap)
    while left > 0 and heap:
        _, i = heapq.heappop(heap)
        h[i] += 1
        left -= 1
        if h[i] < hi[i]:
            c = curves[i]
            heapq.heappush(heap, (-(float(c.revenue(h[i] + 1)) - float(c.revenue(h[i]))), i))
    return h


def _milp(curves: Sequence[ResponseCurve], cost: np.ndarray, budget: float, lo: np.ndarray,
          hi: np.ndarray, total: int | None) -> np.ndarray:
    """Exact integer programme over unit increments: each increment is a 0/1 variable.

    Gains fall within a region (concavity), so an optimal solution always takes a
    region's increments in order and ``heads = lo + number of increments taken``.
    """
    idx, gains, costs = [], [], []
    for i, c in enumerate(curves):
        for step in range(int(lo[i]), int(hi[i])):
            idx.append(i)
            gains.append(float(c.revenue(step + 1)) - float(c.revenue(step)))
            costs.append(cost[i])
    if not idx:
        return lo.copy()
    gains_a, costs_a = np.array(gains), np.array(costs)
    rows, lbs, ubs = [costs_a], [-np.inf], [budget - float(cost @ lo)]
    if total is not None:
        rows.append(np.ones(len(idx)))
        lbs.append(-np.inf)
        ubs.append(total - float(lo.sum()))
    res = milp(-gains_a, integrality=np.ones(len(idx)), bounds=Bounds(0, 1),
               constraints=LinearConstraint(np.vstack(rows), lbs, ubs),
               options={"disp": False, "mip_rel_gap": 0.0})
    if res.x is None:
        raise InfeasibleError("no allocation fits the budget", hint="raise the budget")
    take = np.round(res.x).astype(int)
    return lo + np.bincount(np.array(idx), weights=take, minlength=len(curves)).astype(int)


def allocate(curves: Sequence[ResponseCurve], keys: Sequence[str], *, heads: int | None = None,
             budget: float | None = None, cost: Sequence[float] | None = None,
             min_heads: Sequence[int] | int = 0, max_heads: Sequence[int] | int | None = None,
             heads_today: Sequence[float] | None = None,
             max_change: int | None = None) -> Allocation:
    """Heads per region maximising total expected revenue, for a headcount or a budget.

    With ``heads`` every head is placed (greedy, exact).  With ``budget`` and ``cost``
    per head, the spend stays within the budget (greedy when costs are equal, else an
    exact integer programme).  ``min_heads`` / ``max_heads`` bound each region, and
    ``max_change`` keeps each within that many heads of ``heads_today``.
    """
    n = len(curves)
    today = np.zeros(n) if heads_today is None else np.asarray(heads_today, dtype=float)
    if (heads is None) == (budget is None):
        raise ConfigError("give exactly one of a headcount or a budget",
                          hint="e.g. --heads 25 or --budget 3000000")
    lo = np.broadcast_to(np.asarray(min_heads, dtype=np.int64), n).copy()
    costs = np.ones(n) if cost is None else np.asarray(cost, dtype=float)
    if budget is not None:
        if (costs <= 0).any():
            raise ConfigError("every region needs a positive cost per head for a budget",
                              hint="set reps.loaded_cost or plan.loaded_cost")
        cap = int(np.floor(budget / costs.min())) + 1
    else:
        if heads < 0:
            raise ConfigError(f"headcount must be >= 0, got {heads}", hint="e.g. --heads 25")
        cap = int(heads)
    hi = (np.full(n, cap, dtype=np.int64) if max_heads is None
          else np.broadcast_to(np.asarray(max_heads, dtype=np.int64), n).copy())
    if max_change is not None:
        lo = np.maximum(lo, np.ceil(today - max_change).astype(np.int64))
        hi = np.minimum(hi, np.floor(today + max_change).astype(np.int64))
    hi = np.maximum(hi, lo)
    if heads is not None:
        if lo.sum() > heads:
            raise InfeasibleError(f"the regional minimums need {int(lo.sum())} heads, more "
                                  f"than the {heads} available",
                                  hint="lower plan.allocation_min_heads or add heads")
        if hi.sum() < heads:
            raise InfeasibleError(
                f"the regional maximums place at most {int(hi.sum())} of {heads} heads",
                hint="raise plan.allocation_max_change (or pass --max-change) or the maximums")
        h, method = _greedy(curves, int(heads), lo, hi), "marginal analysis (exact)"
    else:
        if float(costs @ lo) > budget:
            raise InfeasibleError("the regional minimums cost more than the budget",
                                  hint="raise the budget or lower plan.allocation_min_heads")
        if np.allclose(costs, costs[0]):
            total = int(np.floor(budget / costs[0] + 1e-9))
            h = _greedy(curves, min(total, int(hi.sum())), lo, hi)
            method = "marginal analysis (exact)"
        else:
            h, method = _milp(curves, costs, float(budget), lo, hi, None), "HiGHS MILP (exact)"
    rev = np.array([float(c.revenue(x)) for c, x in zip(curves, h, strict=True)])
    df = pd.DataFrame({
        "key": list(keys), "heads_today": today, "heads": h, "change": h - today,
        "revenue_today": [float(c.revenue(x)) for c, x in zip(curves, today, strict=True)],
        "revenue": rev,
        "marginal_next": [float(c.revenue(x + 1)) - r for c, x, r in zip(curves, h, rev,
                                                                              strict=True)],
        "marginal_last": [r - float(c.revenue(x - 1)) if x > 0 else np.nan
                          for c, x, r in zip(curves, h, rev, strict=True)],
        "marginal_today": [float(c.revenue(x + 1)) - float(c.revenue(x))
                           for c, x in zip(curves, today, strict=True)],
        "cost_per_head": costs,
    })
    df["marginal_next_per_cost"] = df.marginal_next / df.cost_per_head
    return Allocation(regions=df, total_heads=int(h.sum()), expected_revenue=float(rev.sum()),
                      method=method)


def region_allocation(src: PlanSource, config: PlanConfig, *, heads: int | None = None,
                      budget: float | None = None, by: str = "region",
                      max_change: int | str | None = "config",
                      role: str | None = None) -> Allocation:
    """Fit each region's response curve from the plan frame and allocate heads.

    With neither ``heads`` nor ``budget``, today's total headcount is reallocated.
    ``max_change`` defaults to ``plan.allocation_max_change``; ``None`` lifts it.
    ``role`` allocates one coverage role's heads on the accounts its care model serves
    (a field rep's curve is not a key account manager's).  A region cut by more than
    ``plan.allocation_warn_cut`` of its heads gets a note with the revenue at stake.
    """
    if max_change == "config":
        max_change = config.allocation_max_change
    frame = src.frame()
    if frame.potential.isna().all():
        raise WorkspaceError("headcount allocation needs each region's potential",
                             hint="run `growthmap run` with the potential stage")
    reps = rep_capacity(src, config, "region" if by == "region" else "territory")
    if role is not None:
        roles = reps.role.astype("string").replace(config.role_aliases)
        if not (roles == role).any():
            raise NotFoundError(f"no selling reps have the role {role!r}",
                                hint="use one of: " + ", ".join(sorted(set(roles.dropna()))))
        reps = reps[(roles == role).to_numpy()]
        wanted = frame.coverage_role.astype("string").replace(config.role_aliases)
        frame = frame[(wanted == role).fillna(False).to_numpy()]
    col = "region" if by == "region" else "territory_id"
    g = frame.assign(key=frame[col].astype("string").fillna(NONE_KEY)).groupby("key").agg(
        current=("current", "sum"), potential=("potential", "sum"))
    per = reps.groupby("group").agg(heads_today=("rep_id", "count"),
                                    cost_per_head=("loaded_cost", "mean"))
    g = g.join(per).fillna({"heads_today": 0, "cost_per_head": config.loaded_cost})
    g = g.reset_index()
    curves_df = fit_curves(g, max_capture=config.allocation_max_capture)
    curves = [SaturatingCurve(w, k) for w, k in zip(curves_df.wallet, curves_df.k, strict=True)]
    if heads is None and budget is None:
        heads = int(curves_df.heads_today.sum())
    out = allocate(curves, curves_df.key.tolist(), heads=heads, budget=budget,
                   cost=curves_df.cost_per_head.to_numpy(float),
                   min_heads=config.allocation_min_heads,
                   heads_today=curves_df.heads_today.to_numpy(float), max_change=max_change)
    out.regions = out.regions.merge(
        curves_df[["key", "current", "potential", "wallet", "k", "fitted_by"]], on="key")
    _warn_cuts(src, out.regions, config.allocation_warn_cut, role)
    return out


def role_allocations(src: PlanSource, config: PlanConfig, *, by: str = "region",
                     max_change: int | str | None = "config") -> dict[str, Allocation]:
    """Today's heads of every selling role reallocated over regions, one role at a time."""
    reps = rep_capacity(src, config, "region" if by == "region" else "territory")
    roles = sorted(set(reps.role.astype("string").replace(config.role_aliases).dropna()))
    if not roles:
        return {"all": region_allocation(src, config, by=by, max_change=max_change)}
    return {r: region_allocation(src, config, by=by, max_change=max_change, role=r)
            for r in roles}


def _warn_cuts(src: PlanSource, regions: pd.DataFrame, share: float, role: str | None) -> None:
    """A note per region whose heads fall by more than ``share``: the revenue at stake."""
    today = regions.heads_today.astype(float)
    cut = (today > 0) & (regions.heads.astype(float) < today * (1 - share) - 1e-9)
    who = f"{role} " if role else ""
    for r in regions[cut.to_numpy()].itertuples(index=False):
        src.note(f"plan: the allocation cuts {r.key} from {int(r.heads_today)} to {int(r.heads)} "
                 f"{who}heads ({r.heads / r.heads_today - 1:+.0%}); expected revenue there "
                 f"{r.revenue_today:,.0f} → {r.revenue:,.0f} ({r.revenue - r.revenue_today:+,.0f} "
                 "at stake)")
