"""Territory alignment for accounts: the planning frame in, a reassignment table out.

:mod:`growthmap.plan.alignment.territories` solves the alignment on arrays.  This module turns
accounts and reps into that problem and the answer back into what a sales leader reads:

* which accounts change rep (from, to, their potential and workload);
* every rep's book before and after: accounts, potential, workload hours, distance, and
  the deviation from the average rep;
* the optimality gap: how far the plan can be from the best possible one.

Per account: potential (the wallet; current value when there is no potential output),
workload (care-model hours from the segments output) and a count of one.  Each rep is
kept within ``±tolerance`` of the average on every balanced measure.  Distances are
great-circle km from the rep's base (``reps.base_lat/base_lon``, else the centre of the
accounts the rep owns today).  The reps aligned are those who own accounts today (a
manager without a book gets none), unless a list is given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from growthmap.config._plan import ALIGN_WITHIN, PlanConfig
from growthmap.errors import ConfigError, InfeasibleError, NotFoundError, WorkspaceError
from growthmap.plan.alignment._groups import alignment_groups, group_targets
from growthmap.plan.alignment._report import AccountAlignment, alignment_report
from growthmap.plan.alignment.territories import (
    AlignmentProblem,
    Balance,
    Objective,
    align_territories,
)
from growthmap.plan.rollups import PlanSource

__all__ = ["MILP_MAX_PAIRS", "AccountAlignment", "align_accounts", "parse_locks"]

#: Trips a year an account served remotely weighs in the solve (not in the travel
#: reported): small enough to cost little travel, enough to prefer the nearer rep.
REMOTE_TRIPS = 0.1

#: Above this many (account, rep) pairs ``method="auto"`` goes straight to the heuristic:
#: the exact MILP rarely finds a first plan for bigger problems within a minute.
MILP_MAX_PAIRS = 50_000


def parse_locks(items: Sequence[str]) -> dict[str, str]:
    """``["A001=R01", ...]`` -> ``{"A001": "R01"}``; a clear error for a malformed item."""
    out = {}
    for item in items:
        acc, sep, rep = item.partition("=")
        if not sep or not acc.strip() or not rep.strip():
            raise ConfigError(f"lock {item!r} is not ACCOUNT=REP",
                              hint="write e.g. --lock A0042=R07")
        out[acc.strip()] = rep.strip()
    return out


def _reps(src: PlanSource, units: pd.DataFrame, chosen: Sequence[str] | None) -> pd.DataFrame:
    table = src.input_frame("reps")
    owners = set(units.owner_rep_id.dropna().astype(str))
    if table is None:
        src.note("plan: no reps table, so the reps aligned are today's account owners and "
                 "their bases are the centres of their accounts")
        table = pd.DataFrame({"rep_id": sorted(owners)})
    table = table.assign(rep_id=table.rep_id.astype(str))
    if chosen is not None:
        unknown = sorted(set(chosen) - set(table.rep_id))
        if unknown:
            raise NotFoundError(f"unknown rep(s) {', '.join(unknown[:5])}",
                                hint="use rep ids from the reps table")
        reps = table[table.rep_id.isin(list(chosen))]
    else:
        reps = table[table.rep_id.isin(owners)]
        if reps.empty:
            reps = table
    if reps.empty:
        raise WorkspaceError("no reps to align accounts to",
                             hint="load the reps table or set owner_rep_id on accounts")
    return reps.sort_values("rep_id").reset_index(drop=True)


def _role_reps(src: PlanSource, role: str) -> list[str]:
    table = src.input_frame("reps")
    if table is None or "role" not in table:
        raise ConfigError(f"aligning the {role!r} role needs a reps table with a role column",
                          hint="load reps with a role column, or leave --role out")
    roles = table.role.dropna().astype(str)
    ids = table.rep_id[roles.reindex(table.index) == role].astype(str).tolist()
    if not ids:
        raise NotFoundError(f"no reps have the role {role!r}",
                            hint=f"use one of: {', '.join(sorted(set(roles)))}")
    return sorted(ids)


def _coordinates(src: PlanSource, units: pd.DataFrame,
                 reps: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray | None]:
    if units.lat.isna().all() or units.lon.isna().all():
        return None, None
    xy = units[["lat", "lon"]].astype(float)
    missing = xy.isna().any(axis=1)
    centre = xy.assign(rep=units.owner_rep_id.astype("string")).groupby("rep")[["lat", "lon"]]
    centre = centre.mean()
    base = pd.DataFrame({"lat": np.nan, "lon": np.nan}, index=reps.rep_id)
    if {"base_lat", "base_lon"} <= set(reps.columns):
        base["lat"] = reps.base_lat.astype(float).to_numpy()
        base["lon"] = reps.base_lon.astype(float).to_numpy()
    gap = base.lat.isna() | base.lon.isna()
    if gap.any():
        src.note(f"plan: {int(gap.sum())} reps have no base_lat/base_lon; their base is the "
                 "centre of the accounts they own today")
        base.loc[gap, ["lat", "lon"]] = centre.reindex(base.index[gap]).to_numpy()
        base = base.fillna(xy.mean())
    if missing.any():
        # an account without a location is somewhere in its owner's patch, else in its
        # region: placing it mid-ocean would add the same thousands of km to every plan
        src.note(f"plan: {int(missing.sum())} accounts have no lat/lon; they are placed at "
                 "their rep's base (else the centre of their region) for distances")
        at_owner = base.reindex(units.owner_rep_id.astype("string")).set_axis(units.index)
        region = xy.groupby(units.region.astype("string")).transform("mean")
        xy = xy.fillna(at_owner).fillna(region).fillna(xy.mean())
    return xy.to_numpy(), base.to_numpy()


def align_accounts(
    src: PlanSource,
    config: PlanConfig,
    *,
    tolerance: float | None = None,
    balance: Sequence[str] | None = None,
    objective: str | None = None,
    max_disruption: float | None = None,
    max_moved: int | None = None,
    locks: Mapping[str, str] | None = None,
    reps: Sequence[str] | None = None,
    role: str | None = None,
    scope: str | None = None,
    time_limit: float | None = None,
    threads: int | None = None,
    method: str = "auto",
    within: Sequence[str] | None = None,
    move_km: float | None = None,
    accounts: Sequence[str] | None = None,
    explain: bool = True,
) -> AccountAlignment:
    """Align the accounts in scope to the reps, balanced within ``tolerance``.

    ``max_disruption`` is the largest share (0-1) of the owned accounts' potential that
    may change rep; ``locks`` pins accounts to reps.  ``role`` aligns one coverage role
    only (e.g. ``field``): its reps, the accounts they own, and unowned accounts whose
    care model asks for that role — a key account manager's book is not balanced against
    an inside rep's.  Arguments left ``None`` come from ``[plan]``.  ``threads`` goes
    to HiGHS; leave it ``None`` unless every solve in the process uses the same number
    (HiGHS fixes its thread pool on first use).  ``within`` lists the hard rules (an
    account stays in its region, country, manager or territory); ``move_km`` is what
    moving an account of average potential costs in the mixed objective, in km.
    ``accounts`` limits the alignment to those account ids (a manager's scope).
    ``explain=False`` skips the travel check (the extra travel-only solve and its note),
    as a grid of plans does.
    """
    tolerance = config.align_tolerance if tolerance is None else tolerance
    balance = list(config.align_balance if balance is None else balance)
    objective = objective or config.align_objective
    max_disruption = config.align_max_disruption if max_disruption is None else max_disruption
    max_moved = config.align_max_moved if max_moved is None else max_moved
    within = list(config.align_within if within is None else within)
    move_km = config.align_move_km if move_km is None else move_km
    bad = sorted(set(within) - set(ALIGN_WITHIN))
    if bad:
        raise ConfigError(f"unknown alignment rule(s) {', '.join(bad)}",
                          hint=f"keep accounts within any of: {', '.join(ALIGN_WITHIN)}")
    scope = scope or config.align_scope
    role = role or config.align_role
    method = method if method != "auto" else config.align_method
    time_limit = time_limit or config.align_time_limit
    if not 0 < tolerance <= 1:
        raise ConfigError(f"tolerance must be in (0, 1], got {tolerance}",
                          hint="e.g. --tolerance 0.1 for ±10%")
    if max_disruption is not None and not 0 <= max_disruption <= 1:
        raise ConfigError(f"max disruption is a share of potential in [0, 1], got "
                          f"{max_disruption}", hint="e.g. --max-disruption 0.2")
    frame = src.frame()
    units = frame if scope == "all" else frame[frame.is_customer.fillna(False).astype(bool)]
    if accounts is not None:
        units = units[units.account_id.astype(str).isin(set(accounts))]
    if role:
        role_reps = _role_reps(src, role)
        reps = [r for r in reps if r in role_reps] if reps is not None else role_reps
        own = units.owner_rep_id.isin(role_reps)
        wanted = units.coverage_role.astype("string").replace(config.role_aliases)
        free = units.owner_rep_id.isna() & (wanted == role).fillna(False)
        units = units[own | free]
    units = units.reset_index(drop=True)
    if units.empty:
        raise WorkspaceError("no accounts to align", hint="check plan.align_scope and --role")
    rep_table = _reps(src, units, reps)
    if not role and "role" in rep_table and rep_table.role.nunique() > 1:
        src.note("plan: the reps aligned have several roles ("
                 + ", ".join(sorted(rep_table.role.dropna().astype(str).unique()))
                 + "); their books are balanced against each other — pass a role to align "
                 "one role's books")
    rep_ids = rep_table.rep_id.tolist()
    owner = units.owner_rep_id.astype("string")
    stray = owner.notna() & ~owner.isin(rep_ids)
    if stray.any():
        src.note(f"plan: {int(stray.sum())} accounts are owned by reps outside the alignment; "
                 "they count as unowned (never as moved)")
    owner = owner.where(~stray)
    measures: dict[str, np.ndarray] = {"count": np.ones(len(units))}
    pot = units.potential.astype(float)
    if pot.isna().all():
        src.note("plan: no potential output, so alignment balances current value as potential")
        pot = units.current.astype(float)
    measures["potential"] = pot.fillna(0.0).clip(lower=0).to_numpy()
    wl = units.workload_hours.astype(float)
    if wl.isna().all():
        if "workload" in balance:
            src.note("plan: no segments output, so alignment does not balance workload hours")
            balance = [b for b in balance if b != "workload"]
        measures["workload"] = None
    else:
        measures["workload"] = wl.fillna(0.0).to_numpy()
    locks = dict(locks or {})
    unknown_acc = sorted(set(locks) - set(units.account_id.astype(str)))
    if unknown_acc:
        raise NotFoundError(f"locked account(s) not in the alignment: {', '.join(unknown_acc[:5])}",
                            hint="check the account ids (and plan.align_scope)")
    unknown_rep = sorted(set(locks.values()) - set(rep_ids))
    if unknown_rep:
        raise NotFoundError(f"locks name rep(s) not in the alignment: {', '.join(unknown_rep[:5])}",
                            hint=f"use one of: {', '.join(rep_ids[:10])}")
    unit_xy, rep_xy = _coordinates(src, units, rep_table)
    visits = _visits(src, units, config)
    if objective in ("distance", "mixed") and unit_xy is None:
        src.note("plan: accounts have no lat/lon, so alignment minimises disruption instead of "
                 "distance")
        objective = "disruption"
    groups = alignment_groups(src, units, rep_table, within)
    problem = AlignmentProblem(
        unit_ids=units.account_id.astype(str).to_numpy(), rep_ids=np.array(rep_ids),
        potential=measures["potential"], workload=measures["workload"],
        count=measures["count"], current_owner=owner.astype(object).where(owner.notna(), None)
        .to_numpy(), locked=locks or None, unit_xy=unit_xy, rep_xy=rep_xy,
        metric="haversine", unit_group=None if groups is None else groups.unit_codes,
        rep_group=None if groups is None else groups.rep_codes, visits=visits)
    owned = owner.notna().to_numpy()
    owned_pot = float(measures["potential"][owned].sum())
    limit = None if max_disruption is None else max_disruption * owned_pot
    obj = _objective(objective, move_km, owned_pot / max(int(owned.sum()), 1))
    rules = [Balance(m, tolerance=tolerance, targets=None if groups is None
                     else group_targets(problem.measure(m), groups)) for m in balance]
    if method == "auto":
        pairs = problem.n_units * problem.n_reps
        method = "heuristic" if pairs > MILP_MAX_PAIRS else "milp"
    kw = dict(max_disruption=limit, max_moved=max_moved, time_limit=time_limit,
              threads=threads)
    # accounts served remotely cost no travel, but among equal plans a nearer rep is
    # the one a leader expects: they weigh REMOTE_TRIPS trips a year in the solve only
    solved = replace(problem, visits=np.where(visits > 0, visits, REMOTE_TRIPS))
    try:
        try:
            res = align_territories(solved, rules, obj, method=method, **kw)
        except RuntimeError:  # the MILP found no plan within the time limit
            if method != "milp":
                raise
            src.note(f"plan: the exact solver found no alignment in {time_limit:.0f} s, so "
                     "the LP-based heuristic was used (its gap is reported)")
            res = align_territories(solved, rules, obj, method="heuristic", **kw)
    except InfeasibleError:
        raise
    except ValueError as exc:  # the solver's own input checks
        raise ConfigError(f"the alignment cannot be set up: {exc}",
                          hint="check the locks, reps and balance measures") from None
    except RuntimeError as exc:
        raise InfeasibleError(f"no alignment found: {exc}",
                              hint="raise plan.align_time_limit or widen the tolerance") from None
    out = alignment_report(units, rep_table, problem, res, owner, measures, balance,
                           tolerance, objective, owned_pot, groups,
                           _rep_region(src, rep_table, units))
    s = out.summary
    before, after = s.get("travel_before_km", 0.0), s.get("travel_after_km", 0.0)
    if explain and before and after / before - 1 > config.align_max_travel_increase:
        if objective != "distance":  # the best the bands allow, to say what is achievable
            try:
                short = align_territories(problem, rules, _objective("distance", 0, 1),
                                          method=method, **kw)
                s["travel_shortest_km"], s["travel_floor_km"] = short.objective, \
                    short.best_bound
            except (InfeasibleError, RuntimeError, ValueError):
                pass
        else:
            s["travel_shortest_km"], s["travel_floor_km"] = res.objective, res.best_bound
        _travel_note(src, out, config.align_max_travel_increase)
    return out


def _visits(src: PlanSource, units: pd.DataFrame, config: PlanConfig) -> np.ndarray:
    """Trips a year to each account: its care model's touches when they are in person.

    Travel is what a rep drives, so an account its care model serves remotely (inside
    sales, digital) adds none, and a tier-1 account visited 24 times weighs three times
    a field account visited 8 times.
    """
    touches = units.touches_per_year.astype(float)
    if touches.isna().all():
        src.note("plan: no segments output, so travel counts one trip a year per account")
        return np.ones(len(units))
    raw = units.coverage_role.astype("string")
    roles = list(config.align_visit_roles)
    visiting = (raw.isin(roles) | raw.replace(config.role_aliases).isin(roles))
    return touches.where(visiting.fillna(False).to_numpy(), 0.0).fillna(0.0).to_numpy()


def _objective(name: str, move_km: float, average_potential: float) -> Objective:
    """Travel (round trips a year, km) and, for ``mixed``, ``move_km`` per account of
    average potential moved."""
    travel = Objective(distance=2.0, distance_weight="visits")
    if name == "disruption":
        return Objective.parse(name)
    if name == "distance" or move_km == 0 or average_potential <= 0:
        return travel
    return Objective(distance=2.0, distance_weight="visits",
                     disruption=move_km / average_potential)


def _travel_note(src: PlanSource, out: AccountAlignment, limit: float) -> None:
    """Say that the plan lengthens travel by more than ``limit``, the least travel the
    bands allow, and which reps' bases sit away from (or amid) the accounts."""
    s = out.summary
    before, after = s["travel_before_km"], s["travel_after_km"]
    text = (f"plan: the balanced plan lengthens travel by {after / before - 1:.1%} "
            f"({before:,.0f} → {after:,.0f} km a year), more than "
            f"plan.align_max_travel_increase ({limit:.0%}). ")
    if "travel_floor_km" in s:
        text += (f"No plan within these bands travels less than {s['travel_floor_km']:,.0f} "
                 f"km a year ({s['travel_floor_km'] / before - 1:+.1%}; the shortest found: "
                 f"{s['travel_shortest_km'] / before - 1:+.1%}), so the cause is where the "
                 "reps are based, not the plan. ")
    reps = out.reps
    if "nearest_dev" in reps:
        far = reps[reps.nearest_dev < -0.5].nsmallest(3, "nearest_dev")
        busy = reps[reps.nearest_dev > 0.5].nlargest(3, "nearest_dev")
        if len(far):
            text += ("Bases away from the accounts (nearest rep for a share of potential "
                     "far below the target): " + ", ".join(
                         f"{r.rep_id} ({r.nearest_dev:+.0%})" for r in far.itertuples())
                     + ". ")
        if len(busy):
            text += ("Bases amid more accounts than one rep can balance: " + ", ".join(
                f"{r.rep_id} ({r.nearest_dev:+.0%})" for r in busy.itertuples())
                + "; a base moved from the first list toward these shortens travel most. ")
    text += "`--pareto` shows what looser bands buy."
    src.note(text)


def _rep_region(src: PlanSource, reps: pd.DataFrame, units: pd.DataFrame) -> pd.Series:
    from growthmap.plan.alignment._groups import _rep_keys

    return _rep_keys(src, reps, units, "region")
