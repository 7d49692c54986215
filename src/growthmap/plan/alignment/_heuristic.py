"""LP-based heuristic for territory alignments too large for an exact MILP.

1. LP relaxation.  Small models are solved whole.  Large ones are decomposed:
   an LP on a random sample of units (bands scaled to the sample) gives first
   prices of the balance rows, which subgradient steps on the Lagrangian then
   refine; units whose cheapest rep at those prices wins by a clear margin
   are fixed there, and the LP is solved over the remaining *contested* units
   (one HiGHS model that grows between rounds, so each re-solve is warm).
   Fixed units that stop being cheapest at the new duals are freed and the LP
   re-solved; when none is left, the duals are optimal for the whole LP
   (complementary slackness).  Priced slack on the band rows keeps each LP
   solvable, so a pruned pair set shows up as slack, not as a dead end.
2. Bound.  With any balance duals, moving the balance rows into the objective
   lets each unit pick its cheapest rep, which gives a Lagrangian lower bound
   over *all* rep-unit pairs — valid whatever the candidate pruning, and equal
   to the LP bound when the decomposition converged.  The same pass adds the
   pairs the pruning left out that the duals say would help.
3. Rounding: each contested unit goes to the rep with its largest LP share
   (at a simplex vertex only about one unit per balance row is split).
4. Repair (moves, then swaps, that cut the band violation at least cost; a
   small exact MILP around any rep still stuck), then local search (improving
   moves and swaps inside the bands).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from growthmap.errors import InfeasibleError
from growthmap.plan.alignment import _milp as milp
from growthmap.plan.alignment._search import State

CostBlock = Callable[[np.ndarray], np.ndarray]
EPS = 1e-9
#: Up to this many units the LP relaxation is solved whole.
WHOLE_LP_UNITS = 12_000
#: Units in the sample LP that first prices the balance rows.
SAMPLE_UNITS = 4_000
#: Share of units left contested (not fixed) in the first decomposed LP.
CONTESTED_SHARE = 0.08
MAX_LP_ROUNDS = 6
#: Subgradient steps that refine the sample LP's duals before units are fixed.
SUBGRADIENT_STEPS = 300
#: Subgradient steps between two pricing passes over all rep-unit pairs.
PRICE_EVERY = 10


@dataclass(frozen=True)
class Outcome:
    """What the heuristic found, and the lower bound it proved."""

    assign: np.ndarray
    bound: float
    seconds: float
    details: dict = field(default_factory=dict)


def solve(
    model: milp.Model,
    cost_block: CostBlock,
    *,
    time_limit: float,
    threads: int | None = None,
    seed: int = 0,
) -> Outcome | None:
    """Run the four steps; ``None`` when the LP relaxation is infeasible."""
    began = time.perf_counter()
    deadline = began + time_limit
    rng = np.random.default_rng(seed)
    details: dict = {}
    relaxed = _relaxation(model, cost_block, deadline, threads, rng, details)
    if relaxed is None:
        return None
    model, assign, bound = relaxed
    details.update(bound=bound, pairs=model.n_pairs, lp_seconds=_since(began))
    state = State.start(model, assign)
    details["repair_steps"] = state.repair()
    if state.violation() > EPS:  # stuck: re-solve the stuck reps' neighbourhood exactly
        details["repair_milp"] = _repair_milp(state, deadline, threads)
    details["repair_seconds"] = _since(began) - details["lp_seconds"]
    if state.violation() > EPS:
        raise InfeasibleError(
            "the heuristic found no alignment within the bands (not proven impossible)",
            hint="widen the tolerance, or try method='milp' with a longer time_limit",
        )
    details["improving_moves"], details["improving_swaps"] = state.local_search(deadline, rng)
    details["seconds"] = _since(began)
    return Outcome(state.assign.copy(), bound, details["seconds"], details)


def warm_start(
    model: milp.Model,
    pruned: milp.Model,
    cost_block: CostBlock,
    time_limit: float,
    threads: int | None,
    seed: int,
) -> tuple[np.ndarray | None, dict]:
    """Column values for ``model`` from the heuristic run on ``pruned`` (or None).

    A MILP started from a good alignment only has to prove the gap; if the
    heuristic fails, the MILP simply starts without one.
    """
    try:
        out = solve(pruned, cost_block, time_limit=time_limit, threads=threads, seed=seed)
    except (ValueError, RuntimeError):
        return None, {}
    if out is None:
        return None, {}
    start = (model.pair_rep == out.assign[model.pair_unit]).astype(float)
    return start, {"warm_start_seconds": out.seconds, "warm_start_bound": out.bound}


def _since(t0: float) -> float:
    return time.perf_counter() - t0


# --- LP relaxation by decomposition -----------------------------------------


def _relaxation(model, cost_block, deadline, threads, rng, details):
    """(model with priced pairs, assignment with LP-rounded units, bound) or None.

    Each round re-solves the elastic LP over the contested units (warm, in one
    growing HiGHS model), then one pass over all rep-unit pairs yields the
    Lagrangian bound and the pairs worth adding.  Slack left in the LP means
    "not feasible with these pairs and fixed units": more units are contested,
    else more pairs priced in, else slack is made dearer; only when all three
    fail is the problem declared infeasible.
    """
    n = model.n_units
    penalty = _penalty(model)
    fix_dual, margin = None, np.zeros(n)  # duals of the last slack-free LP place fixed units
    contested = np.ones(n, dtype=bool)
    if n > WHOLE_LP_UNITS:
        sample = np.sort(rng.choice(n, SAMPLE_UNITS, replace=False))
        fix_dual = _sample_duals(model, sample, penalty, cost_block, deadline, threads)
        model, fix_dual = refine_duals(model, fix_dual, cost_block, deadline)
        margin = _best_and_margin(model, modified_costs(model, fix_dual))[1]
        contested = margin <= np.quantile(margin, CONTESTED_SHARE)
    lp = milp.GrowingLP(model, penalty, deadline, threads)
    share, bound, last_bound, rounds, feasible_rounds = CONTESTED_SHARE, -np.inf, -np.inf, 0, 0
    boosts, trace = 0, details.setdefault("lp_trace", [])
    while True:
        rounds += 1
        fixed_rep = np.full(n, -1)
        if fix_dual is not None:
            mc = modified_costs(model, fix_dual)
            fixed_rep, margin = _best_and_margin(model, mc)
            contested |= _overfull(model, contested, fixed_rep, margin)
            contested |= _underfull(model, contested, fixed_rep, mc)
        lp.update(model, contested, *_residual(model, ~contested, fixed_rep))
        x, side_dual, short = lp.solve(deadline)
        if rounds > 4 * MAX_LP_ROUNDS or time.perf_counter() > deadline:
            raise RuntimeError("the LP relaxation did not settle within time_limit; raise it")
        if short and not contested.all():  # fixed units leave too little room: free more
            share = min(1.0, 2 * share)
            contested |= margin <= np.quantile(margin, share)
            trace.append((int(contested.sum()), "short"))
            continue
        row_dual = _full(n, side_dual)
        n_before = model.n_pairs
        model, round_bound = _price(model, row_dual, cost_block)
        bound = max(bound, round_bound)
        trace.append((int(lp.n_units), short, model.n_pairs - n_before, round(bound, 1)))
        if short:  # every unit contested: price in pairs, else make slack dearer
            if model.n_pairs == n_before:
                if boosts == 2:
                    return None
                boosts += 1
                lp.scale_penalty(100.0)
            continue
        feasible_rounds += 1
        fix_dual = row_dual
        best, margin = _best_and_margin(model, modified_costs(model, row_dual))
        wrong = ~contested & (best != fixed_rep)
        wrong[model.pair_unit[n_before:]] = True
        stalled = round_bound - last_bound <= 1e-4 * abs(round_bound)
        last_bound = round_bound
        if not wrong.any() or stalled or feasible_rounds >= MAX_LP_ROUNDS:
            break
        contested |= wrong | (margin <= np.quantile(margin, share))
    details.update(lp_rounds=rounds, contested_units=int(lp.n_units),
                   lp_converged=not wrong.any(), split_units=lp.split(x))
    assign = fixed_rep.copy()
    units, reps = lp.rounded(model, x)
    assign[units] = reps
    return model, assign, bound


def _repair_milp(state: State, deadline: float, threads, partners: int = 4) -> int:
    """Re-solve, as a small exact MILP, each rep the repair left outside its bands.

    Moves and one-for-one swaps cannot always fix a rep that is over on one
    measure and under on another (when the measures rise together, it takes
    e.g. two small accounts for one big one).  The stuck rep and the
    ``partners`` reps sharing most candidate pairs with it get all their units
    freed; everything else stays put.  Returns how many reps were fixed.
    """
    model, fixed = state.model, 0
    for r in np.flatnonzero(state.rep_violation(state.totals, np.arange(model.n_reps)) > EPS):
        mine = state.assign[model.pair_unit] == r
        shared = np.bincount(model.pair_rep[mine], minlength=model.n_reps)
        shared[r] = 0
        group = np.r_[r, np.argsort(-shared, kind="stable")[:partners]]
        units = np.flatnonzero(np.isin(state.assign, group))
        others = np.ones(model.n_reps, dtype=bool)
        others[group] = False
        lower, upper = model.lower.copy(), model.upper.copy()
        lower[:, others], upper[:, others] = -np.inf, np.inf
        moved = (model.current >= 0) & (state.assign != model.current)
        outside = np.ones(model.n_units, dtype=bool)
        outside[units] = False
        limits = [b.limit - float(b.weights[moved & outside].sum()) for b in model.budgets]
        sub = _sub_model(model, units, lower, upper, limits)
        keep = np.isin(sub.pair_rep, group)
        sub = replace(sub, pair_rep=sub.pair_rep[keep], pair_unit=sub.pair_unit[keep],
                      cost=sub.cost[keep])
        try:
            sol = milp.solve_model(sub, time_limit=min(30.0, deadline - time.perf_counter()),
                                   mip_gap=1e-3, threads=threads)
        except RuntimeError:
            sol = None
        if sol is None:
            continue
        for unit, rep in zip(units, milp.assignment_from_x(sub, sol.x), strict=True):
            if state.assign[unit] != rep:
                state.apply(int(unit), int(rep))
        fixed += 1
    return fixed


def _penalty(model: milp.Model) -> np.ndarray:
    """Slack price per unit of each side row: well above what moving units could save.

    Closing a gap of one rep's average total takes about N / R units, each
    changing the objective by at most the largest pair cost.
    """
    finite = np.abs(model.cost[np.isfinite(model.cost)])
    c_max = max(float(finite.max(initial=0.0)), 1.0)
    n_bal = model.lower.size
    rows = np.full(n_bal + len(model.budgets), 10.0 * c_max * model.n_units)
    rows[:n_bal] /= model.n_reps
    return rows / model.side_scale()


def _overfull(model, contested, fixed_rep, margin) -> np.ndarray:
    """Fixed units to free so that no rep's fixed load passes its lower band.

    Contested units can only add load, so a rep already over its band through
    fixed units would make the contested LP infeasible.  Per rep, units are
    kept fixed in decreasing order of margin (the clearest cases first) while
    every measure stays under the band's lower side (upper if it has none).
    """
    fixed = np.flatnonzero(~contested)
    free = np.zeros(model.n_units, dtype=bool)
    if fixed.size == 0:
        return free
    order = fixed[np.lexsort((-margin[fixed], fixed_rep[fixed]))]
    rep = fixed_rep[order]
    first = np.flatnonzero(np.r_[True, rep[1:] != rep[:-1]])
    for m in range(model.measures.shape[0]):
        cap = np.where(np.isfinite(model.lower[m]), model.lower[m], model.upper[m])
        run = np.cumsum(model.measures[m, order])
        run -= np.repeat(run[first] - model.measures[m, order[first]],
                         np.diff(np.r_[first, order.size]))
        free[order[run > cap[rep]]] = True
    return free


def _underfull(model, contested, fixed_rep, mc, reserve: float = 1.5) -> np.ndarray:
    """Fixed units to free so that reps short of their lower band can fill up.

    For a rep whose fixed load is below its lower band, the units that could
    come to it most cheaply (smallest modified-cost regret against their own
    cheapest rep) are contested until they carry ``reserve`` times the
    shortfall, on top of what contested units that may go there carry.
    """
    free = np.zeros(model.n_units, dtype=bool)
    fixed = ~contested
    other = fixed[model.pair_unit] & (model.pair_rep != fixed_rep[model.pair_unit])
    best = np.full(model.n_units, np.inf)
    np.minimum.at(best, model.pair_unit, mc)
    regret = mc - best[model.pair_unit]
    order = np.flatnonzero(other)
    order = order[np.lexsort((regret[order], model.pair_rep[order]))]
    rep = model.pair_rep[order]
    first = np.flatnonzero(np.r_[True, rep[1:] != rep[:-1]]) if order.size else order
    open_pairs = contested[model.pair_unit]
    for m in range(model.measures.shape[0]):
        a = model.measures[m]
        load = np.bincount(fixed_rep[fixed], a[fixed], minlength=model.n_reps)
        reach = np.bincount(model.pair_rep[open_pairs], a[model.pair_unit[open_pairs]],
                            minlength=model.n_reps)
        need = reserve * np.maximum(model.lower[m] - load, 0) - reach
        need = np.where(np.isfinite(need), need, 0.0)
        if not (need > 0).any() or order.size == 0:
            continue
        run = np.cumsum(a[model.pair_unit[order]])
        run -= np.repeat(run[first] - a[model.pair_unit[order[first]]],
                         np.diff(np.r_[first, order.size]))
        take = run - a[model.pair_unit[order]] < need[rep]
        free[model.pair_unit[order[take]]] = True
    return free


def _sample_duals(model, sample, penalty, cost_block, deadline, threads) -> np.ndarray:
    """Balance duals of the LP over a sample, bands scaled to the sample's share.

    Pairs are priced in over the sample until none is missing, so the duals
    already know which far reps some units must go to.
    """
    frac = np.ones((model.measures.shape[0], 1))
    totals = model.measures.sum(axis=1)
    nonzero = totals != 0
    frac[nonzero, 0] = model.measures[nonzero][:, sample].sum(axis=1) / totals[nonzero]
    limits = [b.limit * b.weights[sample].sum() / max(b.weights.sum(), EPS) for b in model.budgets]
    sub = _sub_model(model, sample, model.lower * frac, model.upper * frac, limits)
    lp = milp.GrowingLP(sub, penalty, deadline, threads)
    every = np.ones(sample.size, dtype=bool)
    for _ in range(4 * MAX_LP_ROUNDS):
        lp.update(sub, every, sub.lower, sub.upper, limits)
        _, side_dual, short = lp.solve(deadline)
        n_before = sub.n_pairs
        sub, _ = _price(sub, _full(sample.size, side_dual), lambda units: cost_block(sample[units]))
        if sub.n_pairs == n_before or time.perf_counter() > deadline:
            break
    if short:  # a sample can be infeasible where the whole is not: start from zero
        return _full(model.n_units, np.zeros(side_dual.size))
    return _full(model.n_units, side_dual)


def refine_duals(
    model: milp.Model,
    row_dual: np.ndarray,
    cost_block: CostBlock,
    deadline: float,
    iterations: int = SUBGRADIENT_STEPS,
) -> tuple[milp.Model, np.ndarray]:
    """Improve balance duals by subgradient ascent on the Lagrangian.

    Steps run over the model's pairs (cheap); every ``PRICE_EVERY`` steps a
    pass over all pairs prices in the missing ones — without it the pruned
    Lagrangian is unbounded whenever the pruned problem is infeasible — and
    gives the valid bound by which the best duals are chosen.  Rows are scaled
    to relative units so one step moves every measure alike; the Polyak step
    aims a little above the best value, the margin halving when progress stalls.
    """
    n, size = model.n_units, model.lower.size
    lo, hi = (b[n:] for b in model.row_bounds())
    scale = model.side_scale()
    model, best_bound = _price(model, row_dual, cost_block)
    y, best_y = row_dual[n:] * scale, row_dual[n:] * scale
    best_value, margin, stall = -np.inf, None, 0
    for step in range(iterations):
        if step % PRICE_EVERY == 0:
            if step:
                model, bound = _price(model, _full(n, y / scale), cost_block)
                if bound > best_bound:
                    best_bound, best_y = bound, y.copy()
            order = np.lexsort((model.pair_rep, model.pair_unit))
            unit, rep, cost = model.pair_unit[order], model.pair_rep[order], model.cost[order]
            starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
            counts = np.diff(np.r_[starts, unit.size])
            cur = model.current[unit] == rep
        y_bal, y_budget = (y / scale)[:size].reshape(model.lower.shape), (y / scale)[size:]
        mc = cost.copy()
        for m in range(model.measures.shape[0]):
            mc -= y_bal[m, rep] * model.measures[m, unit]
        for b, budget in enumerate(model.budgets):
            mc[cur] -= y_budget[b] * budget.weights[unit[cur]]
        low = np.minimum.reduceat(mc, starts)
        pick = np.flatnonzero(mc == np.repeat(low, counts))
        pick = pick[np.r_[True, unit[pick][1:] != unit[pick][:-1]]]
        activity = _activity(model, unit[pick], rep[pick])
        side = np.where(y > 0, lo, np.where(y < 0, hi, 0.0))
        value = float(low.sum() + np.sum(np.where(np.isfinite(side), y / scale * side, 0.0)))
        if value > best_value + 1e-9 * abs(value):
            best_value, stall = value, 0
        else:
            stall += 1
        margin = 0.02 * abs(best_value) if margin is None else margin
        if stall >= 8:
            margin, stall = margin / 2, 0
        g = np.clip(0.0, lo - activity, hi - activity) / scale
        g = np.where(y > 0, (lo - activity) / scale, np.where(y < 0, (hi - activity) / scale, g))
        g = np.where(np.isfinite(g), g, 0.0)
        norm = float(g @ g)
        if norm <= EPS or time.perf_counter() > deadline:
            break
        y = y + (best_value + margin - value) / norm * g
    model, bound = _price(model, _full(n, y / scale), cost_block)
    if bound > best_bound:
        best_y = y
    return model, _full(n, best_y / scale)


def _full(n_units: int, side_dual: np.ndarray) -> np.ndarray:
    """Row duals in the model's layout from the side-row duals."""
    return np.concatenate([np.zeros(n_units), side_dual])


def _activity(model: milp.Model, units: np.ndarray, reps: np.ndarray) -> np.ndarray:
    """Balance and budget row activities of an assignment given as (unit, rep) pairs."""
    rows = [np.bincount(reps, model.measures[m, units], minlength=model.n_reps)
            for m in range(model.measures.shape[0])]
    kept = model.current[units] == reps
    rows += [np.array([b.weights[units[kept]].sum()]) for b in model.budgets]
    return np.concatenate(rows) if rows else np.zeros(0)


def _residual(model, fixed: np.ndarray, fixed_rep: np.ndarray):
    """Bands and budget limits left for the free units once ``fixed`` are placed."""
    used = np.zeros_like(model.lower)
    for m in range(model.measures.shape[0]):
        used[m] = np.bincount(fixed_rep[fixed], model.measures[m, fixed], minlength=model.n_reps)
    moved = fixed & (model.current >= 0) & (fixed_rep != model.current)
    limits = [b.limit - float(b.weights[moved].sum()) for b in model.budgets]
    return model.lower - used, model.upper - used, limits


def _sub_model(model, units, lower, upper, limits) -> milp.Model:
    """The model over ``units`` only, with the given bands and budget limits."""
    remap = np.full(model.n_units, -1, dtype=np.int32)
    remap[units] = np.arange(units.size, dtype=np.int32)
    sel = np.flatnonzero(remap[model.pair_unit] >= 0)
    budgets = [milp.Budget(b.weights[units], lim) for b, lim in zip(model.budgets, limits,
                                                                      strict=True)]
    return milp.Model(
        int(units.size), model.n_reps, model.pair_rep[sel], remap[model.pair_unit[sel]],
        model.cost[sel], model.measures[:, units], lower, upper, model.current[units], budgets,
    )


def modified_costs(model: milp.Model, row_dual: np.ndarray) -> np.ndarray:
    """Pair cost minus the dual value of the balance and budget rows it enters."""
    _, y_bal, y_budget = _split_duals(model, row_dual)
    mc = model.cost.copy()
    for m in range(model.measures.shape[0]):
        mc -= y_bal[m, model.pair_rep] * model.measures[m, model.pair_unit]
    cur = model.is_current()
    for b, budget in enumerate(model.budgets):
        mc[cur] -= y_budget[b] * budget.weights[model.pair_unit[cur]]
    return mc


def _best_and_margin(model: milp.Model, mc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest rep per unit, and how much cheaper it is than the runner-up."""
    order = np.lexsort((mc, model.pair_unit))
    unit = model.pair_unit[order]
    first = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
    best = model.pair_rep[order][first]
    second = np.full(model.n_units, np.inf)
    has_two = np.r_[first[1:], unit.size] - first > 1
    second[unit[first[has_two]]] = mc[order][first[has_two] + 1]
    margin = second.copy()
    margin[unit[first]] = second[unit[first]] - mc[order][first]
    return best.astype(np.int64), margin


# --- bound -------------------------------------------------------------------


def _split_duals(model: milp.Model, row_dual: np.ndarray):
    """Duals of the assignment, balance (M × R) and budget rows."""
    n, size = model.n_units, model.lower.size
    return row_dual[:n], row_dual[n : n + size].reshape(model.lower.shape), row_dual[n + size :]


def _price(model: milp.Model, row_dual: np.ndarray, cost_block: CostBlock):
    """(model with the pairs worth adding, Lagrangian lower bound) for these duals.

    With the balance and budget rows moved into the objective, each unit just
    picks its cheapest rep among *all* reps, so the bound is a sum of per-unit
    minima plus each dual times the side of the band it presses on — valid
    for any duals.  A unit whose cheapest rep is not among its pairs gets that
    pair added: leaving it out is what would keep the LP above the bound.
    """
    _, y_bal, y_budget = _split_duals(model, row_dual)
    lo, hi = model.row_bounds()
    size = model.lower.size
    y_side = np.concatenate([y_bal.ravel(), y_budget])
    lo_side, hi_side = lo[model.n_units :], hi[model.n_units :]
    # A dual pressing on a missing side is noise; dropping it keeps the bound valid.
    y_side = np.where((y_side > 0) & ~np.isfinite(lo_side), 0.0, y_side)
    y_side = np.where((y_side < 0) & ~np.isfinite(hi_side), 0.0, y_side)
    y_bal, y_budget = y_side[:size].reshape(y_bal.shape), y_side[size:]
    total = float(np.sum(y_side[y_side > 0] * lo_side[y_side > 0]))
    total += float(np.sum(y_side[y_side < 0] * hi_side[y_side < 0]))
    have = np.full(model.n_units, np.inf)
    np.minimum.at(have, model.pair_unit, modified_costs(model, row_dual))
    new_rep, new_unit, new_cost = [], [], []
    step = milp.chunk_size(model.n_reps)
    for begin in range(0, model.n_units, step):
        units = np.arange(begin, min(begin + step, model.n_units))
        cost = cost_block(units)
        rc = cost.copy()
        for m in range(model.measures.shape[0]):
            rc -= y_bal[m][:, None] * model.measures[m, units][None, :]
        cur = model.current[units]
        owned = np.flatnonzero(cur >= 0)
        for b, budget in enumerate(model.budgets):
            rc[cur[owned], owned] -= y_budget[b] * budget.weights[units[owned]]
        best = rc.argmin(axis=0)
        low = rc[best, np.arange(units.size)]
        total += float(low.sum())
        add = np.flatnonzero(low < have[units] - 1e-9 * np.maximum(1.0, np.abs(low)))
        new_rep.append(best[add])
        new_unit.append(units[add])
        new_cost.append(cost[best[add], add])
    if sum(a.size for a in new_rep):
        model = replace(
            model,
            pair_rep=np.concatenate([model.pair_rep, *new_rep]).astype(np.int32),
            pair_unit=np.concatenate([model.pair_unit, *new_unit]).astype(np.int32),
            cost=np.concatenate([model.cost, *new_cost]),
        )
    return model, total
