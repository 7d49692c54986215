"""Repair and local search for territory alignments (used by the heuristic).

Starting from a rounded LP solution, :meth:`State.repair` restores the bands
(moves, and swaps when a rep is over on one measure and under on another),
then :meth:`State.local_search` applies improving moves and swaps that keep
every band and budget.  Running totals make each check O(measures), and the
scans are vectorised over all allowed rep-unit pairs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from growthmap.plan.alignment import _milp as milp

EPS = 1e-9
#: Cheapest candidate moves per direction tried when looking for a swap.
SWAP_SHORTLIST = 12


@dataclass
class State:
    """An assignment with running totals, so a move is checked in O(measures).

    Pairs are kept sorted by (unit, rep) so that the cost of any unit at any of
    its allowed reps is one binary search away.
    """

    model: milp.Model
    assign: np.ndarray
    totals: np.ndarray  # (M, R) balanced measures per rep
    used: np.ndarray  # (B,) budget weight moved away from current owners
    p_unit: np.ndarray
    p_rep: np.ndarray
    p_cost: np.ndarray
    scale: np.ndarray  # (M, 1) per-measure scale of a violation
    limits: np.ndarray  # (B,)

    @classmethod
    def start(cls, model: milp.Model, assign: np.ndarray) -> State:
        m = model
        totals = np.array([np.bincount(assign, m.measures[k], minlength=m.n_reps)
                           for k in range(m.measures.shape[0])]).reshape(m.lower.shape)
        moved = (m.current >= 0) & (assign != m.current)
        order = np.lexsort((m.pair_rep, m.pair_unit))
        scale = np.maximum(np.abs(m.measures).sum(axis=1, keepdims=True) / m.n_reps, EPS)
        return cls(
            m, assign.copy(), totals, np.array([b.weights[moved].sum() for b in m.budgets]),
            m.pair_unit[order], m.pair_rep[order], m.cost[order], scale,
            np.array([b.limit for b in m.budgets]),
        )

    # -- bookkeeping

    def unit_cost(self, units: np.ndarray, reps: np.ndarray) -> np.ndarray:
        key = self.p_unit.astype(np.int64) * self.model.n_reps + self.p_rep
        pos = np.searchsorted(key, units.astype(np.int64) * self.model.n_reps + reps)
        return self.p_cost[np.minimum(pos, key.size - 1)]

    def budget_delta(self, units, to_reps, from_reps) -> np.ndarray:
        """Change in each budget's use when ``units`` go from → to (B × k)."""
        cur = self.model.current[units]
        sign = (((from_reps == cur) & (to_reps != cur)).astype(float)
                - ((from_reps != cur) & (to_reps == cur)))
        if not self.model.budgets:
            return np.zeros((0, sign.size))
        return np.array([b.weights[units] * sign for b in self.model.budgets])

    def rep_violation(self, totals: np.ndarray, reps) -> np.ndarray:
        """Scaled distance of each (new) rep total from its band, summed over measures."""
        m = self.model
        lower, upper = m.lower[:, reps], m.upper[:, reps]
        extra = (1,) * (totals.ndim - lower.ndim)
        lower, upper = lower.reshape(lower.shape + extra), upper.reshape(upper.shape + extra)
        over = np.maximum(totals - upper, 0) + np.maximum(lower - totals, 0)
        return (over / self.scale.reshape((-1,) + (1,) * (over.ndim - 1))).sum(axis=0)

    def budget_violation(self, used: np.ndarray) -> np.ndarray:
        lim = self.limits.reshape((-1,) + (1,) * (used.ndim - 1))
        return (np.maximum(used - lim, 0) / np.maximum(np.abs(lim), 1.0)).sum(axis=0)

    def violation(self) -> float:
        reps = np.arange(self.model.n_reps)
        return float(self.rep_violation(self.totals, reps).sum()
                     + self.budget_violation(self.used).sum())

    def apply(self, unit: int, rep: int) -> None:
        old = self.assign[unit]
        self.totals[:, old] -= self.model.measures[:, unit]
        self.totals[:, rep] += self.model.measures[:, unit]
        self.used += self.budget_delta(np.array([unit]), np.array([rep]), np.array([old]))[:, 0]
        self.assign[unit] = rep

    def within(self, reps, totals: np.ndarray) -> np.ndarray:
        """Which new totals (M × ...) of ``reps`` respect their bands (all measures)."""
        m = self.model
        lower, upper = m.lower[:, reps], m.upper[:, reps]
        extra = (1,) * (totals.ndim - lower.ndim)
        lower, upper = lower.reshape(lower.shape + extra), upper.reshape(upper.shape + extra)
        tol = 1e-9 * np.maximum(self.scale * m.n_reps, 1.0)
        tol = tol.reshape((-1,) + (1,) * (totals.ndim - 1))
        return np.all((totals <= upper + tol) & (totals >= lower - tol), axis=0)

    def budgets_ok(self, delta: np.ndarray) -> np.ndarray:
        """Which budget changes (B × ...) keep every budget within its limit."""
        if not self.model.budgets:
            return np.ones(delta.shape[1:], dtype=bool)
        shape = (-1,) + (1,) * (delta.ndim - 1)
        lim = self.limits.reshape(shape)
        new = self.used.reshape(shape) + delta
        return np.all(new <= lim + 1e-9 * np.maximum(np.abs(lim), 1.0), axis=0)

    def moves_ok(self, unit: np.ndarray, src: np.ndarray, rep: np.ndarray) -> np.ndarray:
        """Which single moves keep both reps' bands and every budget."""
        a = self.model.measures[:, unit]
        ok = self.within(src, self.totals[:, src] - a) & self.within(rep, self.totals[:, rep] + a)
        return ok & self.budgets_ok(self.budget_delta(unit, rep, src))

    # -- repair: reach the bands

    def repair(self, max_steps: int = 100_000) -> int:
        """Moves, else swaps, that cut the total violation, cheapest first."""
        steps = 0
        while self.violation() > EPS and steps < max_steps:
            done = self._repair_moves() or int(self._repair_swap())
            if not done:
                break
            steps += done
        return steps

    def _repair_moves(self) -> int:
        """One scan: every strong, cheap move whose two reps no earlier move touched.

        Moves that touch disjoint reps do not change each other's effect on the
        bands, so one pass over the pairs can apply many of them.
        """
        m = self.model
        live = self.p_rep != self.assign[self.p_unit]
        budgets = bool(m.budgets) and self.budget_violation(self.used) > EPS
        if not budgets:
            bad = self.rep_violation(self.totals, np.arange(m.n_reps)) > EPS
            live &= bad[self.assign[self.p_unit]] | bad[self.p_rep]
        live = np.flatnonzero(live)
        unit, rep = self.p_unit[live], self.p_rep[live]
        src = self.assign[unit]
        a = m.measures[:, unit]
        t_src, t_dst = self.totals[:, src], self.totals[:, rep]
        dv = (self.rep_violation(t_src - a, src) - self.rep_violation(t_src, src)
              + self.rep_violation(t_dst + a, rep) - self.rep_violation(t_dst, rep))
        if m.budgets:
            new = self.used[:, None] + self.budget_delta(unit, rep, src)
            dv += self.budget_violation(new) - self.budget_violation(self.used[:, None])
        if dv.size == 0 or dv.min() >= -EPS:
            return 0
        strong = np.flatnonzero(dv <= 0.25 * dv.min())
        dc = self.p_cost[live[strong]] - self.unit_cost(unit[strong], src[strong])
        touched = np.zeros(m.n_reps, dtype=bool)
        count = 0
        for k in strong[np.argsort(dc, kind="stable")]:
            r_from, r_to = int(src[k]), int(rep[k])
            if touched[r_from] or touched[r_to] or self.assign[unit[k]] != r_from:
                continue
            self.apply(int(unit[k]), r_to)
            touched[[r_from, r_to]] = True
            count += 1
            if m.budgets:
                break  # budgets are shared by every move: one at a time
        return count

    @staticmethod
    def _pick(dv: np.ndarray, dc: np.ndarray) -> int | None:
        """Among steps that remove at least half the best reduction, the cheapest."""
        if dv.size == 0 or dv.min() >= -EPS:
            return None
        near_best = np.flatnonzero(dv <= 0.5 * dv.min())
        return int(near_best[np.argmin(dc[near_best])])

    def _repair_swap(self, cap: int = 1500) -> bool:
        """Exchange one unit each way between a violated rep and a neighbour.

        Needed when a rep is over on one measure and under on another: no
        single move helps, but trading a unit for a differently shaped one does.
        Violated reps are tried from the worst until one exchange helps.
        """
        m = self.model
        viol = self.rep_violation(self.totals, np.arange(m.n_reps))
        owner = self.assign[self.p_unit]
        for r in np.argsort(-viol, kind="stable"):
            if viol[r] <= EPS:
                return False
            out = (owner == r) & (self.p_rep != r)  # r's units that may go to s
            into = (self.p_rep == r) & (owner != r)  # s's units that may come to r
            best = None
            for s in np.intersect1d(self.p_rep[out], owner[into]):
                i = np.flatnonzero(out & (self.p_rep == s))[:cap]
                j = np.flatnonzero(into & (owner == s))[:cap]
                found = self._swap_candidates(int(r), int(s), i, j)
                if found is not None and (best is None or found[0] < best[0]):
                    best = found
            if best is not None:
                _, ui, uj, s = best
                self.apply(ui, s)
                self.apply(uj, int(r))
                return True
        return False

    def _swap_candidates(self, r: int, s: int, i: np.ndarray, j: np.ndarray):
        m = self.model
        ui, uj = self.p_unit[i], self.p_unit[j]
        shift = m.measures[:, ui][:, :, None] - m.measures[:, uj][:, None, :]
        t_r = self.totals[:, r][:, None, None] - shift
        t_s = self.totals[:, s][:, None, None] + shift
        before = self.rep_violation(self.totals[:, [r]], r) + self.rep_violation(
            self.totals[:, [s]], s)
        dv = self.rep_violation(t_r, r) + self.rep_violation(t_s, s) - before
        if m.budgets:
            bi = self.budget_delta(ui, np.full(ui.size, s), np.full(ui.size, r))
            bj = self.budget_delta(uj, np.full(uj.size, r), np.full(uj.size, s))
            new = self.used[:, None, None] + bi[:, :, None] + bj[:, None, :]
            dv = dv + self.budget_violation(new) - self.budget_violation(self.used)
        dc = (self.p_cost[i] - self.unit_cost(ui, np.full(ui.size, r)))[:, None] + (
            self.unit_cost(uj, np.full(uj.size, r)) - self.unit_cost(uj, np.full(uj.size, s))
        )[None, :]
        k = self._pick(dv.ravel(), np.broadcast_to(dc, dv.shape).ravel())
        if k is None:
            return None
        a, b = divmod(k, uj.size)
        return float(dv.ravel()[k]), int(ui[a]), int(uj[b]), s

    # -- local search: improve the objective inside the bands

    def local_search(self, deadline: float, rng: np.random.Generator) -> tuple[int, int]:
        """Improving moves, then swaps, repeated until neither helps."""
        n_moves = n_swaps = 0
        while time.perf_counter() < deadline:
            moved = self._move_pass(deadline)
            swapped = self._swap_pass(deadline, rng)
            n_moves, n_swaps = n_moves + moved, n_swaps + swapped
            if moved + swapped == 0:
                break
        return n_moves, n_swaps

    def _deltas(self) -> tuple[np.ndarray, np.ndarray]:
        """Pair positions that are not the current assignment, and their cost change."""
        live = np.flatnonzero(self.p_rep != self.assign[self.p_unit])
        unit = self.p_unit[live]
        return live, self.p_cost[live] - self.unit_cost(unit, self.assign[unit])

    def _move_pass(self, deadline: float) -> int:
        """Apply improving single moves, best first, while they stay feasible."""
        live, delta = self._deltas()
        keep = delta < -EPS * np.maximum(1.0, np.abs(self.p_cost[live]))
        live, delta = live[keep], delta[keep]
        unit = self.p_unit[live]
        ok = self.moves_ok(unit, self.assign[unit], self.p_rep[live])
        live, delta = live[ok], delta[ok]
        done = np.zeros(self.model.n_units, dtype=bool)
        count = 0
        for k, p in enumerate(live[np.argsort(delta, kind="stable")]):
            u, rep = int(self.p_unit[p]), int(self.p_rep[p])
            one = np.array([u])
            if done[u] or not self.moves_ok(one, self.assign[one], np.array([rep]))[0]:
                continue
            self.apply(u, rep)
            done[u] = True
            count += 1
            if k % 512 == 0 and time.perf_counter() > deadline:
                break
        return count

    def _swap_pass(self, deadline: float, rng: np.random.Generator) -> int:
        """For each rep pair, the best-looking exchange of one unit each way."""
        m = self.model
        live, delta = self._deltas()
        src = self.assign[self.p_unit[live]]
        dst = self.p_rep[live]
        order = np.lexsort((delta, dst, src))
        live, delta, src, dst = live[order], delta[order], src[order], dst[order]
        group = src.astype(np.int64) * m.n_reps + dst
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        ends = np.r_[starts[1:], group.size]
        span = {int(group[a]): (int(a), int(b)) for a, b in zip(starts, ends, strict=True)}
        pairs = [(g // m.n_reps, g % m.n_reps) for g in span if g // m.n_reps < g % m.n_reps]
        count = 0
        for k in rng.permutation(len(pairs)):
            r, s = pairs[k]
            back = span.get(s * m.n_reps + r)
            if back is not None:
                count += self._best_swap(r, s, span[r * m.n_reps + s], back, live, delta)
            if time.perf_counter() > deadline:
                break
        return count

    def _best_swap(self, r, s, fwd, back, live, delta) -> int:
        """Apply the best feasible improving exchange between reps r and s, if any."""
        m = self.model
        a = live[fwd[0] : min(fwd[1], fwd[0] + SWAP_SHORTLIST)]
        b = live[back[0] : min(back[1], back[0] + SWAP_SHORTLIST)]
        ua, ub = self.p_unit[a], self.p_unit[b]
        if (self.assign[ua] != r).any() or (self.assign[ub] != s).any():
            return 0  # an earlier swap in this pass changed them; next pass
        gain = delta[fwd[0] : fwd[0] + a.size][:, None] + delta[back[0] : back[0] + b.size][None, :]
        if gain.min() >= -EPS * max(1.0, float(np.abs(self.p_cost[a]).max())):
            return 0
        shift = m.measures[:, ua][:, :, None] - m.measures[:, ub][:, None, :]
        ok = self.within(r, self.totals[:, r][:, None, None] - shift)
        ok &= self.within(s, self.totals[:, s][:, None, None] + shift)
        if m.budgets:
            da = self.budget_delta(ua, np.full(ua.size, s), np.full(ua.size, r))
            db = self.budget_delta(ub, np.full(ub.size, r), np.full(ub.size, s))
            ok &= self.budgets_ok(da[:, :, None] + db[:, None, :])
        gain = np.where(ok, gain, np.inf)
        i, j = np.unravel_index(int(np.argmin(gain)), gain.shape)
        if not gain[i, j] < -EPS * max(1.0, abs(float(self.p_cost[a[i]]))):
            return 0
        self.apply(int(ua[i]), s)
        self.apply(int(ub[j]), r)
        return 1
