"""Spark beside DuckDB: the whole run stage by stage, the same outputs, a scaling model.

``python -m bench.bench_spark --sizes 100000,200000,400000 [--master local[2]]``

For each size the demo world is written to Parquet once; then, each in a fresh process,

- **duckdb**: every input through the real loader into a workspace, then every
  registered stage in order;
- **spark**: a local Spark session reads the same Parquet, :func:`validate_source`
  checks it, then the very same stages run on Spark.

Each step is timed (wall seconds) together with the CPU seconds it cost, split by
process: the Python driver, and -- on Spark -- the JVM (where the executors' tasks
run in local mode) plus the Python workers it starts for ``mapInPandas``.  That split
is what the scaling model needs: CPU spent in the JVM and its Python workers is
executor work, which N executors share; CPU spent in the Python driver is serial.

Both engines write their outputs to Parquet, which the parent compares table by table
(row counts; text, integer and date columns exactly; floats at 1e-6 relative) and
summarises by key figures (sums of the main money columns, counts of labels).

The scaling model, per step, fitted by least squares over the sizes measured::

    wall(n, N) = fixed + driver_cpu(n) + executor_cpu(n) / N

with ``driver_cpu`` and ``executor_cpu`` linear in the number of accounts ``n``, and
``fixed`` the wall time the CPU does not explain on ``local[2]`` (task scheduling,
waiting on I/O, the JVM's JIT); N is the number of executor cores.  Results go to
``bench/results/spark.json`` and ``bench/results/spark.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results" / "spark.json"
RESULTS_MD = HERE / "results" / "spark.md"
#: Relative tolerance of the float comparison: both engines add sums of floats in
#: their own order, and models trained on the same rows agree far closer than this.
RTOL = 1e-6
#: Money columns whose totals the report shows side by side (when present).
KEY_FIGURES = {
    "account_value": ("revenue_t12m", "gross_margin_t12m"),
    "account_family_value": ("revenue_t12m",),
    "potential_account": ("potential", "whitespace"),
    "potential": ("potential", "whitespace"),
    "propensity": ("score",),
    "segments": ("revenue_t12m",),
}
#: Cluster sizes (executor cores) and account counts the model projects to.
PROJECT_CORES = (2, 8, 32, 128)
PROJECT_SIZES = (1_000_000, 10_000_000, 100_000_000)


# -- measuring in the worker -----------------------------------------------------------
class _Sampler:
    """Peak RSS (MB) of the driver and of its descendants (the JVM), every 200 ms."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.peak_driver = 0.0
        self.peak_children = 0.0
        self.cpu = 0.0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.cpu = time.thread_time()  # this thread's own CPU, left out of the driver's
            try:
                self.peak_driver = max(self.peak_driver, self.me.memory_info().rss / 2**20)
                kids = 0.0
                for k in self.me.children(recursive=True):
                    with suppress(psutil.Error):
                        kids += k.memory_info().rss / 2**20
                self.peak_children = max(self.peak_children, kids)
            except psutil.Error:
                pass
            self._stop.wait(0.2)

    def reset(self) -> None:
        self.peak_driver = self.me.memory_info().rss / 2**20
        self.peak_children = 0.0

    def __enter__(self) -> _Sampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def _cpu() -> tuple[float, float]:
    """(CPU seconds of this process, of all its descendants, living or reaped)."""
    me = psutil.Process()
    t = me.cpu_times()
    kids = t.children_user + t.children_system
    for k in me.children(recursive=True):
        try:
            c = k.cpu_times()
            kids += c.user + c.system + c.children_user + c.children_system
        except psutil.Error:
            pass
    return t.user + t.system, kids


@contextmanager
def _step(steps: dict[str, Any], name: str, sampler: _Sampler) -> Iterator[None]:
    sampler.reset()
    d0, k0 = _cpu()
    s0 = sampler.cpu
    t0 = time.perf_counter()
    yield
    wall = time.perf_counter() - t0
    d1, k1 = _cpu()
    own = sampler.cpu - s0  # the sampler's walks over the process tree are not the run's
    steps[name] = {"seconds": wall, "driver_cpu": d1 - d0 - own, "executor_cpu": k1 - k0,
                   "sampler_cpu": own,
                   "driver_mb": sampler.peak_driver, "jvm_mb": sampler.peak_children}
    print(f"{name}: {steps[name]}", file=sys.stderr, flush=True)


def _write_outputs(outputs: dict[str, pa.Table], out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    for name, table in outputs.items():
        pq.write_table(table, out / f"{name}.parquet")
    return {k: v.num_rows for k, v in outputs.items()}


def _config(path: str | None) -> Any:
    from growthmap.config import Config, load_config

    return load_config(path) if path else Config()


def task_duckdb(a: argparse.Namespace) -> dict[str, Any]:
    """Load every input into a fresh workspace, then each stage in turn."""
    from growthmap.demo import INPUT_TABLES
    from growthmap.load import load_table
    from growthmap.runner.pipeline import RunContext, stages
    from growthmap.workspace import Workspace

    steps: dict[str, Any] = {}
    quarantined: dict[str, dict[str, int]] = {}
    with _Sampler() as sampler:
        t0 = time.perf_counter()
        with _step(steps, "load", sampler):
            ws = Workspace.create(Path(a.out) / "ws.duckdb", overwrite=True)
            for name in INPUT_TABLES:
                f = Path(a.world) / f"{name}.parquet"
                if f.exists():
                    rep = load_table(ws, name, f, mapping=None, mode="replace")
                    quarantined[name] = dict(rep.by_reason)
        ctx = RunContext(config=_config(a.config), as_of=dt.date.fromisoformat(a.as_of),
                         source=ws)
        run_t0 = time.perf_counter()
        for st in stages():
            with _step(steps, st.name, sampler):
                st.run(ctx)
        run_seconds = time.perf_counter() - run_t0
        total = time.perf_counter() - t0
        ws.close()
    rows = _write_outputs(ctx.outputs, Path(a.out) / "outputs")
    return {"steps": steps, "run_seconds": run_seconds, "total_seconds": total,
            "rows": rows, "quarantined": quarantined}


def task_spark(a: argparse.Namespace) -> dict[str, Any]:
    """A local Spark session on the same Parquet: validation, then each stage in turn."""
    import warnings

    from growthmap.config._run import SparkConfig
    from growthmap.runner.pipeline import RunContext, stages
    from growthmap.runner.spark_run import SparkSource, spark_session, validate_source

    warnings.filterwarnings("ignore", message=".*pandas >= 3.0.0.*")
    steps: dict[str, Any] = {}
    with _Sampler() as sampler:
        with _step(steps, "session start", sampler):
            # in local mode the executors are threads of the driver's JVM: its heap is
            # what they share (Spark's 1 GB default spills at a few 100k accounts)
            session = spark_session(SparkConfig(master=a.master, conf={
                "spark.driver.memory": a.jvm_memory, "spark.ui.showConsoleProgress": "false",
                "spark.sql.shuffle.partitions": str(a.partitions)}))
            session.sparkContext.setLogLevel("ERROR")
        t0 = time.perf_counter()
        with _step(steps, "load", sampler):
            source, report = validate_source(SparkSource.from_parquet(session, a.world))
        ctx = RunContext(config=_config(a.config), as_of=dt.date.fromisoformat(a.as_of),
                         source=source)
        run_t0 = time.perf_counter()
        for st in stages():
            with _step(steps, st.name, sampler):
                st.run(ctx)
        run_seconds = time.perf_counter() - run_t0
        total = time.perf_counter() - t0
        session.stop()
    rows = _write_outputs(ctx.outputs, Path(a.out) / "outputs")
    return {"steps": steps, "run_seconds": run_seconds, "total_seconds": total,
            "rows": rows, "quarantined": report.quarantined, "master": a.master}


# -- comparing the outputs ---------------------------------------------------------------
def _canon(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return repr([_canon(x) for x in v])
    if isinstance(v, dict):
        return repr(sorted((k, _canon(x)) for k, x in v.items()))
    return v


def _is_float(t: pa.Table, c: str) -> bool:
    typ = t.schema.field(c).type
    return pa.types.is_floating(typ) or pa.types.is_decimal(typ)


def compare_table(name: str, duck: pa.Table, spark: pa.Table) -> dict[str, Any]:
    """Row counts, columns that differ (and by how much) and key figures side by side."""
    out: dict[str, Any] = {"rows": [duck.num_rows, spark.num_rows], "differing": {}}
    cols = [c for c in duck.column_names if c in spark.column_names]
    out["columns_only_in"] = {
        "duckdb": sorted(set(duck.column_names) - set(spark.column_names)),
        "spark": sorted(set(spark.column_names) - set(duck.column_names))}
    for c in KEY_FIGURES.get(name, ()):
        if c in cols and _is_float(duck, c):
            out.setdefault("figures", {})[c] = [
                float(np.nansum(np.asarray(duck[c].to_numpy(zero_copy_only=False), float))),
                float(np.nansum(np.asarray(spark[c].to_numpy(zero_copy_only=False), float)))]
    if duck.num_rows != spark.num_rows:
        return out
    floats = [c for c in cols if _is_float(duck, c) or _is_float(spark, c)]
    exact = [c for c in cols if c not in floats]
    # rows matched on their exact columns (ids, labels, dates), floats as tie-breakers
    d = {c: [_canon(v) for v in duck[c].to_pylist()] for c in cols}
    s = {c: [_canon(v) for v in spark[c].to_pylist()] for c in cols}

    def order(x: dict[str, list[Any]]) -> list[int]:
        def k(i: int) -> tuple:
            return tuple([(x[c][i] is not None, repr(x[c][i])) for c in exact]
                         + [(x[c][i] is not None, round(x[c][i] or 0.0, 4)) for c in floats])
        return sorted(range(duck.num_rows), key=k)

    od, os_ = order(d), order(s)
    for c in floats:
        a = np.array([np.nan if d[c][i] is None else d[c][i] for i in od], float)
        b = np.array([np.nan if s[c][i] is None else s[c][i] for i in os_], float)
        ok = np.isclose(a, b, rtol=RTOL, atol=1e-9, equal_nan=True)
        if not ok.all():
            rel = np.abs(a - b) / np.maximum(np.abs(a), 1e-12)
            out["differing"][c] = {"rows": int((~ok).sum()),
                                   "max_rel": float(np.nanmax(np.where(ok, 0, rel)))}
    for c in exact:
        bad = sum(1 for i, j in zip(od, os_, strict=True) if d[c][i] != s[c][j])
        if bad:
            out["differing"][c] = {"rows": bad}
    return out


def compare(duck_dir: Path, spark_dir: Path) -> dict[str, Any]:
    names = sorted({p.stem for p in duck_dir.glob("*.parquet")}
                   | {p.stem for p in spark_dir.glob("*.parquet")})
    out: dict[str, Any] = {}
    for n in names:
        a, b = duck_dir / f"{n}.parquet", spark_dir / f"{n}.parquet"
        if not (a.exists() and b.exists()):
            out[n] = {"only_in": "duckdb" if a.exists() else "spark"}
            continue
        out[n] = compare_table(n, pq.read_table(a), pq.read_table(b))
    return out


# -- the scaling model -------------------------------------------------------------------
def _linear(x: list[float], y: list[float]) -> tuple[float, float]:
    """(intercept, slope) by least squares; a flat line from one point."""
    if len(x) == 1:
        return 0.0, y[0] / x[0]
    slope, icept = np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)
    return float(icept), float(slope)


def fit_model(sizes: dict[int, dict[str, Any]], cores: int) -> dict[str, Any]:
    """Per step: driver and executor CPU seconds, each linear in accounts.

    CPU seconds, not wall seconds, carry the model: on a shared machine the wall time
    of a step includes waiting for a core, which says nothing about a cluster.  What
    the CPU does not explain is kept as ``unexplained`` (per size) for the record.
    """
    ns = sorted(sizes)
    steps = [s for s in sizes[ns[0]]["spark"]["steps"] if s != "session start"]
    model: dict[str, Any] = {"_sampler_rate": {}}
    for n in ns:
        _drop_sampler(sizes[n]["spark"]["steps"], model["_sampler_rate"], n)
    for s in steps:
        rec = [sizes[n]["spark"]["steps"][s] for n in ns]
        d0, d1 = _linear([float(n) for n in ns], [r["driver_cpu"] for r in rec])
        e0, e1 = _linear([float(n) for n in ns], [r["executor_cpu"] for r in rec])
        model[s] = {"driver_cpu": [d0, d1], "executor_cpu": [e0, e1],
                    "unexplained": [r["seconds"] - r["driver_cpu"] - r["executor_cpu"] / cores
                                    for r in rec],
                    "jvm_mb": [r["jvm_mb"] for r in rec],
                    "driver_mb": [r["driver_mb"] for r in rec]}
    return model


#: Steps during which the Python driver only waits for Spark (validation and SQL
#: aggregates run in the JVM): what the driver spends then is the sampler's.
_IDLE_DRIVER = ("load", "value", "markets")


def _drop_sampler(steps: dict[str, Any], rates: dict[int, float], n: int) -> None:
    """Driver CPU without the memory sampler's own (a thread of the driver).

    Runs that recorded the sampler's CPU (``sampler_cpu``) have it left out already; for
    older records its rate (CPU seconds per wall second) is taken as the lowest driver
    CPU rate of the steps in which the driver only waits, and that much is taken off
    every step (floored at zero), keeping the raw figure as ``driver_cpu_raw``.
    """
    if all("sampler_cpu" in r or "driver_cpu_raw" in r for r in steps.values()):
        return
    idle = [steps[s]["driver_cpu"] / steps[s]["seconds"] for s in _IDLE_DRIVER
            if s in steps and steps[s]["seconds"] > 0]
    rate = min(idle) if idle else 0.0
    rates[n] = rate
    for r in steps.values():
        r["driver_cpu_raw"] = r["driver_cpu"]
        r["driver_cpu"] = max(0.0, r["driver_cpu"] - rate * r["seconds"])


def project(model: dict[str, Any], n: int, n_cores: int) -> dict[str, float]:
    """Predicted seconds per step at ``n`` accounts on ``n_cores`` executor cores: the
    driver's CPU (serial) plus the executors' CPU shared by the cores; no scheduling
    latency, no waiting for a core (a lower bound)."""
    out = {}
    for s, m in model.items():
        if s.startswith("_"):
            continue
        d0, d1 = m["driver_cpu"]
        e0, e1 = m["executor_cpu"]
        out[s] = max(0.0, d0 + d1 * n) + max(0.0, e0 + e1 * n) / n_cores
    return out


def _cores(master: str) -> int:
    """Executor cores of a ``local[k]`` master (``local[*]``: this machine's)."""
    found = re.fullmatch(r"local\[(\d+)\]", master)
    return int(found.group(1)) if found else os.cpu_count() or 1


# -- the parent --------------------------------------------------------------------------
def _world(root: Path, n: int, seed: int) -> Path:
    from growthmap.demo import write_world_parquet

    d = root / f"world_{n}"
    if not (d / ".complete").exists():
        write_world_parquet(d, n_accounts=n, seed=seed)
        (d / ".complete").write_text("ok")
    return d


def _run_worker(task: str, a: argparse.Namespace, world: Path, out: Path,
                log: Path) -> dict[str, Any]:
    from growthmap.demo import DEMO_AS_OF

    cmd = [sys.executable, "-m", "bench.bench_spark", "--task", task, "--world", str(world),
           "--out", str(out), "--as-of", DEMO_AS_OF.isoformat(), "--master", a.master,
           "--jvm-memory", a.jvm_memory, "--partitions", str(a.partitions)]
    if a.config:
        cmd += ["--config", str(a.config)]
    with log.open("a") as err:
        err.write(f"\n== {task} {world.name}\n")
        err.flush()
        proc = subprocess.run(cmd, cwd=HERE.parent, stdout=subprocess.PIPE, stderr=err,
                              text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{task} failed (exit {proc.returncode}); see {log}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def render_markdown(res: dict[str, Any]) -> str:
    """The tables of ``bench/results/spark.md``."""
    sizes = {int(k): v for k, v in res["sizes"].items()}
    ns = sorted(sizes)
    m = res["machine"]
    lines = [f"# Spark ({res['master']}) beside DuckDB, measured {res['measured']}", "",
             f"{m['cores']} cores, {m['memory_gb']} GB RAM, {m['cpu_model']}; load average "
             f"at the start {m['load_average_at_start']}. One run per size, each engine in "
             "a fresh process; Spark's session start is shown apart and left out of its "
             "totals.", ""]
    head = "| step | " + " | ".join(f"{n:,} DuckDB s | {n:,} Spark s" for n in ns) + " |"
    lines += [head, "|---|" + "---:|" * (2 * len(ns))]
    steps = list(sizes[ns[0]]["spark"]["steps"])
    for s in steps:
        cells = []
        for n in ns:
            dd = sizes[n]["duckdb"]["steps"].get(s)
            sp = sizes[n]["spark"]["steps"].get(s)
            cells += [f"{dd['seconds']:.1f}" if dd else "", f"{sp['seconds']:.1f}" if sp else ""]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    cells = []
    for n in ns:
        cells += [f"{sizes[n]['duckdb']['total_seconds']:.1f}",
                  f"{sizes[n]['spark']['total_seconds']:.1f}"]
    lines.append("| **load + whole run** | " + " | ".join(cells) + " |")
    lines += ["", "CPU seconds on Spark per step (driver = the Python driver; executors = "
              "the JVM and its Python workers), and peak MB (Python driver / JVM):", "",
              "| step | " + " | ".join(f"{n:,} driver CPU | executors CPU | MB driver/JVM"
                                     for n in ns) + " |",
              "|---|" + "---:|" * (3 * len(ns))]
    for s in steps:
        cells = []
        for n in ns:
            r = sizes[n]["spark"]["steps"][s]
            cells += [f"{r['driver_cpu']:.1f}", f"{r['executor_cpu']:.1f}",
                      f"{r['driver_mb']:,.0f} / {r['jvm_mb']:,.0f}"]
        lines.append(f"| {s} | " + " | ".join(cells) + " |")
    lines += ["", "Outputs compared (largest size): tables whose columns differ beyond "
              f"{RTOL:g} relative, and key figures (DuckDB / Spark):", ""]
    big = sizes[ns[-1]]["compare"]
    for t, c in big.items():
        if "only_in" in c:
            lines.append(f"- `{t}`: only on {c['only_in']}")
            continue
        figs = "; ".join(f"{k} {a:,.2f} / {b:,.2f}" for k, (a, b) in c.get("figures", {}).items())
        diff = ", ".join(f"{k} ({v['rows']:,} rows"
                         + (f", up to {v['max_rel']:.1e} rel." if "max_rel" in v else "") + ")"
                         for k, v in c["differing"].items()) or "identical"
        rows = "rows equal" if c["rows"][0] == c["rows"][1] else f"rows {c['rows']}"
        lines.append(f"- `{t}`: {rows}; {diff}" + (f"; {figs}" if figs else ""))
    lines += ["", "Projection of the fitted model (seconds of load + run: driver CPU + "
              "executor CPU / N; a lower bound without scheduling latency) by executor "
              "cores N:", "",
              "| accounts | " + " | ".join(f"N = {c}" for c in PROJECT_CORES) + " |",
              "|---:|" + "---:|" * len(PROJECT_CORES)]
    for n in PROJECT_SIZES:
        cells = [f"{sum(project(res['model'], n, c).values()):,.0f}" for c in PROJECT_CORES]
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
    lines += ["", "Per step at 10,000,000 accounts, N = 32 (seconds): "
              + ", ".join(f"{k} {v:,.0f}"
                          for k, v in project(res["model"], 10_000_000, 32).items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_spark", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100000,200000,400000")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--jvm-memory", default="6g", help="spark.driver.memory (local mode)")
    p.add_argument("--partitions", type=int, default=8, help="spark.sql.shuffle.partitions")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--config", default=None, help="growthmap.toml to run with")
    p.add_argument("--workdir", type=Path,
                   default=Path(tempfile.gettempdir()) / "growthmap-bench-spark",
                   help="worlds and outputs (kept: a later call reuses them)")
    p.add_argument("--json", type=Path, default=RESULTS_JSON)
    p.add_argument("--markdown", type=Path, default=RESULTS_MD)
    p.add_argument("--render", action="store_true",
                   help="measure nothing: fit and render the results in --json again")
    p.add_argument("--again", action="store_true",
                   help="measure again sizes whose results are in --workdir")
    p.add_argument("--task", choices=("duckdb", "spark"), help=argparse.SUPPRESS)
    p.add_argument("--world", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--as-of", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.task:
        fn = task_duckdb if a.task == "duckdb" else task_spark
        print(json.dumps(fn(a), default=str))
        return 0
    if a.render:  # fit and render again what --json holds
        res = json.loads(a.json.read_text())
        res["model"] = fit_model({int(k): v for k, v in res["sizes"].items()},
                                 cores=_cores(a.master))
        a.json.write_text(json.dumps(res, indent=1, default=str))
        a.markdown.write_text(render_markdown(res))
        print(a.markdown.read_text())
        return 0
    from bench.suite import machine

    a.workdir.mkdir(parents=True, exist_ok=True)
    log = a.workdir / "bench_spark.log"
    res: dict[str, Any] = {"master": a.master, "machine": machine(),
                           "measured": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                           "sizes": {}}
    if a.json.exists():  # sizes measured earlier are kept (one size per call is fine)
        res["sizes"] = json.loads(a.json.read_text()).get("sizes", {})
    for n in [int(s) for s in a.sizes.split(",") if s.strip()]:
        world = _world(a.workdir, n, a.seed)
        rec: dict[str, Any] = {}
        for task in ("duckdb", "spark"):
            done = a.workdir / f"{task}_{n}" / "result.json"
            if done.exists() and not a.again:  # measured already: a failed call resumes
                rec[task] = json.loads(done.read_text())
                continue
            print(f"{n:,} accounts: {task}", file=sys.stderr, flush=True)
            rec[task] = _run_worker(task, a, world, a.workdir / f"{task}_{n}", log)
            done.write_text(json.dumps(rec[task], default=str))
        rec["compare"] = compare(a.workdir / f"duckdb_{n}" / "outputs",
                                 a.workdir / f"spark_{n}" / "outputs")
        res["sizes"][str(n)] = rec
        res["model"] = fit_model({int(k): v for k, v in res["sizes"].items()},
                                 cores=_cores(a.master))
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(res, indent=1, default=str))
        a.markdown.write_text(render_markdown(res))
    print(a.markdown.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
