"""The territory-alignment model as a HiGHS MILP (or its LP relaxation).

The alignment is a generalised assignment problem: one binary ``x[r, j]`` per
allowed (rep, unit) *pair*, each unit assigned exactly once, every rep's total
of each balanced measure inside a band, and optional budgets on how much of the
current alignment may change.  Pairs, not a dense rep × unit grid, are the
columns so that locks and candidate pruning shrink the model instead of adding
constraints to it.

Row layout (the heuristic reads dual values by it):

* rows ``0 .. N-1``: assignment rows ``sum_r x[r, j] = 1``;
* rows ``N + m * R + r``: balance of measure ``m`` for rep ``r``;
* the last rows: one per budget, ``sum_j w_j x[cur_j, j] >= sum_j w_j - limit``
  (keeping a unit with its current owner is what the budget rewards).
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from growthmap.errors import InfeasibleError, InputError

INF = highspy.kHighsInf


@dataclass(frozen=True)
class Budget:
    """At most ``limit`` of ``weights`` may move away from the current owners."""

    weights: np.ndarray  # (N,), zero for units without a current owner
    limit: float


@dataclass
class Model:
    """Everything the solvers need, in index space (reps 0..R-1, units 0..N-1)."""

    n_units: int
    n_reps: int
    pair_rep: np.ndarray  # (P,) rep index of each column
    pair_unit: np.ndarray  # (P,) unit index of each column
    cost: np.ndarray  # (P,) objective coefficient of each column
    measures: np.ndarray  # (M, N) balanced measures per unit
    lower: np.ndarray  # (M, R) lower bound of each rep's total
    upper: np.ndarray  # (M, R) upper bound of each rep's total
    current: np.ndarray  # (N,) current owner index, -1 when none
    budgets: list[Budget] = field(default_factory=list)

    @property
    def n_pairs(self) -> int:
        return int(self.pair_rep.size)

    def is_current(self) -> np.ndarray:
        """Mask of the columns that keep a unit with its current owner."""
        return self.current[self.pair_unit] == self.pair_rep

    def side_scale(self) -> np.ndarray:
        """Natural size of each balance row (a rep's average total) and budget row."""
        per_rep = np.maximum(np.abs(self.measures).sum(axis=1), 1e-9) / self.n_reps
        return np.concatenate([np.repeat(per_rep, self.n_reps),
                               [max(b.weights.sum(), 1e-9) for b in self.budgets]])

    def row_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds of every row, in the layout described above."""
        n, nb = self.n_units, len(self.budgets)
        keep = np.array([b.weights.sum() - b.limit for b in self.budgets])
        lo = np.concatenate([np.ones(n), self.lower.ravel(), keep])
        hi = np.concatenate([np.ones(n), self.upper.ravel(), np.full(nb, INF)])
        return lo, np.where(np.isfinite(hi), hi, INF)


@dataclass(frozen=True)
class Solution:
    """Raw MILP output; the public layer turns it into an AlignmentResult."""

    status: str  # "optimal" (within the gap) or "time_limit"
    x: np.ndarray  # (P,) column values
    objective: float
    bound: float
    gap: float
    seconds: float


def column_entries(
    model: Model,
    pairs: slice | np.ndarray = slice(None),
    unit_row: np.ndarray | None = None,
    side_offset: int | None = None,
):
    """CSC arrays (start, index, value) for the selected columns.

    Rows follow the layout above unless ``unit_row`` (row of each unit's
    assignment constraint) and ``side_offset`` (row of the first balance row)
    say otherwise, as in the heuristic's growing LP.  Built in one numpy pass:
    a (P, 1 + M + budgets) table of candidate entries is masked to its
    non-zeros and flattened row-major, keeping each column's entries together.
    """
    rep, unit = model.pair_rep[pairs], model.pair_unit[pairs]
    n = model.n_units if side_offset is None else side_offset
    r = model.n_reps
    n_meas, nb = model.measures.shape[0], len(model.budgets)
    cur = model.current[unit] == rep
    idx = np.empty((rep.size, 1 + n_meas + nb), dtype=np.int32)
    val = np.zeros(idx.shape)
    idx[:, 0], val[:, 0] = (unit if unit_row is None else unit_row[unit]), 1.0
    for m in range(n_meas):
        idx[:, 1 + m] = n + m * r + rep
        val[:, 1 + m] = model.measures[m, unit]
    for b, budget in enumerate(model.budgets):
        idx[:, 1 + n_meas + b] = n + n_meas * r + b
        val[:, 1 + n_meas + b] = np.where(cur, budget.weights[unit], 0.0)
    keep = val != 0.0
    start = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int32)
    return start, idx[keep], val[keep]


def _build_lp(model: Model) -> highspy.HighsLp:
    """The HiGHS MILP: binary pair columns, rows as laid out above."""
    start, index, value = column_entries(model)
    lp = highspy.HighsLp()
    lp.num_col_ = model.n_pairs
    lp.num_row_ = model.n_units + model.lower.size + len(model.budgets)
    lp.col_cost_ = model.cost.astype(float)
    lp.col_lower_, lp.col_upper_ = np.zeros(model.n_pairs), np.ones(model.n_pairs)
    lp.row_lower_, lp.row_upper_ = model.row_bounds()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = start, index, value
    lp.integrality_ = [highspy.HighsVarType.kInteger] * model.n_pairs
    return lp


_BANNER_SHOWN = False


def _quiet_highs() -> highspy.Highs:
    """``highspy.Highs()`` without the banner its first construction prints on stdout.

    The banner comes from C++ before any option can be set, and would corrupt a CLI's
    output (``plan align ... > moves.txt``), so stdout's file descriptor points at
    /dev/null for that one call.
    """
    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
            ctypes.CDLL(None).fflush(None)  # the banner may sit in C's stdout buffer
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _BANNER_SHOWN = True
    return h


def new_solver(time_limit: float, threads: int | None = None) -> highspy.Highs:
    """A silent HiGHS instance with a wall-clock limit."""
    h = _quiet_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(max(time_limit, 0.01)))
    if threads:
        h.setOptionValue("threads", int(threads))
    return h


def solve_model(
    model: Model,
    *,
    time_limit: float,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    start: np.ndarray | None = None,
) -> Solution | None:
    """Solve the MILP with HiGHS, optionally from a starting solution.

    Returns ``None`` when the model is proven infeasible; raises
    ``RuntimeError`` when HiGHS stops without any feasible point, since then
    nothing is known about feasibility.
    """
    h = new_solver(time_limit, threads)
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.setOptionValue("mip_abs_gap", 1e-9 if mip_gap == 0 else 1e-6)
    h.passModel(_build_lp(model))
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = start.astype(float)
        sol.value_valid = True
        h.setSolution(sol)
    began = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - began
    status, info = h.getModelStatus(), h.getInfo()
    if status == highspy.HighsModelStatus.kInfeasible:
        return None
    has_point = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    if status == highspy.HighsModelStatus.kOptimal:
        label = "optimal"
    elif has_point:
        label = "time_limit"
    else:
        raise RuntimeError(
            f"HiGHS stopped ({h.modelStatusToString(status)}) before finding any alignment; "
            "raise time_limit or use method='heuristic'"
        )
    x = np.asarray(h.getSolution().col_value)
    bound, gap = float(info.mip_dual_bound), max(float(info.mip_gap), 0.0)
    return Solution(label, x, float(info.objective_function_value), bound, gap, seconds)


class GrowingLP:
    """The contested LP in one HiGHS model that only grows, so rounds warm-start.

    Rows: the side rows (balance, then budgets) first, then one assignment row
    per contested unit in the order the units joined.  Columns: the slack
    columns first (one each way per balance row, one per budget row), then
    the pairs of the contested units.
    """

    def __init__(self, model: Model, penalty: np.ndarray, deadline: float, threads):
        self.h = new_solver(deadline - time.perf_counter(), threads)
        self.h.setOptionValue("solver", "simplex")
        self.n_bal, self.n_side = model.lower.size, model.lower.size + len(model.budgets)
        self.unit_row = np.full(model.n_units, -1, dtype=np.int64)
        self.n_units = 0
        self.col_pair = np.empty(0, dtype=np.int64)
        self.known_pairs = 0
        inf = np.full(self.n_side, INF)
        self.h.addRows(self.n_side, -inf, inf, 0, np.zeros(self.n_side, dtype=np.int32),
                       np.empty(0, dtype=np.int32), np.empty(0))
        rows = np.concatenate([np.arange(self.n_side), np.arange(self.n_bal)]).astype(np.int32)
        signs = np.concatenate([np.ones(self.n_side), -np.ones(self.n_bal)])
        self.penalty = np.concatenate([penalty, penalty[: self.n_bal]])
        self.n_slack = rows.size
        self.h.addCols(rows.size, self.penalty, np.zeros(rows.size), np.full(rows.size, INF),
                       rows.size, np.arange(rows.size, dtype=np.int32), rows, signs)
        scale = model.side_scale()
        self.slack_scale = np.concatenate([scale, scale[: self.n_bal]])

    def update(self, model: Model, contested: np.ndarray, lower, upper, limits) -> None:
        """Add the newly contested units and new pairs; set the residual bands."""
        new_units = np.flatnonzero(contested & (self.unit_row < 0))
        self.unit_row[new_units] = self.n_side + self.n_units + np.arange(new_units.size)
        self.n_units += new_units.size
        ones = np.ones(new_units.size)
        self.h.addRows(new_units.size, ones, ones, 0, np.zeros(new_units.size, dtype=np.int32),
                       np.empty(0, dtype=np.int32), np.empty(0))
        joined = np.zeros(model.n_units, dtype=bool)
        joined[new_units] = True
        fresh = np.arange(model.n_pairs) >= self.known_pairs
        inside = self.unit_row[model.pair_unit] >= 0
        sel = np.flatnonzero(inside & (joined[model.pair_unit] | fresh))
        start, index, value = column_entries(model, sel, self.unit_row, side_offset=0)
        self.h.addCols(sel.size, model.cost[sel], np.zeros(sel.size), np.ones(sel.size),
                       index.size, start[:-1], index, value)
        self.col_pair = np.concatenate([self.col_pair, sel])
        self.known_pairs = model.n_pairs
        inside_units = self.unit_row >= 0
        keep = [b.weights[inside_units].sum() - lim for b, lim in zip(model.budgets, limits,
                                                                      strict=True)]
        lo = np.concatenate([lower.ravel(), keep])
        hi = np.concatenate([upper.ravel(), np.full(len(keep), INF)])
        lo, hi = np.where(np.isfinite(lo), lo, -INF), np.where(np.isfinite(hi), hi, INF)
        self.h.changeRowsBounds(self.n_side, np.arange(self.n_side, dtype=np.int32), lo, hi)
        self.model = model

    def scale_penalty(self, factor: float) -> None:
        self.penalty = self.penalty * factor
        self.h.changeColsCost(self.n_slack, np.arange(self.n_slack, dtype=np.int32), self.penalty)

    def solve(self, deadline: float) -> tuple[np.ndarray, np.ndarray, bool]:
        """(pair column values, side-row duals, whether slack was needed)."""
        self.h.setOptionValue("time_limit", max(deadline - time.perf_counter(), 0.01))
        self.h.run()
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError("the LP relaxation did not finish within time_limit; raise it")
        sol = self.h.getSolution()
        x = np.asarray(sol.col_value)
        short = bool(np.any(x[: self.n_slack] / self.slack_scale > 1e-7))
        return x[self.n_slack :], np.asarray(sol.row_dual)[: self.n_side], short

    def rounded(self, model: Model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(contested units, the rep holding each one's largest LP share)."""
        unit, rep = model.pair_unit[self.col_pair], model.pair_rep[self.col_pair]
        order = np.lexsort((-x, unit))
        first = order[np.r_[True, unit[order][1:] != unit[order][:-1]]]
        return unit[first], rep[first]

    def split(self, x: np.ndarray) -> int:
        share = np.zeros(self.unit_row.size)
        np.maximum.at(share, self.model.pair_unit[self.col_pair], x)
        return int(np.sum(share[self.unit_row >= 0] < 1 - 1e-6))


def assignment_from_x(model: Model, x: np.ndarray) -> np.ndarray:
    """Rep index per unit from integral column values (the largest per unit)."""
    order = np.lexsort((-x, model.pair_unit))
    first = np.ones(order.size, dtype=bool)
    first[1:] = model.pair_unit[order][1:] != model.pair_unit[order][:-1]
    assign = np.full(model.n_units, -1, dtype=np.int64)
    assign[model.pair_unit[order][first]] = model.pair_rep[order][first]
    return assign


# --- building the model from an AlignmentProblem ---------------------------


def build_model(
    problem,
    rules: list,
    objective,
    max_disruption: float | None,
    max_moved: int | None,
    candidates: int | None,
) -> Model:
    """The index-space model of ``problem``, after quick infeasibility checks.

    ``problem`` is a :class:`growthmap.plan.alignment.territories.AlignmentProblem`;
    ``rules`` its Balance list and ``objective`` an Objective.
    """
    measures = np.array([problem.measure(b.measure) for b in rules]).reshape(len(rules),
                                                                             problem.n_units)
    lower = np.empty((len(rules), problem.n_reps))
    upper = np.empty_like(lower)
    for m, rule in enumerate(rules):
        _, lower[m], upper[m] = rule.bounds(measures[m].sum(), problem.n_reps)
        precheck(rule.measure, measures[m], lower[m], upper[m], problem.lock_index)
    budgets = make_budgets(problem, objective, max_disruption, max_moved)
    if objective.distance and not problem.has_distance:
        problem.distance_block(slice(0, 1))  # raises the explanatory error
    pair_rep, pair_unit = candidate_pairs(problem, candidates)
    cost = np.empty(pair_rep.size)
    step = chunk_size(problem.n_reps)
    for begin in range(0, problem.n_units, step):
        units = np.arange(begin, min(begin + step, problem.n_units))
        sel = slice(*np.searchsorted(pair_unit, [units[0], units[-1] + 1]))
        block = problem.cost_block(units, objective)
        cost[sel] = block[pair_rep[sel], pair_unit[sel] - begin]
    return Model(
        problem.n_units, problem.n_reps, pair_rep, pair_unit, cost,
        measures, lower, upper, problem.owner_index, budgets,
    )


def chunk_size(n_reps: int, cells: int = 2_000_000) -> int:
    """Units per block so that a reps × units block stays near ``cells`` floats."""
    return max(1, cells // max(n_reps, 1))


def candidate_pairs(problem, candidates: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(rep, unit) pairs sorted by unit: all of them, or a sparse set near the optimum.

    The sparse set is each unit's ``candidates`` nearest reps, its current
    owner, and each rep's ``2 N / R`` nearest units — the last so that a rep
    based far from everyone can still reach its lower bounds.  A locked unit
    keeps only its locked rep.
    """
    n, r = problem.n_units, problem.n_reps
    if candidates is None or candidates >= r:
        allowed = np.ones((n, r), dtype=bool)
        if problem.unit_group is not None:
            allowed = group_mask(problem, np.arange(n)).T.copy()
    else:
        if not problem.has_distance:
            raise InputError("candidates= needs distances to find each unit's nearest reps")
        k = max(int(candidates), 1)
        allowed = np.zeros((n, r), dtype=bool)
        step = chunk_size(r)
        for begin in range(0, n, step):
            block = problem.distance_block(slice(begin, begin + step)).T
            units = np.arange(begin, min(begin + step, n))
            ok = None if problem.unit_group is None else group_mask(problem, units).T
            if ok is not None:
                block = np.where(ok, block, np.inf)
            near = np.argpartition(block, k - 1, axis=1)[:, :k]
            np.put_along_axis(allowed[begin : begin + step], near, True, axis=1)
            if ok is not None:
                allowed[begin : begin + step] &= ok
        per_rep = min(n, int(np.ceil(2.0 * n / r)))
        rep_step = max(1, chunk_size(n))
        for begin in range(0, r, rep_step):
            reps = np.arange(begin, min(begin + rep_step, r))
            block = problem.distance_block(slice(None), reps)
            ok = None
            if problem.unit_group is not None:
                ok = group_mask(problem, np.arange(n), reps)
                block = np.where(ok, block, np.inf)
            near = np.argpartition(block, per_rep - 1, axis=1)[:, :per_rep]
            keep = np.ones(near.shape, dtype=bool) if ok is None else np.take_along_axis(
                ok, near, axis=1)
            allowed[near[keep], np.repeat(reps, per_rep).reshape(near.shape)[keep]] = True
        owned = problem.owner_index >= 0
        own = np.flatnonzero(owned)
        if problem.unit_group is not None:  # today's owner only where the groups allow
            own = own[group_mask(problem, own)[problem.owner_index[own],
                                               np.arange(own.size)]]
        allowed[own, problem.owner_index[own]] = True
    locked = problem.lock_index >= 0
    stranded = ~allowed.any(axis=1) & ~locked
    if stranded.any():
        raise infeasible_error(
            f"{int(stranded.sum())} unit(s) have no rep they may go to, e.g. "
            f"{problem.unit_ids[np.flatnonzero(stranded)[0]]!r}",
            hint="add a rep for their group (region, manager) or lift the rule")
    allowed[locked] = False
    allowed[np.flatnonzero(locked), problem.lock_index[locked]] = True
    unit, rep = np.nonzero(allowed)
    return rep.astype(np.int32), unit.astype(np.int32)


def check_groups(unit_group, rep_group, n_units: int, n_reps: int):
    """Both group tables as int arrays (units × keys, reps × keys), or both ``None``."""
    if unit_group is None and rep_group is None:
        return None, None
    if unit_group is None or rep_group is None:
        raise InputError("give both unit_group and rep_group, or neither")
    ug = np.asarray(unit_group, dtype=np.int64).reshape(n_units, -1)
    rg = np.asarray(rep_group, dtype=np.int64).reshape(n_reps, -1)
    if ug.shape[1] != rg.shape[1]:
        raise InputError(f"unit_group has {ug.shape[1]} key(s) and rep_group {rg.shape[1]}")
    return ug, rg


def group_mask(problem, units: np.ndarray, reps: np.ndarray | slice = slice(None)
               ) -> np.ndarray:
    """(selected reps × ``units``) True where the groups let the unit go to the rep."""
    ug, rg = problem.unit_group[units], problem.rep_group[reps]
    ok = np.ones((rg.shape[0], ug.shape[0]), dtype=bool)
    for k in range(ug.shape[1]):
        u, r = ug[:, k][None, :], rg[:, k][:, None]
        ok &= (u == r) | (u < 0) | (r < 0)
    return ok


def make_budgets(
    problem, objective, max_disruption: float | None, max_moved: int | None
) -> list[Budget]:
    """Budget rows for a bound on the units moved and/or on the disruption."""
    owned = (problem.owner_index >= 0).astype(float)
    budgets = []
    if max_moved is not None:
        budgets.append(Budget(owned, float(max_moved)))
    if max_disruption is not None:
        weights = problem.measure(objective.disruption_measure) * owned
        budgets.append(Budget(weights, float(max_disruption)))
    if budgets and not owned.any():
        raise InputError("max_moved/max_disruption need current_owner in AlignmentProblem")
    return budgets


def precheck(
    name: str, values: np.ndarray, lower: np.ndarray, upper: np.ndarray, lock: np.ndarray
) -> None:
    """Catch the infeasibilities that can be explained in one sentence.

    The solver would find them too, but could only say "infeasible"; these
    messages name the measure and the numbers to change.
    """
    total = float(values.sum())
    slack = 1e-9 * max(1.0, float(np.abs(values).sum()))
    if np.any(lower > upper + slack):
        raise infeasible_error(f"{name}: a lower bound is above its upper bound")
    if lower.sum() > total + slack:
        raise infeasible_error(
            f"{name}: the reps' lower bounds add up to {lower.sum():.6g}, more than the "
            f"total {total:.6g}; lower them or widen the tolerance"
        )
    if upper.sum() < total - slack:
        raise infeasible_error(
            f"{name}: the reps' upper bounds add up to {upper.sum():.6g}, less than the "
            f"total {total:.6g}; raise them or widen the tolerance"
        )
    if np.all(values >= 0):
        too_big = values > upper.max() + slack
        if too_big.any():
            raise infeasible_error(
                f"{name}: {int(too_big.sum())} unit(s) exceed every rep's upper bound "
                f"on their own (largest {values.max():.6g} > {upper.max():.6g})"
            )
        locked = lock >= 0
        fixed = np.bincount(lock[locked], values[locked], minlength=upper.size)
        over = fixed > upper + slack
        if over.any():
            raise infeasible_error(
                f"{name}: the units locked to rep #{int(np.argmax(over))} already exceed "
                "its upper bound"
            )


def infeasible_error(reason: str, hint: str | None = None) -> InfeasibleError:
    """The error raised when no alignment satisfies the constraints."""
    return InfeasibleError(
        f"no territory alignment satisfies the constraints: {reason}",
        hint=hint or "widen the balance tolerance, remove locks or raise the budgets",
    )


def infeasible_from_solver(
    rules: list, budgets: list[Budget], n_locked: int = 0
) -> InfeasibleError:
    """The error when HiGHS proves infeasibility that the prechecks could not see."""
    parts = [f"the {r.measure} band" for r in rules]
    if budgets:
        parts.append("the moves/disruption budget")
    locks = f" with {n_locked} unit(s) locked" if n_locked else ""
    return infeasible_error(
        "the solver proved that no assignment of units meets "
        + (" and ".join(parts) or "the locks") + locks
    )


# --- distances -----------------------------------------------------------------

EARTH_RADIUS_KM = 6371.0088


def metric_block(rep_xy: np.ndarray, unit_xy: np.ndarray, metric: str) -> np.ndarray:
    """Distances reps × units."""
    if metric == "haversine":
        return _haversine(rep_xy[:, None, :], unit_xy[None, :, :])
    return np.sqrt(((rep_xy[:, None, :] - unit_xy[None, :, :]) ** 2).sum(axis=-1))


def metric_pairs(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Distances between matching rows of ``a`` and ``b``."""
    if metric == "haversine":
        return _haversine(a, b)
    return np.sqrt(((a - b) ** 2).sum(axis=-1))


def _haversine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Great-circle km between (lat, lon) degree pairs (broadcasting)."""
    lat1, lon1 = np.radians(a[..., 0]), np.radians(a[..., 1])
    lat2, lon2 = np.radians(b[..., 0]), np.radians(b[..., 1])
    h = np.sin((lat2 - lat1) / 2) ** 2
    h = h + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
