"""The same pipeline on DuckDB and on Spark gives the same outputs.

One demo world is written to Parquet once; DuckDB loads it through the real loader
(``bad_rows=False``, so nothing is quarantined and both engines see identical inputs)
and Spark reads the very same files.  Every output table both engines produce is
compared: row counts and integer, text, boolean and date columns exactly, floats at
1e-9 relative (sums of floats may be added in a different order on each engine).

On Spark the models score every account on the executors (``mapInPandas``), DuckDB
in-process; the scores must still be identical, and a test checks in Spark's own record
that the scoring query ran there.

The model settings are lighter than the defaults (fewer boosting rounds, one backtest
cut-off) only to keep the file fast; equivalence does not depend on model size.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("pyspark")

from growthmap.config import Config
from growthmap.demo import DEMO_AS_OF, INPUT_TABLES, write_world_parquet
from growthmap.errors import InputError
from growthmap.load import load_table
from growthmap.runner.duckdb_run import run
from growthmap.workspace import Workspace

pytestmark = [pytest.mark.spark, pytest.mark.slow]

N_ACCOUNTS = 1500
SEED = 3
RTOL = 1e-9


def _light_config() -> Config:
    return Config.from_dict({
        "scores": {"n_estimators": 20, "backtest_cutoffs": 1, "train_cutoffs": 2,
                   "calibration_folds": 2, "n_jobs": 1},
        "potential": {"n_estimators": 20, "folds": 2, "n_jobs": 1, "backtest": False},
    })


@pytest.fixture(scope="session")
def spark() -> Any:
    """One local Spark session for the whole test session (start-up is slow)."""
    from growthmap.config._run import SparkConfig
    from growthmap.runner.spark_run import spark_session

    warnings.filterwarnings("ignore", message=".*pandas >= 3.0.0.*")
    cfg = SparkConfig(master="local[2]", conf={"spark.sql.shuffle.partitions": "4",
                                               "spark.ui.enabled": "false",
                                               "spark.ui.showConsoleProgress": "false"})
    session = spark_session(cfg)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("world")
    write_world_parquet(d, n_accounts=N_ACCOUNTS, seed=SEED, bad_rows=False)
    return d


@pytest.fixture(scope="module")
def duck_outputs(world: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    ws = Workspace.create(tmp_path_factory.mktemp("ws") / "eq.duckdb")
    try:
        for name in INPUT_TABLES:
            load_table(ws, name, world / f"{name}.parquet", mapping=None, mode="replace")
        yield run(ws, _light_config(), as_of=DEMO_AS_OF)
    finally:
        ws.close()


@pytest.fixture(scope="module")
def spark_result(spark: Any, world: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from growthmap.runner.spark_run import SparkSource, run_spark

    out = tmp_path_factory.mktemp("spark-out")
    res = run_spark(_light_config(), SparkSource.from_parquet(spark, world),
                    as_of=DEMO_AS_OF, output_dir=out)
    return res, out


# -- comparison -------------------------------------------------------------------------
def _canon(v: Any) -> Any:
    """An engine-neutral Python value: dates as ISO text, NaN as None, lists as tuples."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return tuple(_canon(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _canon(x)) for k, x in v.items()))
    return v


def _is_float(t: pa.Table, col: str) -> bool:
    typ = t.schema.field(col).type
    return pa.types.is_floating(typ) or pa.types.is_decimal(typ)


def _columns(t: pa.Table, cols: list[str]) -> dict[str, list[Any]]:
    return {c: [_canon(v) for v in t.column(c).to_pylist()] for c in cols}


def _order(cols: dict[str, list[Any]], exact: list[str], floats: list[str]) -> list[int]:
    """Row order by the exact columns first (None first), rounded floats after."""
    n = len(next(iter(cols.values()))) if cols else 0

    def key(i: int) -> tuple:
        k = [(cols[c][i] is not None, repr(cols[c][i])) for c in exact]
        k += [(cols[c][i] is not None, round(cols[c][i] or 0.0, 6)) for c in floats]
        return tuple(k)

    return sorted(range(n), key=key)


def _json_equal(a: Any, b: Any) -> bool:
    """JSON text (drivers, similar-account lists) compared as data, floats at RTOL."""
    if not (isinstance(a, str) and isinstance(b, str)):
        return False
    try:
        return _deep_equal(json.loads(a), json.loads(b))
    except ValueError:
        return False


def _deep_equal(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, int | float) and isinstance(b, int | float)
                and bool(np.isclose(a, b, rtol=RTOL, atol=1e-12)))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_deep_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def assert_same_table(name: str, duck: pa.Table, spark: pa.Table) -> None:
    """Exact for counts, text, flags and dates; 1e-9 relative for floats."""
    assert sorted(duck.column_names) == sorted(spark.column_names), \
        f"{name}: columns differ: {set(duck.column_names) ^ set(spark.column_names)}"
    assert duck.num_rows == spark.num_rows, f"{name}: row counts differ"
    names = duck.column_names
    floats = [c for c in names if _is_float(duck, c) or _is_float(spark, c)]
    exact = [c for c in names if c not in floats]
    d, s = _columns(duck, names), _columns(spark, names)
    od, os_ = _order(d, exact, floats), _order(s, exact, floats)
    for c in floats:
        a = np.array([np.nan if v is None else v for v in (d[c][i] for i in od)], float)
        b = np.array([np.nan if v is None else v for v in (s[c][i] for i in os_)], float)
        ok = np.isclose(a, b, rtol=RTOL, atol=1e-12, equal_nan=True)
        assert ok.all(), (f"{name}.{c}: {int((~ok).sum())} rows differ, e.g. "
                          f"{a[~ok][:3]} vs {b[~ok][:3]}")
    for c in exact:
        a, b = [d[c][i] for i in od], [s[c][i] for i in os_]
        bad = [i for i, (x, y) in enumerate(zip(a, b, strict=True))
               if not (x == y or _json_equal(x, y))]
        assert not bad, f"{name}.{c}: {len(bad)} rows differ, e.g. {a[bad[0]]!r} vs " \
                        f"{b[bad[0]]!r}"


# -- tests -------------------------------------------------------------------------------
def test_both_engines_produce_the_same_tables(duck_outputs: Any, spark_result: Any) -> None:
    res, _ = spark_result
    assert set(res.outputs) == set(duck_outputs.outputs)
    assert {"account_value", "account_family_value", "segments", "rollup"} <= set(res.outputs)


def test_every_output_is_identical(duck_outputs: Any, spark_result: Any) -> None:
    res, _ = spark_result
    failures = []
    for name in sorted(set(res.outputs) & set(duck_outputs.outputs)):
        try:
            assert_same_table(name, duck_outputs.outputs[name], res.outputs[name])
        except AssertionError as e:
            failures.append(str(e))
    assert not failures, "\n".join(failures)


def test_models_score_every_account_on_the_executors(spark: Any, spark_result: Any) -> None:
    """The models stage scored the as-of features with ``mapInPandas`` on the cluster: one
    query, read from Spark's own record of what it ran, sent every account to the Python
    workers and brought back only the scores."""
    from tests.test_account_scoring import python_map_runs, rows_out

    # (other test files score smaller worlds in the same session)
    runs = [r for r in python_map_runs(spark)
            if "ptb_drivers" in r["plan"] and rows_out(r) == N_ACCOUNTS]
    assert len(runs) == 1
    assert "Scan parquet" in runs[0]["plan"] and "HashAggregate" in runs[0]["plan"]
    assert runs[0]["metrics"].get("data sent to Python workers")


def test_value_totals_match_an_independent_pandas_sum(world: Path, spark_result: Any) -> None:
    """Guards the comparison itself: both engines could agree and both be wrong."""
    res, _ = spark_result
    tx = pq.read_table(world / "transactions.parquet").to_pandas()
    start = pd.Timestamp(DEMO_AS_OF) - pd.DateOffset(months=12)
    d = pd.to_datetime(tx["date"])
    win = tx[(d > start) & (d <= pd.Timestamp(DEMO_AS_OF))]
    av = res.outputs["account_value"].to_pandas()
    assert av["revenue_t12m"].sum() == pytest.approx(win["amount"].sum(), rel=RTOL)
    buyers = win[win["amount"] > 0]["account_id"].nunique()
    assert int(av["is_customer"].sum()) == buyers


def test_segment_labels_are_identical(duck_outputs: Any, spark_result: Any) -> None:
    res, _ = spark_result
    cols = ["account_id", "tier", "road", "care_model", "coverage_role", "next_best_offer"]
    d = duck_outputs.outputs["segments"].to_pandas()
    s = res.outputs["segments"].to_pandas()
    cols = [c for c in cols if c in d.columns]
    d = d[cols].sort_values("account_id", ignore_index=True)
    s = s[cols].sort_values("account_id", ignore_index=True)
    pd.testing.assert_frame_equal(d.astype(object), s.astype(object))
    assert d["tier"].nunique() > 1  # a degenerate world would make the check trivial


def test_spark_run_writes_parquet_and_manifest(spark_result: Any) -> None:
    res, out = spark_result
    snap = out / f"snapshot_{res.snapshot_id}"
    manifest = json.loads((snap / "manifest.json").read_text())
    assert manifest["engine"] == "spark"
    assert manifest["as_of"] == str(DEMO_AS_OF)
    assert sorted(manifest["tables"]) == sorted(res.outputs)
    for name, table in res.outputs.items():
        assert pq.read_table(snap / f"{name}.parquet").equals(table), name
    assert not list(out.glob("*.partial"))


def test_missing_input_folder_is_a_clear_error(spark: Any, tmp_path: Path) -> None:
    from growthmap.runner.spark_run import SparkSource

    with pytest.raises(InputError, match="does not exist"):
        SparkSource.from_parquet(spark, tmp_path / "nowhere")
    tmp_path.joinpath("empty").mkdir()
    with pytest.raises(InputError, match="accounts or transactions"):
        SparkSource.from_parquet(spark, tmp_path / "empty")


def test_validation_quarantines_bad_rows_with_reasons(spark: Any, tmp_path: Path) -> None:
    """Known bad rows, known reasons; the counts reconcile with the files."""
    from growthmap.runner.spark_run import SparkSource, validate_source

    pq.write_table(pa.table({
        "account_id": ["A1", "A2", None, "A3", "A3", "A4"],
        "employees": ["10", "x", "5", "7", "7", "-3"],
    }), tmp_path / "accounts.parquet")
    pq.write_table(pa.table({
        "line_id": ["L1", "L2", "L3", "L4", "L5", "L1", "L7"],
        "account_id": ["A1", "A1", "A2", None, "A2", "A2", "A3"],
        "date": ["2025-01-01", "notadate", None, "2025-01-02", "2025-01-02", "2025-01-03",
                 "2025-01-04"],
        "product_id": ["P1"] * 7,
        "amount": ["10.5", "3", "3", "3", "abc", "1", "2"],
        "doc_type": ["invoice"] * 6 + ["refund"],
    }), tmp_path / "transactions.parquet")
    qdir = tmp_path / "quarantine"
    clean, rep = validate_source(SparkSource.from_parquet(spark, tmp_path), qdir)
    assert rep.quarantined["accounts"] == {"missing key": 1, "duplicate key": 1}
    assert rep.nulled["accounts"] == {"employees": 2}
    assert rep.quarantined["transactions"] == {
        "unparsable value": 2, "missing required value": 2, "duplicate key": 1}
    assert rep.nulled["transactions"] == {"doc_type": 1}
    for name in ("accounts", "transactions"):
        n_in = pq.read_table(tmp_path / f"{name}.parquet").num_rows
        q = pq.read_table(qdir / f"{name}.parquet")
        assert rep.rows_in[name] == n_in
        assert rep.rows_kept[name] + q.num_rows == n_in
        assert sorted(q.column("reason").to_pylist()) == sorted(
            r for r, k in rep.quarantined[name].items() for _ in range(k))
    tx = clean.backend.to_pyarrow(clean.tables["transactions"]).to_pandas()
    assert sorted(tx["line_id"]) == ["L1", "L7"]
    assert tx.set_index("line_id").loc["L1", "account_id"] == "A1"  # the first copy stays
    assert tx["amount"].dtype == "float64" and tx["doc_type"].isna().sum() == 1
    acc = clean.backend.to_pyarrow(clean.tables["accounts"]).to_pandas()
    assert sorted(acc["account_id"]) == ["A1", "A2", "A3", "A4"]
    assert acc["employees"].isna().sum() == 2


def test_required_column_missing_names_table_and_fix(spark: Any, tmp_path: Path) -> None:
    from growthmap.runner.spark_run import SparkSource, validate_source

    pq.write_table(pa.table({"account_id": ["A1"]}), tmp_path / "accounts.parquet")
    pq.write_table(pa.table({"account_id": ["A1"], "date": ["2025-01-01"]}),
                   tmp_path / "transactions.parquet")
    with pytest.raises(InputError, match=r"transactions: required column.*product_id"):
        validate_source(SparkSource.from_parquet(spark, tmp_path))
