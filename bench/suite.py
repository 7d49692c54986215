"""The benchmark suite: the demo world at each size, every stage timed, floors beside.

For each size the world is written to Parquet once (``write_world_parquet``), then every
measurement runs in a fresh interpreter (:mod:`bench._worker`) so its peak memory is its
own: the load through the real loader and DuckDB's own reader copying the same files
(the load's floor), each registered stage in order (time and peak RSS sampled per
stage), the whole run with its snapshot write, the HTML report, the floors (one raw
DuckDB scan of the same Parquet; the value stage's figures as one raw query over the
loaded workspace) and the pandas reference.  Medians of ``reps`` repetitions are
reported, with the verdict on each target of the scale issue (:mod:`bench._verdicts`);
results go to ``bench/results/suite.json`` and ``bench/RESULTS.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

from bench._verdicts import TARGETS, render_verdicts, verdicts

__all__ = ["TARGETS", "machine", "render_markdown", "run_suite"]

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results" / "suite.json"
RESULTS_MD = HERE / "RESULTS.md"

#: Tasks run for each size, in order (``load`` before the tasks that read its
#: workspace; ``report`` after ``stages``, the whole run: it reads the snapshot).
TASKS = ("floor", "pandas", "load_floor", "load", "value_floor", "features", "stages",
         "report")


def machine() -> dict[str, Any]:
    """Cores, memory and CPU model (never the host name or paths)."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import duckdb
    import ibis

    return {"cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "cpu_model": cpu, "os": platform.system(), "python": platform.python_version(),
            "duckdb": duckdb.__version__, "ibis": ibis.__version__,
            "load_average_at_start": [round(x, 1) for x in os.getloadavg()]}


def _worker(task: str, world: Path, ws: Path, as_of: dt.date, config: Path | None,
            log: Path, only: list[str] | None = None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench._worker", task, "--world", str(world),
           "--ws", str(ws), "--as-of", as_of.isoformat()]
    if config:
        cmd += ["--config", str(config)]
    if only:
        cmd += ["--only", ",".join(only)]
    t = time.perf_counter()
    with log.open("a") as err:
        err.write(f"\n== {task}\n")
        err.flush()
        proc = subprocess.run(cmd, cwd=HERE.parent, stdout=subprocess.PIPE, stderr=err,
                              text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench task {task} failed (exit {proc.returncode}); see {log}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_seconds"] = time.perf_counter() - t
    return out


def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    secs = [r["seconds"] for r in runs]
    return {"seconds": statistics.median(secs), "seconds_all": secs,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}


def _world(root: Path, n: int, seed: int, log: Any) -> tuple[Path, dict[str, Any]]:
    from growthmap.demo import write_world_parquet

    d = root / f"world_{n}"
    done = d / ".complete"
    t = time.perf_counter()
    if not done.exists():
        write_world_parquet(d, n_accounts=n, seed=seed, progress=log)
        done.write_text("ok")
        info = {"seconds": time.perf_counter() - t, "cached": False}
    else:
        info = {"seconds": None, "cached": True}
    import pyarrow.parquet as pq

    info["lines"] = pq.ParquetFile(d / "transactions.parquet").metadata.num_rows
    info["parquet_mb"] = round(sum(f.stat().st_size for f in d.glob("*.parquet")) / 2**20, 1)
    return d, info


def run_size(root: Path, n: int, *, reps: int, seed: int, config: Path | None,
             spark: bool, log: Path, say: Any, only: list[str] | None = None
             ) -> dict[str, Any]:
    """Every measurement at one size, ``reps`` times each (the load once per rep)."""
    from growthmap.demo import DEMO_AS_OF

    world, gen = _world(root, n, seed, say)
    say(f"{n:,} accounts: world ready ({gen['lines']:,} lines)")
    ws = root / f"ws_{n}.duckdb"
    raw: dict[str, list[dict[str, Any]]] = {}
    for rep in range(reps):
        for task in TASKS:
            say(f"{n:,} accounts: {task} (repetition {rep + 1} of {reps})")
            raw.setdefault(task, []).append(
                _worker(task, world, ws, DEMO_AS_OF, config, log, only))
        if spark:
            say(f"{n:,} accounts: spark run (repetition {rep + 1} of {reps})")
            raw.setdefault("spark", []).append(
                _worker("spark", world, ws, DEMO_AS_OF, config, log))
    m: dict[str, Any] = {t: _summarise(r) for t, r in raw.items() if t != "stages"}
    m["run"] = _summarise([r["run"] for r in raw["stages"]])
    stage_names = list(raw["stages"][0]["stages"])
    stages = {s: _summarise([r["stages"][s] for r in raw["stages"]]) for s in stage_names}
    floor, value = m["floor"]["seconds"], stages.get("value", {}).get("seconds")
    value_floor = m["value_floor"]["seconds"]
    ref, last = raw["pandas"][-1], raw["floor"][-1]
    feats = m["features"]["seconds"]
    ratios = {
        "value_vs_floor": value / value_floor if value and value_floor else None,
        "value_vs_scan_floor": value / floor if value and floor else None,
        "load_vs_reader": m["load"]["seconds"] / m["load_floor"]["seconds"],
        "features_vs_floor": feats / floor if feats and floor else None,
        "pandas_vs_value": m["pandas"]["seconds"] / value if value else None,
        "run_vs_floor": m["run"]["seconds"] / floor if floor else None,
    }
    peak = max([m[t]["peak_rss_mb"] for t in m] + [s["peak_rss_mb"] for s in stages.values()])
    size = {
        "n_accounts": n, "seed": seed, "as_of": DEMO_AS_OF.isoformat(), "reps": reps,
        "only": only,
        "world": gen, "rows": raw["stages"][-1]["rows"], "loaded_rows": raw["load"][-1]["rows"],
        "tasks": m, "stages": stages, "ratios": ratios, "peak_rss_mb": peak,
        "checks": {"floor_revenue_t12m": last["revenue_t12m"],
                   "value_floor_revenue_t12m": raw["value_floor"][-1]["revenue_t12m"],
                   "pandas_revenue_t12m": ref["revenue_t12m"],
                   "pandas_customers": ref["customers"], "pandas_tiers": ref["tiers"],
                   "load_floor_rows": raw["load_floor"][-1]["rows"]},
    }
    size["verdicts"] = verdicts(size)
    return size


def _fmt_s(v: float | None) -> str:
    return "–" if v is None else (f"{v:.2f}" if v < 10 else f"{v:.1f}")


def _fmt_mb(v: float | None) -> str:
    return "–" if v is None else f"{v:,.0f}"


def _size_label(size: dict[str, Any]) -> str:
    only = f" ({', '.join(size['only'])} only)" if size.get("only") else ""
    return f"{size['n_accounts']:,} accounts{only} ×{size['reps']}"


def render_markdown(result: dict[str, Any]) -> str:
    """The results as the markdown committed in ``bench/RESULTS.md``."""
    mach = result["machine"]
    sizes = result["sizes"]
    keys = list(sizes)
    lines = [
        "# Benchmark results", "",
        f"Measured {result['date']} with `python -m bench "
        f"--sizes {','.join(keys)} --reps {result['reps']}` on {mach['cores']} cores, "
        f"{mach['memory_gb']} GB RAM, {mach['cpu_model']} (Python {mach['python']}, "
        f"DuckDB {mach['duckdb']}, Ibis {mach['ibis']}).",
        "The machine was shared with other jobs (load average "
        f"{mach['load_average_at_start']} at the start), so times are noisy: each figure "
        "is the median of the repetitions, every run in a fresh process.",
        f"Stages registered, in run order: {', '.join(result['stages'])}. A size marked "
        "'only' ran those stages alone (its whole-run figure covers those only).", "",
        "Seconds (median) and peak resident memory (MB) per step:", "",
        "| step | " + " | ".join(f"{_size_label(sizes[k])} s | MB" for k in keys) + " |",
        "|---|" + "---:|---:|" * len(keys),
    ]
    rows: list[tuple[str, list[dict[str, Any] | None]]] = [
        ("floor: raw DuckDB scan + aggregate of the Parquet", [sizes[k]["tasks"]["floor"]
                                                               for k in keys]),
        ("value floor: the value stage's account x family figures, one raw query",
         [sizes[k]["tasks"].get("value_floor") for k in keys]),
        ("load floor: DuckDB's own reader copying the files into tables",
         [sizes[k]["tasks"].get("load_floor") for k in keys]),
        ("pandas reference (T12M, customer, tiers)", [sizes[k]["tasks"]["pandas"]
                                                      for k in keys]),
        ("load (validate + quarantine, all tables)", [sizes[k]["tasks"]["load"] for k in keys]),
        ("models' features as of the run date (every account)",
         [sizes[k]["tasks"].get("features") for k in keys]),
    ]
    for s in [*result["stages"], "snapshot write"]:  # stage names as the run registered
        label = f"stage `{s}`" if s != "snapshot write" else "snapshot write"
        rows.append((label, [sizes[k]["stages"].get(s) for k in keys]))
    rows += [("whole run (all stages + snapshot write)", [sizes[k]["tasks"]["run"]
                                                          for k in keys]),
             ("HTML report", [sizes[k]["tasks"]["report"] for k in keys])]
    if all("spark" in sizes[k]["tasks"] for k in keys):
        rows.append(("whole run on Spark local[2] (driver MB)",
                     [sizes[k]["tasks"]["spark"] for k in keys]))
    for label, cells in rows:
        lines.append(f"| {label} | " + " | ".join(
            f"{_fmt_s(c['seconds'])} | {_fmt_mb(c['peak_rss_mb'])}" if c else "– | –"
            for c in cells) + " |")
    lines += ["", "| size | lines | value ÷ value floor | value ÷ scan floor | "
              "load ÷ reader | features ÷ floor | pandas ÷ value | run ÷ floor |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for k in keys:
        r = sizes[k]["ratios"]

        def f(x: float | None) -> str:
            return "–" if x is None else f"{x:.2f}"

        lines.append(f"| {int(k):,} | {sizes[k]['world']['lines']:,} | "
                     f"{f(r['value_vs_floor'])} | {f(r.get('value_vs_scan_floor'))} | "
                     f"{f(r.get('load_vs_reader'))} | {f(r.get('features_vs_floor'))} | "
                     f"{f(r['pandas_vs_value'])} | {f(r['run_vs_floor'])} |")
    lines += ["", *render_verdicts(sizes)]
    if result.get("notes"):
        lines += ["Notes:", ""] + [f"- {n}" for n in result["notes"]] + [""]
    return "\n".join(lines)


def run_suite(sizes: list[int], *, reps: int = 3, seed: int = 42, workdir: Path,
              config: Path | None = None, spark: bool = False,
              json_path: Path = RESULTS_JSON, md_path: Path = RESULTS_MD,
              notes: list[str] | None = None, say: Any = print,
              only: list[str] | None = None) -> dict[str, Any]:
    """Run every size and write the JSON and the markdown; returns the result dict.

    ``only`` restricts the run to some stages (e.g. ``["value"]``): a partial run, for
    profiling one stage or a fast smoke test; the whole-run figure then covers those.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "bench.log"
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(), "reps": reps,
        "targets": [asdict(t) for t in TARGETS],
        "stages": [], "only": only, "notes": list(notes or []), "sizes": {},
    }
    for n in sizes:
        r = reps if n < 1_000_000 else 1
        res = run_size(workdir, n, reps=r, seed=seed, config=config, spark=spark, log=log,
                       say=say, only=only)
        result["sizes"][str(n)] = res
        if not only:
            result["stages"] = [s for s in res["stages"] if s != "snapshot write"]
        else:
            from growthmap.runner.pipeline import stages

            result["stages"] = [s.name for s in stages()]
        json_path.parent.mkdir(parents=True, exist_ok=True)  # after each size: a long
        json_path.write_text(json.dumps(result, indent=1, default=str))  # run keeps
        md_path.write_text(render_markdown(result))  # what it measured
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=1, default=str))
    md_path.write_text(render_markdown(result))
    return result
