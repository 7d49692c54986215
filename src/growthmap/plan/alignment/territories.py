"""Territory alignment: assign accounts (or geographic bricks) to reps.

A good alignment balances what each rep carries (potential, workload, number
of accounts), keeps customers with the rep they know (low disruption) and
keeps territories compact (short travel).  These goals conflict, so the caller
states which ones are hard bands (:class:`Balance`, budgets on disruption and
on the number of moves) and which one is minimised (:class:`Objective`).

Small problems are solved exactly as a MILP with HiGHS; large ones by an
LP-based heuristic (LP relaxation, rounding, local search).  Both report the
best proven lower bound, so the reader can see how far from optimal the plan
may be (:attr:`AlignmentResult.gap`).

Typical use::

    problem = AlignmentProblem(unit_ids, rep_ids, potential=pot, workload=wl,
                               current_owner=owner, unit_xy=xy, rep_xy=base)
    result = align_territories(problem, [Balance("workload", tolerance=0.1)])
    result.assignment        # unit id -> rep id
    result.rep_totals        # per-rep totals and deviation from target
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from growthmap.errors import ConfigError, InfeasibleError, InputError
from growthmap.plan.alignment import _heuristic as heuristic
from growthmap.plan.alignment import _milp as milp

__all__ = [
    "AlignmentProblem",
    "AlignmentResult",
    "Balance",
    "Objective",
    "ParetoPoint",
    "align_territories",
    "pareto_front",
]

MEASURES = ("potential", "workload", "count")
#: What distance may be weighted by: a balanced measure, or ``visits`` (trips a year).
WEIGHTS = (*MEASURES, "visits")
#: Above this many (rep, unit) pairs ``method="auto"`` uses the heuristic.
AUTO_HEURISTIC_PAIRS = 200_000
#: Reps a unit may go to in the heuristic before pricing adds more.
DEFAULT_HEURISTIC_CANDIDATES = 8
#: From this many pairs on, the MILP starts from the heuristic's alignment.
WARM_START_PAIRS = 20_000

Method = Literal["auto", "milp", "heuristic"]


@dataclass(frozen=True)
class Balance:
    """Keep every rep's total of one measure inside a band.

    The band is relative to each rep's target (total / number of reps unless
    ``targets`` gives one per rep): ``tolerance=0.1`` means ±10%, or
    ``lower=0.8, upper=1.2`` means 80%–120%.  With ``absolute=True``,
    ``lower`` and ``upper`` are totals in the measure's own units (a scalar
    or one value per rep) — how published benchmarks state their bounds.
    """

    measure: str
    tolerance: float | None = None
    lower: float | Sequence[float] | None = None
    upper: float | Sequence[float] | None = None
    absolute: bool = False
    targets: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise ConfigError(f"Balance.measure must be one of {MEASURES}, got {self.measure!r}")
        if self.tolerance is not None:
            if self.lower is not None or self.upper is not None or self.absolute:
                raise ConfigError("give Balance either tolerance or lower/upper, not both")
            if not self.tolerance >= 0:
                raise ConfigError(f"Balance.tolerance must be >= 0, got {self.tolerance}")
        elif self.lower is None and self.upper is None:
            raise ConfigError("Balance needs a tolerance or at least one of lower/upper")

    def bounds(self, total: float, n_reps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(targets, lower, upper) per rep, with ±inf for a missing side."""
        if self.targets is not None:
            targets = np.asarray(self.targets, dtype=float)
            if targets.shape != (n_reps,):
                raise ConfigError(f"Balance.targets needs one value per rep ({n_reps})")
        else:
            targets = np.full(n_reps, total / n_reps)
        lo, hi = self.lower, self.upper
        if self.tolerance is not None:
            lo, hi = 1.0 - self.tolerance, 1.0 + self.tolerance
        scale = 1.0 if self.absolute else targets
        lower = np.broadcast_to(-np.inf if lo is None else np.asarray(lo) * scale, n_reps)
        upper = np.broadcast_to(np.inf if hi is None else np.asarray(hi) * scale, n_reps)
        return targets, lower.astype(float), upper.astype(float)


@dataclass(frozen=True)
class Objective:
    """What to minimise: a weighted sum of travel distance and disruption.

    ``distance`` = Σ over units of distance(rep base, unit) × the unit's
    ``distance_weight`` measure (``None``: every unit counts once; ``"visits"``:
    the unit's trips a year, so the sum is the travel a rep drives; or
    ``"potential"`` so that far-away big accounts weigh more).
    ``disruption`` = Σ ``disruption_measure`` of the units that leave their
    current owner.  The two are in different units, so the weights must make
    them comparable (e.g. km per unit of potential).
    """

    distance: float = 1.0
    disruption: float = 0.0
    distance_weight: str | None = None
    disruption_measure: str = "potential"

    def __post_init__(self) -> None:
        if self.distance_weight is not None and self.distance_weight not in WEIGHTS:
            raise ConfigError(f"Objective.distance_weight must be one of {WEIGHTS}, got "
                              f"{self.distance_weight!r}")
        if self.disruption_measure not in MEASURES:
            raise ConfigError(f"Objective measure must be one of {MEASURES}, got "
                              f"{self.disruption_measure!r}")
        if self.distance < 0 or self.disruption < 0:
            raise ConfigError("Objective weights must be >= 0")

    @classmethod
    def parse(cls, value: Objective | str) -> Objective:
        """Accept the shorthands ``"distance"`` and ``"disruption"``."""
        if isinstance(value, Objective):
            return value
        if value == "distance":
            return cls()
        if value == "disruption":
            return cls(distance=0.0, disruption=1.0)
        raise ConfigError(f"objective must be an Objective, 'distance' or 'disruption': {value!r}")


@dataclass
class AlignmentProblem:
    """The units to align, the reps, and what is known about both.

    Distances come from ``distance`` (reps × units, any unit of length) or
    from ``unit_xy`` and ``rep_xy`` (planar x/y, or latitude/longitude in
    degrees with ``metric="haversine"``, giving km).  ``current_owner`` holds a
    rep id per unit (``None``/NaN: unowned, so never counted as moved);
    ``locked`` maps unit id → rep id for units that must not be reassigned.
    ``unit_group`` (units × keys) and ``rep_group`` (reps × keys) hold integer
    codes, e.g. of the region and the manager: a unit may only go to a rep whose
    codes match its own on every key (−1 on either side matches anything).
    ``visits`` (trips a year per unit) only weighs distance (``Objective.distance_weight``);
    nothing is balanced on it.
    """

    unit_ids: Sequence
    rep_ids: Sequence
    potential: Sequence[float] | None = None
    workload: Sequence[float] | None = None
    count: Sequence[float] | None = None
    current_owner: Sequence | None = None
    locked: Mapping | None = None
    distance: np.ndarray | None = None
    unit_xy: np.ndarray | None = None
    rep_xy: np.ndarray | None = None
    metric: Literal["euclidean", "haversine"] = "euclidean"
    unit_group: np.ndarray | None = None
    rep_group: np.ndarray | None = None
    visits: Sequence[float] | None = None

    def __post_init__(self) -> None:
        self.unit_ids = np.asarray(self.unit_ids)
        self.rep_ids = np.asarray(self.rep_ids)
        n, r = self.n_units, self.n_reps
        if n == 0 or r == 0:
            raise InputError("an alignment needs at least one unit and one rep")
        _require_unique(self.unit_ids, "unit_ids")
        _require_unique(self.rep_ids, "rep_ids")
        self.potential = _vector(self.potential, n, "potential")
        self.workload = _vector(self.workload, n, "workload")
        self.count = np.ones(n) if self.count is None else _vector(self.count, n, "count")
        self.visits = _vector(self.visits, n, "visits")
        self.owner_index = self._rep_index(self.current_owner, "current_owner")
        self.lock_index = np.full(n, -1, dtype=np.int64)
        if self.locked:
            pos = pd.Index(self.unit_ids).get_indexer(list(self.locked))
            if (pos < 0).any():
                bad = [u for u, p in zip(self.locked, pos, strict=True) if p < 0][:5]
                raise InputError(f"locked names units that are not in unit_ids: {bad}")
            self.lock_index[pos] = self._rep_index(list(self.locked.values()), "locked")
        self._check_geometry()
        self.unit_group, self.rep_group = milp.check_groups(self.unit_group, self.rep_group,
                                                            n, r)

    @property
    def n_units(self) -> int:
        return int(self.unit_ids.size)

    @property
    def n_reps(self) -> int:
        return int(self.rep_ids.size)

    @property
    def n_locked(self) -> int:
        return int(np.sum(self.lock_index >= 0))

    @property
    def has_distance(self) -> bool:
        return self.distance is not None or self.unit_xy is not None

    def measure(self, name: str) -> np.ndarray:
        """The per-unit values of a measure; a clear error if it was not given."""
        values = getattr(self, name)
        if values is None:
            raise InputError(f"the alignment needs {name!r} values per unit",
                             hint=f"pass {name}= to AlignmentProblem")
        return values

    def distance_block(
        self, units: np.ndarray | slice, reps: np.ndarray | slice = slice(None)
    ) -> np.ndarray:
        """Distances (selected reps × selected units)."""
        if self.distance is not None:
            return self.distance[reps][:, units]
        if self.unit_xy is None:
            raise InputError(
                "a distance objective needs distance= or unit_xy= and rep_xy= in AlignmentProblem"
            )
        return milp.metric_block(self.rep_xy[reps], self.unit_xy[units], self.metric)

    def cost_block(self, units: np.ndarray, objective: Objective) -> np.ndarray:
        """Objective coefficient of every (rep, unit) pair for ``units``.

        Pairs that a lock or the groups forbid cost +inf, so bound computations
        skip them (a lock overrides the groups).
        """
        cost = np.zeros((self.n_reps, units.size))
        if objective.distance:
            weight = self._weight(objective.distance_weight)[units]
            cost += objective.distance * self.distance_block(units) * weight
        if objective.disruption:
            cur = self.owner_index[units]
            moved = (np.arange(self.n_reps)[:, None] != cur) & (cur >= 0)
            cost += objective.disruption * moved * self.measure(objective.disruption_measure)[units]
        lock = self.lock_index[units]
        if self.unit_group is not None:
            cost[~milp.group_mask(self, units) & (lock < 0)] = np.inf
        cost[(np.arange(self.n_reps)[:, None] != lock) & (lock >= 0)] = np.inf
        return cost

    def evaluate(self, assign: np.ndarray, objective: Objective) -> tuple[float, float, int]:
        """(distance, disruption, moved) of an assignment given as rep indices."""
        distance = 0.0
        if self.has_distance:
            weight = self._weight(objective.distance_weight)
            distance = float(np.sum(self._assigned_distance(assign) * weight))
        moved_mask = (self.owner_index >= 0) & (assign != self.owner_index)
        values = getattr(self, objective.disruption_measure)
        disruption = 0.0 if values is None else float(values[moved_mask].sum())
        return distance, disruption, int(moved_mask.sum())

    def rep_totals(self, assign: np.ndarray, rules: list[Balance]) -> pd.DataFrame:
        """Per rep: units, distance and each measure's total, target and deviation.

        ``deviation`` is total / target − 1 (so +0.07 reads "7% above target");
        ``within_bounds`` says whether every balance band holds.
        """
        frame = pd.DataFrame(index=pd.Index(self.rep_ids, name="rep_id"))
        frame["units"] = np.bincount(assign, minlength=self.n_reps)
        if self.has_distance:
            frame["distance"] = np.bincount(
                assign, self._assigned_distance(assign), minlength=self.n_reps
            )
        ok = np.ones(self.n_reps, dtype=bool)
        balanced = {rule.measure: rule for rule in rules}
        for name in MEASURES:
            values = getattr(self, name)
            if values is None:
                continue
            total = np.bincount(assign, values, minlength=self.n_reps)
            rule = balanced.get(name)
            if rule is None:
                target, lower, upper = Balance(name, tolerance=0).bounds(values.sum(), self.n_reps)
            else:
                target, lower, upper = rule.bounds(values.sum(), self.n_reps)
                slack = 1e-9 * max(1.0, float(np.abs(values).sum()))
                ok &= (total >= lower - slack) & (total <= upper + slack)
                frame[f"{name}_lower"], frame[f"{name}_upper"] = lower, upper
            frame[name], frame[f"{name}_target"] = total, target
            with np.errstate(divide="ignore", invalid="ignore"):
                frame[f"{name}_deviation"] = total / target - 1.0
        frame["within_bounds"] = ok
        return frame

    def _assigned_distance(self, assign: np.ndarray) -> np.ndarray:
        if self.distance is not None:
            return self.distance[assign, np.arange(self.n_units)]
        return milp.metric_pairs(self.rep_xy[assign], self.unit_xy, self.metric)

    def _weight(self, name: str | None) -> np.ndarray:
        return np.ones(self.n_units) if name is None else self.measure(name)

    def _rep_index(self, ids: Sequence | None, what: str) -> np.ndarray:
        if ids is None:
            return np.full(self.n_units, -1, dtype=np.int64)
        values = pd.Series(np.asarray(ids, dtype=object))
        if what == "current_owner" and values.size != self.n_units:
            raise InputError(f"current_owner needs one value per unit ({self.n_units})")
        pos = pd.Index(self.rep_ids).get_indexer(values)
        unknown = (pos < 0) & values.notna().to_numpy()
        if unknown.any():
            raise InputError(f"{what} names reps that are not in rep_ids: "
                             f"{list(values[unknown][:5])}")
        return pos.astype(np.int64)

    def _check_geometry(self) -> None:
        if self.distance is not None:
            self.distance = np.asarray(self.distance, dtype=float)
            if self.distance.shape != (self.n_reps, self.n_units):
                raise InputError(
                    f"distance must be reps × units = {(self.n_reps, self.n_units)}, "
                    f"got {self.distance.shape}"
                )
        elif (self.unit_xy is None) != (self.rep_xy is None):
            raise InputError("give both unit_xy and rep_xy, or neither")
        elif self.unit_xy is not None:
            self.unit_xy = np.asarray(self.unit_xy, dtype=float).reshape(self.n_units, 2)
            self.rep_xy = np.asarray(self.rep_xy, dtype=float).reshape(self.n_reps, 2)
        if self.metric not in ("euclidean", "haversine"):
            raise ConfigError(f"metric must be 'euclidean' or 'haversine', got {self.metric!r}")


@dataclass(frozen=True)
class AlignmentResult:
    """An alignment and the evidence needed to trust it.

    ``best_bound`` is a proven lower bound on the objective over all
    alignments that meet the constraints, so ``gap`` = (objective − bound) /
    objective is the most the plan can be worse than the best possible plan.
    """

    assignment: pd.Series  # unit id -> rep id
    status: str  # "optimal" (within mip_gap), "time_limit" or "heuristic"
    method: str  # "milp" or "heuristic"
    objective: float
    best_bound: float
    gap: float
    solve_time: float  # seconds spent in the solver(s)
    distance: float  # weighted as Objective.distance_weight says
    disruption: float  # Objective.disruption_measure of the units moved
    moved: int  # units whose rep differs from their current owner
    rep_totals: pd.DataFrame  # per rep: totals, targets, deviation, bounds
    n_pairs: int  # binary variables (allowed rep-unit pairs) in the model
    details: dict = field(default_factory=dict)  # method-specific figures

    @property
    def within_bounds(self) -> bool:
        """True when every balance band holds (to a 1e-9 relative tolerance)."""
        return bool(self.rep_totals["within_bounds"].all())


@dataclass(frozen=True)
class ParetoPoint:
    """One efficient point of the objective-versus-units-moved trade-off."""

    moved: int
    objective: float
    distance: float
    result: AlignmentResult


def align_territories(
    problem: AlignmentProblem,
    balance: Balance | Sequence[Balance] = (),
    objective: Objective | str = "distance",
    *,
    max_disruption: float | None = None,
    max_moved: int | None = None,
    method: Method = "auto",
    time_limit: float = 60.0,
    mip_gap: float = 1e-4,
    candidates: int | None = None,
    threads: int | None = None,
    seed: int = 0,
) -> AlignmentResult:
    """Assign every unit to one rep, minimising ``objective`` within the bands.

    Parameters
    ----------
    balance
        One :class:`Balance` per measure whose per-rep total must stay in a band.
    objective
        An :class:`Objective`, or ``"distance"`` / ``"disruption"``.
    max_disruption
        Upper bound on the disruption (``Objective.disruption_measure`` of the
        units that change rep): continuity as a constraint, not a goal.
    max_moved
        Upper bound on the number of units that change rep.
    method
        ``"milp"`` (exact, HiGHS), ``"heuristic"`` (LP relaxation, rounding,
        local search) or ``"auto"`` (the heuristic above 200,000 pairs).
    time_limit, mip_gap
        Wall-clock limit in seconds, and the relative gap at which the MILP
        may stop (``0`` asks for a proven optimum).
    candidates
        Let each unit go only to its ``candidates`` nearest reps (plus its
        current owner; each rep also keeps its 2·N/R nearest units), which
        shrinks big models; the heuristic uses 8 by default.  It prices the
        other pairs back in when they could help, so its bound stays valid for
        the full problem; an explicit MILP bound is for the pruned one.  If the
        pruned model is infeasible, ``candidates`` doubles until it is not.
    threads
        HiGHS threads (its own default when ``None``).
    seed
        Seed of the local search's random order, for bit-for-bit reruns.

    Raises
    ------
    InfeasibleError
        (a ``ValueError``) when no alignment meets the bands, locks and
        budgets; the message names what to loosen.
    InputError, ConfigError
        (also ``ValueError``) for inconsistent inputs or options.
    """
    objective = Objective.parse(objective)
    rules = [balance] if isinstance(balance, Balance) else list(balance)
    if method not in ("auto", "milp", "heuristic"):
        raise ConfigError(f"method must be 'auto', 'milp' or 'heuristic', got {method!r}")
    chosen = _choose_method(problem, method, candidates)
    if chosen == "heuristic" and candidates is None:
        candidates = DEFAULT_HEURISTIC_CANDIDATES
    retries: list[str] = []
    while True:
        model = milp.build_model(problem, rules, objective, max_disruption, max_moved, candidates)
        try:
            res = _solve(problem, model, rules, objective, chosen, time_limit, mip_gap,
                         threads, seed)
        except InfeasibleError as exc:
            if candidates is None or candidates >= problem.n_reps:
                raise
            retries.append(f"candidates={candidates}: {exc.message}")
            candidates = min(2 * candidates, problem.n_reps)  # pruning may be the cause
            continue
        res.details.update(candidates=candidates, pruning_retries=retries)
        return res


def _solve(
    problem: AlignmentProblem,
    model: milp.Model,
    rules: list[Balance],
    objective: Objective,
    method: str,
    time_limit: float,
    mip_gap: float,
    threads: int | None,
    seed: int,
) -> AlignmentResult:
    def cost(units: np.ndarray) -> np.ndarray:
        return problem.cost_block(units, objective)

    if method == "heuristic":
        out = heuristic.solve(model, cost, time_limit=time_limit, threads=threads, seed=seed)
        if out is None:
            raise milp.infeasible_from_solver(rules, model.budgets, problem.n_locked)
        return _result(problem, rules, objective, out.assign, "heuristic", out.bound,
                       out.seconds, model, out.details)
    start, details = None, {}
    if model.n_pairs >= WARM_START_PAIRS:  # HiGHS alone may take minutes to find any point
        pruned = milp.build_model(problem, rules, objective, None, None,
                                  DEFAULT_HEURISTIC_CANDIDATES)
        pruned.budgets = model.budgets
        start, details = heuristic.warm_start(model, pruned, cost, time_limit / 2, threads, seed)
    spent = details.get("warm_start_seconds", 0.0)
    sol = milp.solve_model(model, time_limit=time_limit - spent, mip_gap=mip_gap,
                           threads=threads, start=start)
    if sol is None:
        raise milp.infeasible_from_solver(rules, model.budgets, problem.n_locked)
    assign = milp.assignment_from_x(model, sol.x)
    return _result(problem, rules, objective, assign, sol.status, sol.bound,
                   sol.seconds + spent, model, details)


def pareto_front(
    problem: AlignmentProblem,
    balance: Balance | Sequence[Balance] = (),
    objective: Objective | str = "distance",
    *,
    moves: Sequence[int] | None = None,
    time_limit: float = 60.0,
    mip_gap: float = 0.0,
    threads: int | None = None,
) -> list[ParetoPoint]:
    """The trade-off between the objective and the number of units moved.

    ε-constraint method: minimise the objective under each bound ``k`` on the
    units moved.  Without ``moves``, ``k`` runs 0, 1, 2, ... until the
    objective reaches its unconstrained optimum, and a point is kept only when
    it beats every point with fewer moves — so with ``mip_gap=0`` the points
    are exactly the efficient (objective, moves) pairs, and a bound ``k`` for
    which no alignment is feasible gives no point.  With ``moves``, only those
    bounds are tried, ``moved`` is the count in each solution, and dominated
    points are dropped.  Points are ordered by increasing ``moved``.
    """
    objective = Objective.parse(objective)

    def solve(k: int | None) -> AlignmentResult | None:
        try:
            return align_territories(
                problem, balance, objective, max_moved=k, method="milp",
                time_limit=time_limit, mip_gap=mip_gap, threads=threads,
            )
        except ValueError:
            if k is None:
                raise
            return None

    free = solve(None)
    bounds = range(free.moved + 1) if moves is None else sorted(set(moves))
    points: list[ParetoPoint] = []
    for k in bounds:
        res = free if moves is None and k == free.moved else solve(k)
        if res is None:
            continue
        moved = k if moves is None else res.moved
        tol = 1e-9 * max(1.0, abs(res.objective))
        if points and res.objective >= points[-1].objective - tol:
            continue
        points.append(ParetoPoint(moved, res.objective, res.distance, res))
    return points


def relative_gap(value: float, bound: float) -> float:
    """(value − bound) / |value|, the MILP convention; 0 when they agree."""
    diff = value - bound
    if diff <= 1e-9 * max(1.0, abs(value)):
        return 0.0
    return diff / abs(value) if value != 0 else math.inf


def _choose_method(problem: AlignmentProblem, method: Method, candidates: int | None) -> str:
    if method != "auto":
        return method
    per_unit = problem.n_reps if candidates is None else min(candidates + 1, problem.n_reps)
    return "heuristic" if problem.n_units * per_unit > AUTO_HEURISTIC_PAIRS else "milp"


def _result(
    problem: AlignmentProblem,
    rules: list[Balance],
    objective: Objective,
    assign: np.ndarray,
    status: str,
    bound: float,
    seconds: float,
    model: milp.Model,
    details: dict,
) -> AlignmentResult:
    distance, disruption, moved = problem.evaluate(assign, objective)
    value = objective.distance * distance + objective.disruption * disruption
    bound = min(float(bound), value)
    return AlignmentResult(
        assignment=pd.Series(problem.rep_ids[assign], name="rep_id",
                             index=pd.Index(problem.unit_ids, name="unit_id")),
        status=status,
        method="heuristic" if status == "heuristic" else "milp",
        objective=value,
        best_bound=bound,
        gap=relative_gap(value, bound),
        solve_time=seconds,
        distance=distance,
        disruption=disruption,
        moved=moved,
        rep_totals=problem.rep_totals(assign, rules),
        n_pairs=model.n_pairs,
        details=details,
    )


def _vector(values: Sequence[float] | None, n: int, name: str) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=float)
    if arr.shape != (n,):
        raise InputError(f"{name} needs one value per unit ({n}), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} has missing or infinite values; fill them before aligning")
    return arr


def _require_unique(ids: np.ndarray, name: str) -> None:
    index = pd.Index(ids)
    if not index.is_unique:
        raise InputError(f"{name} has duplicates, e.g. {list(index[index.duplicated()][:5])}")
