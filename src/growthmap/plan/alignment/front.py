"""The trade-off a sales leader chooses from: balance vs disruption vs travel.

One alignment answers one question ("the shortest travel within ±10% that moves at most
150 accounts").  The leader's real question is what each goal costs in the others, so
:func:`alignment_front` solves a grid of balance tolerances × caps on the accounts moved
on the real accounts and keeps the plans no other plan beats on all three: the widest
deviation of any rep from its target, the accounts moved, and the total travel.  It is
the account-level counterpart of :func:`growthmap.plan.alignment.territories.pareto_front` (exact,
for small brick problems such as the published Pfizer case).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from growthmap.config._plan import PlanConfig
from growthmap.errors import InfeasibleError
from growthmap.plan.alignment.accounts import align_accounts
from growthmap.plan.rollups import PlanSource

__all__ = ["DEFAULT_MOVE_SHARES", "DEFAULT_TOLERANCES", "alignment_front"]

DEFAULT_TOLERANCES = (0.05, 0.1, 0.15, 0.2, 0.3)
#: Caps on the accounts moved, as shares of the accounts owned today (None = no cap).
DEFAULT_MOVE_SHARES = (0.02, 0.05, 0.1, None)


def alignment_front(src: PlanSource, config: PlanConfig, *,
                    tolerances: Sequence[float] = DEFAULT_TOLERANCES,
                    move_shares: Sequence[float | None] = DEFAULT_MOVE_SHARES,
                    **options) -> pd.DataFrame:
    """One row per (tolerance, cap) that has a plan: what it costs and whether it is efficient.

    ``options`` go to :func:`growthmap.plan.align_accounts` (role, within, balance, ...).
    Columns: ``tolerance``, ``max_moved`` (the cap, empty = none), ``moved``,
    ``share_potential_moved``, ``max_deviation`` (the largest |deviation| of any rep on
    any balanced measure), ``travel_km`` (visits a year as round trips from the reps'
    bases), ``travel_change`` (vs today),
    ``moved_across_regions``, ``gap`` and ``efficient`` (no other row is at least as good
    on deviation, moves and travel and better on one).  A cap too tight for a tolerance
    has no plan and no row.
    """
    rows = []
    owned = None
    order = sorted(move_shares, key=lambda x: -1.0 if x is None else x)  # no cap first
    for tol in tolerances:
        for share in order:
            cap = None
            if share is not None:
                if owned is None:
                    owned = _owned_accounts(src, config, options)
                cap = int(np.floor(share * owned))
            try:
                out = align_accounts(src, config, tolerance=tol, max_moved=cap,
                                     explain=False, **options)
            except InfeasibleError:
                continue
            if owned is None:
                owned = int(out.reassignment.from_rep.notna().sum())
            s = out.summary
            before = s.get("travel_before_km", np.nan)
            after = s.get("travel_after_km", np.nan)
            rows.append({
                "tolerance": tol, "max_moved": cap, "moved": s["moved"],
                "share_potential_moved": s["share_potential_moved"],
                "max_deviation": max(s["max_deviation_after"].values(), default=np.nan),
                "travel_km": after,
                "travel_change": after / before - 1 if before else np.nan,
                "moved_across_regions": s["moved_across_regions"], "gap": s["gap"]})
    front = pd.DataFrame(rows, columns=[
        "tolerance", "max_moved", "moved", "share_potential_moved", "max_deviation",
        "travel_km", "travel_change", "moved_across_regions", "gap"])
    front["max_moved"] = front.max_moved.astype("Int64")
    front["efficient"] = _efficient(front[["max_deviation", "moved", "travel_km"]]
                                    .to_numpy(dtype=float))
    return front


def _owned_accounts(src: PlanSource, config: PlanConfig, options: dict) -> int:
    """Accounts with an owner in the alignment (what a cap on moves is a share of)."""
    out = align_accounts(src, config, explain=False,
                         **{**options, "tolerance": 1.0, "balance": ["potential"],
                            "objective": "disruption"})
    return int(out.reassignment.from_rep.notna().sum())


def _efficient(points: np.ndarray) -> np.ndarray:
    """True for the rows no other row dominates (lower is better on every column)."""
    keep = np.ones(len(points), dtype=bool)
    for i, p in enumerate(points):
        others = np.delete(points, i, axis=0)
        dominated = (others <= p + 1e-9).all(axis=1) & (others < p - 1e-9).any(axis=1)
        keep[i] = not dominated.any()
    return keep
