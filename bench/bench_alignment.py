"""Benchmark territory alignment on synthetic accounts.

Run ``python bench/bench_alignment.py`` (or ``--quick`` for a smoke run).
Two cases, as in the planning guide: 10,000 accounts × 50 reps solved as a
MILP to a 1% gap, and 100,000 accounts × 200 reps by the LP heuristic.  Each
reports wall time, gap against the proven lower bound and peak memory, plus
a floor measured in the same run (the LP relaxation of the same model) so
that ratios, not raw seconds, can be compared across machines.  Results go
to ``bench/results/alignment.json`` and a markdown table to stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import psutil

from growthmap.plan.alignment.territories import AlignmentProblem, Balance, align_territories

RESULTS = Path(__file__).resolve().parent / "results" / "alignment.json"


def synthetic_accounts(n_units: int, n_reps: int, seed: int = 0) -> AlignmentProblem:
    """Accounts clustered in metro areas of a 1,000 km square, reps based among them.

    Potential is log-normal (a few large accounts, many small), workload grows
    with the square root of potential, and the current alignment is "nearest
    rep" with 15% of accounts drifted to another nearby rep — the usual state
    of an alignment that has not been redone for a few years.
    """
    rng = np.random.default_rng(seed)
    n_metros = max(5, n_reps // 4)
    metros = rng.uniform(0, 1000, (n_metros, 2))
    weight = rng.pareto(1.5, n_metros) + 1.0
    metro = rng.choice(n_metros, n_units, p=weight / weight.sum())
    xy = metros[metro] + rng.normal(0, 40, (n_units, 2))
    potential = rng.lognormal(mean=11.0, sigma=1.0, size=n_units)
    workload = 4.0 + 8.0 * np.sqrt(potential / potential.mean())
    rep_xy = xy[rng.choice(n_units, n_reps, replace=False)] + rng.normal(0, 10, (n_reps, 2))
    d2 = ((xy[:, None, :] - rep_xy[None, :, :]) ** 2).sum(-1) if n_units * n_reps <= 5e6 else None
    near = np.argsort(d2, axis=1)[:, :3] if d2 is not None else _nearest3(xy, rep_xy)
    drift = rng.random(n_units) < 0.15
    owner = np.where(drift, near[np.arange(n_units), rng.integers(1, 3, n_units)], near[:, 0])
    return AlignmentProblem(
        unit_ids=np.arange(n_units),
        rep_ids=np.array([f"R{r:03d}" for r in range(n_reps)]),
        potential=potential,
        workload=workload,
        current_owner=np.array([f"R{r:03d}" for r in owner]),
        unit_xy=xy,
        rep_xy=rep_xy,
    )


def _nearest3(xy: np.ndarray, rep_xy: np.ndarray) -> np.ndarray:
    out = np.empty((xy.shape[0], 3), dtype=np.int64)
    for start in range(0, xy.shape[0], 20_000):
        d2 = ((xy[start : start + 20_000, None, :] - rep_xy[None, :, :]) ** 2).sum(-1)
        out[start : start + 20_000] = np.argsort(d2, axis=1)[:, :3]
    return out


CASES = {
    "milp-10k": dict(n_units=10_000, n_reps=50, method="milp", mip_gap=0.01, time_limit=900),
    "heuristic-100k": dict(n_units=100_000, n_reps=200, method="heuristic", time_limit=900),
}
QUICK = {
    "milp-2k": dict(n_units=2_000, n_reps=20, method="milp", mip_gap=0.01, time_limit=300),
    "heuristic-10k": dict(n_units=10_000, n_reps=50, method="heuristic", time_limit=300),
}
BALANCE = [Balance("potential", tolerance=0.1), Balance("workload", tolerance=0.1)]


def floor_seconds(problem: AlignmentProblem) -> float:
    """The yardstick: one numpy pass finding every account's nearest rep."""
    began = time.perf_counter()
    for start in range(0, problem.n_units, 20_000):
        block = problem.distance_block(slice(start, start + 20_000))
        block.argmin(axis=0)
    return time.perf_counter() - began


def run_case(name: str, spec: dict) -> dict:
    """Generate, align and measure one case (meant to run in its own process)."""
    problem = synthetic_accounts(spec["n_units"], spec["n_reps"])
    floor = floor_seconds(problem)
    options = {k: spec[k] for k in ("method", "mip_gap", "time_limit") if k in spec}
    began, cpu = time.perf_counter(), time.process_time()
    res = align_territories(problem, BALANCE, "distance", **options)
    wall = time.perf_counter() - began
    deviation = res.rep_totals[["potential_deviation", "workload_deviation"]].abs().max()
    return {
        "case": name,
        "accounts": problem.n_units,
        "reps": problem.n_reps,
        "method": res.method,
        "status": res.status,
        "binaries": res.n_pairs,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "floor_seconds": round(floor, 4),
        "wall_over_floor": round(wall / floor, 1),
        "gap": res.gap,
        "objective_km": round(res.objective, 1),
        "bound_km": round(res.best_bound, 1),
        "moved": res.moved,
        "within_bounds": res.within_bounds,
        "max_potential_deviation": round(float(deviation["potential_deviation"]), 4),
        "max_workload_deviation": round(float(deviation["workload_deviation"]), 4),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "details": {k: v for k, v in res.details.items() if k != "lp_trace"},
    }


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _in_child(name: str, spec: dict) -> dict:
    """Run a case in a fresh interpreter, so that peak memory is that case's alone."""
    import subprocess

    out = subprocess.run(
        [sys.executable, __file__, "--case", name, "--spec", json.dumps(spec)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _table(rows: list[dict]) -> str:
    head = ("| case | accounts × reps | method | binaries | wall s | cpu s | × floor | gap "
            "| max dev. pot./work. | peak MB |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['accounts']:,} × {r['reps']} | {r['method']} "
            f"| {r['binaries']:,} | {r['wall_seconds']} | {r['cpu_seconds']} "
            f"| {r['wall_over_floor']} | {r['gap']:.2%} "
            f"| {r['max_potential_deviation']:.1%} / {r['max_workload_deviation']:.1%} "
            f"| {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small cases, for a smoke run")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:  # child process: one case, JSON on stdout
        print(json.dumps(run_case(args.case, json.loads(args.spec))))
        return
    cases = QUICK if args.quick else CASES
    rows = [_in_child(name, spec) for name, spec in cases.items()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "quick": args.quick,
        "balance": "potential ±10%, workload ±10% of the average rep",
        "objective": "total distance, km (each account counts once)",
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": psutil.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        },
        "cases": rows,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(_table(rows))


if __name__ == "__main__":
    main()
