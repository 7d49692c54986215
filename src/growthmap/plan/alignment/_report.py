"""What a sales leader reads of an alignment: who moves, every rep's book, travel.

Per account: from and to rep, moved or not, potential, workload and the km from the
rep's base before and after.  Per rep: accounts, potential and workload before and
after, their deviation from the rep's target, accounts and potential moved in and out,
travel before and after.  The summary adds the totals, the accounts that change
region (none under the default rules) and the optimality gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from growthmap.plan.alignment import _milp as milp
from growthmap.plan.alignment._groups import Groups
from growthmap.plan.alignment.territories import AlignmentProblem, AlignmentResult, Objective

__all__ = ["AccountAlignment", "alignment_report"]


@dataclass
class AccountAlignment:
    """A proposed alignment of accounts to reps and the evidence to judge it."""

    reassignment: pd.DataFrame
    reps: pd.DataFrame
    result: AlignmentResult
    summary: dict = field(default_factory=dict)


def alignment_report(units: pd.DataFrame, rep_table: pd.DataFrame, problem: AlignmentProblem,
                     res: AlignmentResult, owner: pd.Series, measures: dict,
                     balance: list[str], tolerance: float, objective: str,
                     owned_pot: float, groups: Groups | None,
                     rep_region: pd.Series) -> AccountAlignment:
    """The reassignment table, the per-rep table and the summary of ``res``."""
    to_rep = res.assignment.to_numpy().astype(str)
    before = owner.astype(object).where(owner.notna(), None).to_numpy()
    moved = np.array([b is not None and b != t for b, t in zip(before, to_rep, strict=True)],
                     dtype=bool)
    locked = units.account_id.astype(str).isin(set(problem.locked or {}))
    re = pd.DataFrame({
        "account_id": units.account_id.astype(str), "name": units["name"],
        "region": units.region.astype("string"),
        "from_rep": owner, "to_rep": to_rep, "moved": moved, "locked": locked.to_numpy(),
        "potential": measures["potential"], "current": units.current.astype(float),
        "workload_hours": measures["workload"] if measures["workload"] is not None else np.nan,
        "lat": units.lat.astype(float), "lon": units.lon.astype(float),
    })
    re["to_rep_region"] = re.to_rep.map(rep_region).astype("string")
    re["changes_region"] = (re.moved & re.region.notna() & re.to_rep_region.notna()
                            & (re.region != re.to_rep_region)).fillna(False).astype(bool)
    if problem.has_distance:
        idx = pd.Index(problem.rep_ids)
        after_i = idx.get_indexer(to_rep)
        re["distance_after_km"] = _pair_km(problem, after_i)
        bi = idx.get_indexer(pd.Series(before, dtype=object).fillna("").astype(str))
        km = _pair_km(problem, np.where(bi >= 0, bi, 0))
        re["distance_before_km"] = np.where(bi >= 0, km, np.nan)
        visits = problem.visits if problem.visits is not None else np.ones(len(re))
        re["visits_per_year"] = visits
        re["travel_before_km"] = 2 * visits * re.distance_before_km
        re["travel_after_km"] = 2 * visits * re.distance_after_km
    reps = _rep_rows(re, problem, res, measures, rep_table, groups)
    moved_pot = float(re.loc[re.moved, "potential"].sum())
    dev_after = {m: float(reps[f"{m}_dev_after"].abs().max()) for m in balance
                 if f"{m}_dev_after" in reps}
    dev_before = {m: float(reps[f"{m}_dev_before"].abs().max()) for m in balance
                  if f"{m}_dev_before" in reps}
    summary = {
        "accounts": len(re), "reps": len(problem.rep_ids), "objective": objective,
        "balance": balance, "within": [] if groups is None else groups.keys,
        "tolerance": tolerance, "status": res.status, "method": res.method,
        "gap": res.gap, "objective_value": res.objective, "best_bound": res.best_bound,
        "solve_seconds": res.solve_time, "moved": int(re.moved.sum()),
        "moved_across_regions": int(re.changes_region.sum()),
        "potential_moved": moved_pot,
        "share_potential_moved": moved_pot / owned_pot if owned_pot > 0 else 0.0,
        "within_bounds": res.within_bounds, "max_deviation_before": dev_before,
        "max_deviation_after": dev_after,
    }
    if "distance_after_km" in re:
        summary["distance_before_km"] = float(np.nansum(re.distance_before_km))
        summary["distance_after_km"] = float(re.distance_after_km.sum())
        owned = re.from_rep.notna()
        summary["distance_owned_after_km"] = float(re.distance_after_km[owned].sum())
        summary["travel_before_km"] = float(np.nansum(re.travel_before_km))
        summary["travel_after_km"] = float(re.travel_after_km.sum())
        if "travel_suggested_km" in reps:
            summary["travel_if_bases_moved_km"] = float(reps.travel_suggested_km.sum())
    return AccountAlignment(reassignment=re, reps=reps, result=res, summary=summary)


def _rep_rows(re: pd.DataFrame, problem: AlignmentProblem, res: AlignmentResult,
              measures: dict, rep_table: pd.DataFrame, groups: Groups | None) -> pd.DataFrame:
    totals = res.rep_totals
    rows = []
    for rep in problem.rep_ids:
        b, a = re.from_rep == rep, re.to_rep == rep
        row = {"rep_id": rep, "accounts_before": int(b.sum()), "accounts_after": int(a.sum()),
               "moved_out": int((b & re.moved).sum()), "moved_in": int((a & re.moved).sum()),
               "potential_moved_out": float(re.potential[b & re.moved].sum()),
               "potential_moved_in": float(re.potential[a & re.moved].sum())}
        for m, col in (("potential", "potential"), ("workload", "workload_hours"),
                       ("count", None)):
            if m != "count" and measures.get(m) is None:
                continue
            target = float(totals.loc[rep, f"{m}_target"])
            if col is not None:
                row[f"{m}_before"] = float(re.loc[b, col].sum())
                row[f"{m}_after"] = float(re.loc[a, col].sum())
                row[f"{m}_target"] = target
            vb = row[f"{m}_before"] if col else row["accounts_before"]
            va = row[f"{m}_after"] if col else row["accounts_after"]
            row[f"{m}_dev_before"] = vb / target - 1 if target else np.nan
            row[f"{m}_dev_after"] = va / target - 1 if target else np.nan
        if "distance_after_km" in re:
            row["distance_before_km"] = float(re.loc[b, "distance_before_km"].sum())
            row["distance_after_km"] = float(re.loc[a, "distance_after_km"].sum())
            row["travel_before_km"] = float(re.loc[b, "travel_before_km"].sum())
            row["travel_after_km"] = float(re.loc[a, "travel_after_km"].sum())
        rows.append(row)
    reps = pd.DataFrame(rows)
    reps["within_bounds"] = totals["within_bounds"].to_numpy()
    if problem.rep_xy is not None and problem.metric == "haversine":
        reps["base_lat"], reps["base_lon"] = problem.rep_xy[:, 0], problem.rep_xy[:, 1]
        # the book each rep would have if every account went to its nearest allowed rep:
        # far below target, the rep's base is away from the accounts; far above, its
        # base is where many accounts are and one rep is not enough there
        near = np.bincount(_nearest(problem), problem.potential, minlength=problem.n_reps)
        target = totals["potential_target"].to_numpy(float)
        reps["nearest_potential"] = near
        reps["nearest_dev"] = np.divide(near, target, out=np.full(len(near), np.nan),
                                        where=target > 0) - 1
        best = [_best_base(re[re.to_rep == rep], problem) for rep in problem.rep_ids]
        reps["base_suggested_lat"] = [b[0] for b in best]
        reps["base_suggested_lon"] = [b[1] for b in best]
        reps["travel_suggested_km"] = [b[2] for b in best]
    if "name" in rep_table:
        reps.insert(1, "name", rep_table.set_index("rep_id").reindex(reps.rep_id)["name"]
                    .to_numpy())
    if groups is not None:
        reps.insert(2 if "name" in reps else 1, "group", groups.rep_label.to_numpy())
    return reps


def _pair_km(problem: AlignmentProblem, rep_index: np.ndarray) -> np.ndarray:
    """Distance of every unit to the rep at ``rep_index`` (km)."""
    out = np.empty(problem.n_units)
    for r in np.unique(rep_index):
        mask = rep_index == r
        out[mask] = problem.distance_block(np.flatnonzero(mask), np.array([r]))[0]
    return out


#: Candidate bases tried per rep when suggesting where a base would serve its book best.
BASE_CANDIDATES = 400


def _best_base(book: pd.DataFrame, problem: AlignmentProblem) -> tuple[float, float, float]:
    """(lat, lon, yearly km) of the visited account of ``book`` from which the book's
    visits are the shortest: where a rep's base would best serve its proposed accounts.

    A real account's place, not a point in the sea; up to ``BASE_CANDIDATES`` of the
    most visited accounts are tried.
    """
    seen = book[(book.visits_per_year > 0) & book.lat.notna() & book.lon.notna()]
    if seen.empty:
        return np.nan, np.nan, float(book.travel_after_km.sum())
    cand = seen.nlargest(BASE_CANDIDATES, "visits_per_year", keep="first")
    xy, cxy = seen[["lat", "lon"]].to_numpy(), cand[["lat", "lon"]].to_numpy()
    km = milp.metric_block(cxy, xy, problem.metric) @ (2 * seen.visits_per_year.to_numpy())
    i = int(np.argmin(km))
    # accounts without a place travel as before (they sit at the old base)
    rest = float(book.travel_after_km[~book.index.isin(seen.index)].sum())
    return float(cxy[i, 0]), float(cxy[i, 1]), float(km[i]) + rest


def _nearest(problem: AlignmentProblem, chunk: int = 20_000) -> np.ndarray:
    """Each unit's nearest rep among those the rules allow (its lock wins)."""
    out = np.empty(problem.n_units, dtype=np.int64)
    plain = Objective(distance=1.0)
    for start in range(0, problem.n_units, chunk):
        units = np.arange(start, min(start + chunk, problem.n_units))
        out[units] = np.argmin(problem.cost_block(units, plain), axis=0)
    return out
