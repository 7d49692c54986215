"""One benchmark measurement in a fresh process: ``python -m bench._worker TASK ...``.

Each task runs in its own interpreter so its peak memory is its own and
nothing cached by an earlier task makes it look faster.  The last line on stdout is a
JSON object: ``{"seconds": ..., "peak_rss_mb": ..., ...}``; the staged task reports one
entry per stage.  Peak resident memory is sampled by a thread every 20 ms (a window per
stage), which can miss a spike shorter than that.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from bench._reference import floor_query, load_floor, pandas_reference, value_floor_query


class PeakSampler:
    """Peak RSS of this process, sampled every ``interval`` seconds in a thread."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self._proc = psutil.Process()
        self._peak = 0
        self._overall = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def _sample(self) -> int:
        rss = self._proc.memory_info().rss
        self._peak = max(self._peak, rss)
        self._overall = max(self._overall, rss)
        return rss

    def reset(self) -> None:
        """Start a new window: :attr:`peak_mb` is the peak since this call."""
        self._peak = 0
        self._sample()

    @property
    def peak_mb(self) -> float:
        self._sample()
        return self._peak / 2**20

    @property
    def overall_mb(self) -> float:
        """The peak since the sampler started."""
        self._sample()
        return self._overall / 2**20

    def __enter__(self) -> PeakSampler:
        self.reset()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def _timed(out: dict[str, Any]) -> Iterator[None]:
    """Time the block and sample its peak RSS.  (Not ``ru_maxrss``: a child process
    inherits its parent's high-water mark at fork, so it would report the suite's.)"""
    with PeakSampler() as sampler:
        t = time.perf_counter()
        yield
        out["seconds"] = time.perf_counter() - t
        out["peak_rss_mb"] = sampler.overall_mb


def task_load(a: argparse.Namespace) -> dict[str, Any]:
    """Every input table through the real loader into a fresh workspace."""
    from growthmap.demo import INPUT_TABLES
    from growthmap.load import load_table
    from growthmap.workspace import Workspace

    out: dict[str, Any] = {}
    with _timed(out):
        ws = Workspace.create(a.ws, overwrite=True)
        rows = {}
        for name in INPUT_TABLES:
            f = Path(a.world) / f"{name}.parquet"
            if f.exists():
                load_table(ws, name, f, mapping=None, mode="replace")
                (rows[name],) = ws.con.execute(f"SELECT count(*) FROM main.{name}").fetchone()
        ws.close()
    out["rows"] = rows
    return out


def task_load_floor(a: argparse.Namespace) -> dict[str, Any]:
    """The load's floor: the same files copied by DuckDB's own reader into a table each
    of a fresh database file (no mapping, no validation, no quarantine)."""
    from growthmap.demo import INPUT_TABLES

    files = {n: Path(a.world) / f"{n}.parquet" for n in INPUT_TABLES
             if (Path(a.world) / f"{n}.parquet").exists()}
    out: dict[str, Any] = {}
    with _timed(out):
        out["rows"] = load_floor(files, Path(a.ws).with_suffix(".floor.duckdb"))
    return out


def task_value_floor(a: argparse.Namespace) -> dict[str, Any]:
    """The value stage's floor: its account x family figures as one raw query over the
    loaded workspace (see :func:`bench._reference.value_floor_query`)."""
    out: dict[str, Any] = {}
    as_of = dt.date.fromisoformat(a.as_of)
    months = _config(a).value.lookback_months
    with _timed(out):
        t = value_floor_query(Path(a.ws), as_of, months)
    out["rows"] = t.num_rows
    out["revenue_t12m"] = float(sum(t.column("revenue_t12m").to_pylist()))
    return out


def _config(a: argparse.Namespace) -> Any:
    from growthmap.config import Config, load_config

    return load_config(a.config) if a.config else Config()


def task_stages(a: argparse.Namespace) -> dict[str, Any]:
    """The whole run, stage by stage: each timed with its own peak-RSS window, then the
    snapshot write (what remains of it: outputs are written in the background as the
    stages publish them, so a stage's time includes sharing the machine with that).
    The sum is the whole run as ``growthmap.runner.duckdb_run.run`` does it (same
    stages, same order, same write), so one process measures both."""
    from growthmap.runner.pipeline import RunContext, stages
    from growthmap.runner.snapshot import OutputSpill, SnapshotWriter
    from growthmap.workspace import Workspace

    per: dict[str, Any] = {}
    t0 = time.perf_counter()
    with PeakSampler() as sampler:
        ws = Workspace.open(a.ws)
        config = _config(a)
        as_of = dt.date.fromisoformat(a.as_of)
        ctx = RunContext(config=config, as_of=as_of, source=ws)
        # as run() does: outputs are written as they come, large ones kept memory-mapped
        writer = SnapshotWriter(ws, OutputSpill()).attach(ctx)
        for st in stages():
            if a.only and st.name not in a.only.split(","):
                continue
            sampler.reset()
            t = time.perf_counter()
            st.run(ctx)
            per[st.name] = {"seconds": time.perf_counter() - t, "peak_rss_mb": sampler.peak_mb}
            print(f"stage {st.name}: {per[st.name]}", file=sys.stderr, flush=True)
        sampler.reset()
        t = time.perf_counter()
        sid = writer.commit(as_of=as_of, config=config, outputs=ctx.outputs,
                            evaluations=ctx.evaluations, notes=ctx.notes, label="bench")
        per["snapshot write"] = {"seconds": time.perf_counter() - t,
                                 "peak_rss_mb": sampler.peak_mb}
        ws.close()
        run = {"seconds": time.perf_counter() - t0, "peak_rss_mb": sampler.overall_mb}
    rows = {k: v.num_rows for k, v in ctx.outputs.items()}
    return {"stages": per, "run": run, "rows": rows, "snapshot_id": sid,
            "peak_rss_mb": run["peak_rss_mb"]}


def task_report(a: argparse.Namespace) -> dict[str, Any]:
    """The HTML report of the latest snapshot."""
    from growthmap.report.html import write_report
    from growthmap.workspace import Workspace

    out: dict[str, Any] = {}
    with _timed(out):
        ws = Workspace.open(a.ws, read_only=True)
        path = write_report(ws, Path(a.ws).with_suffix(".report.html"), _config(a))
        ws.close()
    out["bytes"] = path.stat().st_size
    return out


def task_floor(a: argparse.Namespace) -> dict[str, Any]:
    """The floor: one raw DuckDB scan + aggregate of the same Parquet."""
    out: dict[str, Any] = {}
    with _timed(out):
        t = floor_query(Path(a.world), dt.date.fromisoformat(a.as_of))
    out["rows"] = t.num_rows
    out["revenue_t12m"] = float(sum(t.column("revenue_t12m").to_pylist()))
    return out


def task_features(a: argparse.Namespace) -> dict[str, Any]:
    """The models' per-account features as of the run date, every account, to Arrow:
    the feature query the floor bounds (about 40 windowed aggregates per account, four
    of them distinct counts, against the floor's one sum)."""
    from growthmap.scores.features import FeatureInputs, account_features, vocabulary
    from growthmap.workspace import Workspace

    out: dict[str, Any] = {}
    as_of = dt.date.fromisoformat(a.as_of)
    with _timed(out):
        ws = Workspace.open(a.ws, read_only=True)
        inputs = FeatureInputs.from_source(ws)
        t = ws.backend.to_pyarrow(account_features(inputs, as_of, vocabulary(inputs, as_of)))
        ws.close()
    out["rows"], out["columns"] = t.num_rows, t.num_columns
    return out


def task_pandas(a: argparse.Namespace) -> dict[str, Any]:
    """The by-hand reference: pandas reading the Parquet, T12M, customer flag, tiers."""
    out: dict[str, Any] = {}
    with _timed(out):
        afv, av = pandas_reference(Path(a.world), dt.date.fromisoformat(a.as_of))
    out["rows"] = len(afv)
    out["revenue_t12m"] = float(av["revenue_t12m"].sum())
    out["customers"] = int(av["is_customer"].sum())
    out["tiers"] = {k: int(v) for k, v in av["value_tier"].value_counts().sort_index().items()}
    return out


def task_spark(a: argparse.Namespace) -> dict[str, Any]:
    """The whole run on a local Spark session reading the same Parquet."""
    import warnings

    from growthmap.runner.spark_run import SparkSource, run_spark, spark_session

    warnings.filterwarnings("ignore", message=".*pandas >= 3.0.0.*")
    cfg = _config(a)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    session = spark_session(cfg.run.spark)
    session.sparkContext.setLogLevel("ERROR")
    out["session_seconds"] = time.perf_counter() - t0
    with _timed(out):
        run_spark(cfg, SparkSource.from_parquet(session, a.world),
                  as_of=dt.date.fromisoformat(a.as_of), output_dir=Path(a.ws).parent / "spark-out")
    session.stop()
    out["note"] = "peak_rss_mb is the Python driver only; the JVM is a separate process"
    out["session_seconds_excluded"] = True
    return out


TASKS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "load": task_load, "stages": task_stages, "report": task_report,
    "floor": task_floor, "pandas": task_pandas, "spark": task_spark,
    "features": task_features, "load_floor": task_load_floor,
    "value_floor": task_value_floor,
}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench._worker")
    p.add_argument("task", choices=sorted(TASKS))
    p.add_argument("--world", required=True, help="folder of the world's Parquet files")
    p.add_argument("--ws", required=True, help="workspace file")
    p.add_argument("--as-of", required=True)
    p.add_argument("--config", default=None, help="growthmap.toml (default: built-in)")
    p.add_argument("--only", default=None, help="comma-separated stages (default: all)")
    a = p.parse_args()
    print(json.dumps(TASKS[a.task](a), default=str))


if __name__ == "__main__":
    main()
