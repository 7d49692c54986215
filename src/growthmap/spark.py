"""The scale-out path: the same pipeline on a Spark session through Ibis.

Inputs are Parquet files (one file or folder per contract table, named after the
table), Delta tables or catalog tables; the stages are the very same functions the
DuckDB path runs, executed by Spark wherever they are Ibis expressions.  Outputs are
written as Parquet under ``<output_dir>/snapshot_<n>/`` with a ``manifest.json``
(as-of, config, notes, evaluations), the Spark counterpart of a workspace snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import ibis
import pyarrow.parquet as pq

from growthmap import __version__
from growthmap.config import Config
from growthmap.config._run import SparkConfig
from growthmap.contract import TABLES
from growthmap.errors import InputError, WorkspaceError
from growthmap.pipeline import Progress, RunContext, run_stages
from growthmap.run import RunResult

__all__ = ["SparkSource", "run_spark", "spark_session"]


def spark_session(cfg: SparkConfig) -> Any:
    """A SparkSession from the ``[run.spark]`` config (local mode by default)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise WorkspaceError("engine = 'spark' needs pyspark",
                             hint="pip install 'growthmap[spark]' (and Java 17)") from None
    builder = (SparkSession.builder.master(cfg.master).appName("growthmap")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "8"))
    for k, v in cfg.conf.items():
        builder = builder.config(k, v)
    return builder.getOrCreate()


class SparkSource:
    """Input tables on Spark, as Ibis tables (the pipeline's ``Source`` protocol)."""

    def __init__(self, backend: Any, tables: dict[str, ibis.Table]) -> None:
        self.backend = backend
        self.tables = tables

    @classmethod
    def from_parquet(cls, session: Any, input_dir: str | Path) -> SparkSource:
        """Read ``<input_dir>/<table>.parquet`` (file or folder) for each contract table."""
        backend = ibis.pyspark.connect(session)
        root = Path(input_dir)
        if not root.is_dir():
            raise InputError(f"input folder {root} does not exist",
                             hint="give the folder holding accounts.parquet, "
                             "transactions.parquet, ...")
        tables = {}
        for name in TABLES:
            for cand in (root / f"{name}.parquet", root / name):
                if cand.exists():
                    tables[name] = backend.read_parquet(str(cand), table_name=f"gm_in_{name}")
                    break
        missing = [t for t in ("accounts", "transactions") if t not in tables]
        if missing:
            raise InputError(f"{root} has no {' or '.join(missing)} Parquet",
                             hint="name the files accounts.parquet and transactions.parquet")
        return cls(backend, tables)

    @classmethod
    def from_catalog(cls, session: Any, database: str | None = None) -> SparkSource:
        """Use tables named after the contract in a Spark catalog database."""
        backend = ibis.pyspark.connect(session)
        present = set(backend.list_tables(database=database))
        tables = {n: backend.table(n, database=database) for n in TABLES if n in present}
        return cls(backend, tables)

    def maybe_table(self, name: str) -> ibis.Table | None:
        return self.tables.get(name)


def _next_dir(out: Path) -> tuple[int, Path]:
    out.mkdir(parents=True, exist_ok=True)
    ids = [int(p.name.split("_")[1]) for p in out.glob("snapshot_*") if p.name[9:].isdigit()]
    sid = max(ids, default=0) + 1
    return sid, out / f"snapshot_{sid}"


def run_spark(
    config: Config,
    source: SparkSource,
    *,
    as_of: dt.date | None = None,
    output_dir: str | Path | None = None,
    write: bool = True,
    progress: Progress | None = None,
) -> RunResult:
    """Run every stage on Spark and write the outputs as Parquet."""
    if as_of is None:
        as_of = config.run.as_of
    if as_of is None:
        tx = source.tables["transactions"]
        as_of = source.backend.execute(tx.date.max())
        as_of = as_of.date() if hasattr(as_of, "date") and callable(as_of.date) else as_of
    ctx = RunContext(config=config, as_of=as_of, source=source, progress=progress)
    run_stages(ctx)
    sid = None
    if write:
        sid, target = _next_dir(Path(output_dir or config.run.spark.output_dir))
        tmp = target.with_name(target.name + ".partial")
        tmp.mkdir(parents=True)
        for name, table in ctx.outputs.items():
            pq.write_table(table, tmp / f"{name}.parquet")
        (tmp / "manifest.json").write_text(json.dumps({
            "snapshot_id": sid, "as_of": str(as_of), "engine": "spark",
            "code_version": __version__, "config": json.loads(config.model_dump_json()),
            "tables": sorted(ctx.outputs), "evaluations": ctx.evaluations, "notes": ctx.notes,
        }, default=str, indent=2))
        tmp.rename(target)  # all or nothing: a failed write leaves no snapshot folder
    return RunResult(sid, as_of, ctx.outputs, ctx.evaluations, ctx.notes)
