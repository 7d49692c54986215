"""The scale-out path: the same pipeline on a Spark session through Ibis.

Inputs are Parquet files (one file or folder per contract table, named after the
table), Delta tables or catalog tables; the stages are the very same functions the
DuckDB path runs, executed by Spark wherever they are Ibis expressions.  Outputs are
written as Parquet under ``<output_dir>/snapshot_<n>/`` with a ``manifest.json``
(as-of, config, notes, evaluations), the Spark counterpart of a workspace snapshot.

Before the stages run, :func:`validate_source` checks every input on the cluster with
the DuckDB loader's own rules (:mod:`growthmap.load.rules`: required columns, keys,
types, allowed values, ranges, references, unmarked credit notes, duplicate keys) and
writes failing rows with their reason to a Parquet quarantine.  Not on Spark: mapping
files and currency conversion (``docs/scaling.md`` says why).
Models train on the driver (they read their training frames through Ibis) and score
every account on the executors: :func:`map_in_pandas` runs a Python function over the
batches of an Ibis expression's Spark DataFrame and collects only its result.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from growthmap import __version__
from growthmap.config import Config
from growthmap.config._run import SparkConfig
from growthmap.contract.inputs import TABLES
from growthmap.errors import InputError, WorkspaceError
from growthmap.runner.duckdb_run import RunResult
from growthmap.runner.pipeline import Progress, RunContext, run_stages
from growthmap.runner.spark_validate import (
    SPARK_REASONS,
    ValidationReport,
    row_numbered,
    validate_tables,
)

__all__ = ["SPARK_REASONS", "VERSION_MISMATCH", "SparkSource", "ValidationReport",
           "map_in_pandas", "run_spark", "spark_session", "to_spark_dataframe",
           "validate_source"]

#: Start of the error an executor raises when its growthmap is not the driver's (see
#: :meth:`growthmap.scores.batch.AccountScorer.batches`).
VERSION_MISMATCH = "growthmap version mismatch between driver and executor"



def spark_session(cfg: SparkConfig) -> Any:
    """A SparkSession from the ``[run.spark]`` config (local mode by default)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise WorkspaceError("engine = 'spark' needs pyspark",
                             hint="pip install 'growthmap[spark]' (and Java 17)") from None
    python = cfg.conf.get("spark.pyspark.python") or os.environ.get("PYSPARK_PYTHON")
    if python is None and cfg.master.startswith("local"):
        # scoring runs Python on the executors; in local mode they must use this very
        # interpreter (PySpark's default is whatever ``python3`` is first on the PATH)
        python = sys.executable
    if python is not None and "PYSPARK_PYTHON" not in os.environ:
        os.environ["PYSPARK_PYTHON"] = python  # read by PySpark when the context starts
    builder = (SparkSession.builder.master(cfg.master).appName("growthmap")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "8"))
    for k, v in cfg.conf.items():
        builder = builder.config(k, v)
    return builder.getOrCreate()


def to_spark_dataframe(backend: Any, expr: ibis.Table) -> Any:
    """The (lazy) Spark DataFrame of an Ibis expression: nothing is computed or collected.

    Ibis 12 has no public method for this (ibis-project/ibis#10673); this is what its own
    ``to_parquet`` and ``to_delta`` do: register the expression's in-memory tables and
    UDFs with the session, then hand it the compiled SQL.
    """
    backend._run_pre_execute_hooks(expr)
    return backend.raw_sql(backend.compile(expr))


def map_in_pandas(backend: Any, expr: ibis.Table,
                  func: Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]],
                  output: Mapping[str, str]) -> pa.Table:
    """Run ``func`` over the pandas batches of ``expr`` on the executors; collect its output.

    ``expr`` is computed on the cluster and streamed to ``func`` in Arrow batches
    (``spark.sql.execution.arrow.maxRecordsPerBatch`` rows each), partition by
    partition; ``func`` must be picklable and importable on the executors.  Only its
    output -- columns ``output`` (name -> Ibis type) -- comes back, as Arrow.  Columns
    reach ``func`` with the types the Ibis schema gives them, whatever the SQL computed.

    An executor that cannot import what ``func`` needs (growthmap itself, pandas,
    LightGBM, ...) or runs another growthmap version stops the run with a
    :class:`~growthmap.errors.WorkspaceError` that says so.
    """
    from ibis.backends.pyspark.datatypes import PySparkSchema
    from pyspark.sql import functions as F

    df = to_spark_dataframe(backend, expr)
    types = PySparkSchema.from_ibis(expr.schema())
    df = df.select(*[F.col(f"`{f.name}`").cast(f.dataType).alias(f.name) for f in types])
    try:
        return df.mapInPandas(func, PySparkSchema.from_ibis(ibis.schema(dict(output)))
                              ).toArrow()
    except Exception as exc:  # PythonException, Py4JJavaError: the executor's traceback
        clear = _executor_error(exc)
        if clear is None:
            raise
        raise clear from exc


def _executor_error(exc: Exception) -> WorkspaceError | None:
    """A clear error for what a user can fix on the executors (None: not one of those)."""
    text = str(exc)
    missing = re.search(r"ModuleNotFoundError: No module named '([^']+)'", text)
    if missing:
        return WorkspaceError(
            f"the Spark executors cannot import {missing.group(1)!r}, which scoring needs",
            hint=f"install growthmap {__version__} with its dependencies in the executors' "
            "Python, or point spark.pyspark.python / PYSPARK_PYTHON at a Python that has it")
    mismatch = re.search(re.escape(VERSION_MISMATCH) + r"[^\n]*", text)
    if mismatch:
        return WorkspaceError(mismatch.group(0).rstrip(),
                              hint=f"install growthmap {__version__} on every executor")
    return None


class SparkSource:
    """Input tables on Spark, as Ibis tables (the pipeline's ``Source`` protocol)."""

    def __init__(self, backend: Any, tables: dict[str, ibis.Table],
                 paths: dict[str, str] | None = None) -> None:
        self.backend = backend
        self.tables = tables
        #: the Parquet file (or folder) of each table read from files: validation numbers
        #: its rows by their place in the file
        self.paths = paths or {}

    @classmethod
    def from_parquet(cls, session: Any, input_dir: str | Path) -> SparkSource:
        """Read ``<input_dir>/<table>.parquet`` (file or folder) for each contract table."""
        backend = ibis.pyspark.connect(session)
        root = Path(input_dir)
        if not root.is_dir():
            raise InputError(f"input folder {root} does not exist",
                             hint="give the folder holding accounts.parquet, "
                             "transactions.parquet, ...")
        tables, paths = {}, {}
        for name in TABLES:
            for cand in (root / f"{name}.parquet", root / name):
                if cand.exists():
                    tables[name] = backend.read_parquet(str(cand), table_name=f"gm_in_{name}")
                    paths[name] = str(cand)
                    break
        missing = [t for t in ("accounts", "transactions") if t not in tables]
        if missing:
            raise InputError(f"{root} has no {' or '.join(missing)} Parquet",
                             hint="name the files accounts.parquet and transactions.parquet")
        return cls(backend, tables, paths)

    @classmethod
    def from_catalog(cls, session: Any, database: str | None = None) -> SparkSource:
        """Use tables named after the contract in a Spark catalog database."""
        backend = ibis.pyspark.connect(session)
        present = set(backend.list_tables(database=database))
        tables = {n: backend.table(n, database=database) for n in TABLES if n in present}
        return cls(backend, tables)

    def maybe_table(self, name: str) -> ibis.Table | None:
        return self.tables.get(name)


def validate_source(source: SparkSource, quarantine_dir: str | Path | None = None
                    ) -> tuple[SparkSource, ValidationReport]:
    """Check every input against the loader's rules; quarantine failing rows to Parquet.

    The rules are the DuckDB loader's (:mod:`growthmap.load.rules`), translated to Ibis by
    :mod:`growthmap.runner.spark_validate`: a row quarantined by one engine is
    quarantined by the other for the same reason.  Returns a source of clean tables
    (cast to the contract types, cached on the cluster) and the counts; the quarantined
    rows with their ``row_number``, ``reason`` and ``column_name`` go to
    ``<quarantine_dir>/<table>.parquet`` when a folder is given.
    """
    be = source.backend
    numbered = {name: row_numbered(be, name, path=source.paths.get(name), table=t)
                for name, t in source.tables.items()}
    clean, report = validate_tables(be, numbered, quarantine_dir)
    return SparkSource(be, clean), report


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
    validate: bool = True,
    progress: Progress | None = None,
) -> RunResult:
    """Validate the inputs, run every stage on Spark and write the outputs as Parquet.

    With ``validate`` (the default) rows failing the contract are left out of the run and
    written with their reason to ``snapshot_<n>/quarantine/<table>.parquet``; the counts
    go into the manifest under ``validation``.
    """
    if as_of is None:
        as_of = config.run.as_of
    if as_of is None:
        tx = source.tables["transactions"]
        as_of = source.backend.execute(tx.date.max())
        as_of = as_of.date() if hasattr(as_of, "date") and callable(as_of.date) else as_of
    sid, target = (None, None)
    if write:
        sid, target = _next_dir(Path(output_dir or config.run.spark.output_dir))
    tmp = target.with_name(target.name + ".partial") if target else None
    validation: dict[str, Any] | None = None
    try:
        if validate:
            if progress:
                progress("validate")
            source, report = validate_source(source, tmp / "quarantine" if tmp else None)
            validation = report.as_dict()
        ctx = RunContext(config=config, as_of=as_of, source=source, progress=progress)
        run_stages(ctx)
    except BaseException:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp)  # a failed run leaves no trace, not even its quarantine
        raise
    if tmp is not None and target is not None:
        tmp.mkdir(parents=True, exist_ok=True)
        for name, table in ctx.outputs.items():
            pq.write_table(table, tmp / f"{name}.parquet")
        (tmp / "manifest.json").write_text(json.dumps({
            "snapshot_id": sid, "as_of": str(as_of), "engine": "spark",
            "code_version": __version__, "config": json.loads(config.model_dump_json()),
            "tables": sorted(ctx.outputs), "evaluations": ctx.evaluations, "notes": ctx.notes,
            "validation": validation,
        }, default=str, indent=2))
        tmp.rename(target)  # all or nothing: a failed write leaves no snapshot folder
    return RunResult(sid, as_of, ctx.outputs, ctx.evaluations, ctx.notes)
