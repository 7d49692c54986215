"""Scoring every account where the features live: the picklable scorer, and Spark's executors.

The scorer is what Spark ships to its executors, so the unit tests check what shipping
relies on: a pickle round trip changes no score, and scoring in batches (in any order)
gives what scoring the whole frame gives.  The Spark tests check on a real local
session that the as-of features are scored by ``mapInPandas`` -- read from Spark's own
record of the queries it ran (the SQL status store the Spark UI shows) -- and never
collected to the driver, with the very scores DuckDB gives in-process.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from growthmap.config import Config
from growthmap.models.propensity import PackedClassifier, PropensityClassifier
from growthmap.scores.batch import VERSION_MISMATCH, AccountScorer, score_accounts
from growthmap.scores.features import FeatureInputs
from growthmap.scores.stage import CutoffFeatures, fit_family, fit_propensity, fit_risk
from tests.test_features import AS_OF, make_workspace, make_world

LIGHT = {"scores": {"n_estimators": 20, "backtest_cutoffs": 1, "train_cutoffs": 2,
                    "calibration_folds": 2, "n_jobs": 1}}


# -- the packed model and the scorer, in-process ----------------------------------------
@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid", "none"])
def test_packed_model_scores_like_the_estimator_after_a_pickle_round_trip(calibration):
    rng = np.random.default_rng(0)
    n = 3000
    x = pd.DataFrame({"a": rng.normal(size=n), "code": rng.integers(0, 5, n).astype(float),
                      "b": rng.normal(size=n) * 100})
    x.loc[rng.random(n) < 0.1, "b"] = np.nan
    y = (x.a + 0.01 * x.b.fillna(0) + rng.normal(size=n) > 0.5).astype(int)
    est = PropensityClassifier(n_estimators=40, calibration=calibration,
                               categorical_features=["code"]).fit(x, y)
    packed = pickle.loads(pickle.dumps(est.pack()))
    assert isinstance(packed, PackedClassifier)
    assert packed._booster is None and packed._compiled is None  # rebuilt where it lands
    np.testing.assert_array_equal(packed.predict_proba(x), est.predict_proba(x))
    for mine, theirs in zip(packed.explain(x, top=3), est.explain(x, top=3), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    # what travels is the model text, without the estimator's training state
    assert len(pickle.dumps(packed)) < len(pickle.dumps(est))
    with pytest.raises(ValueError, match="lacks feature"):
        packed.predict_proba(x.drop(columns="b"))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[AccountScorer, pd.DataFrame]:
    """A scorer of all three models, and the as-of feature frame it scores."""
    cfg = Config.from_dict(LIGHT)
    path = tmp_path_factory.mktemp("scorer") / "ws.duckdb"
    with make_workspace(path, make_world(seed=11, n=400, years=4)) as ws:
        cf = CutoffFeatures(FeatureInputs.from_source(ws), AS_OF, cfg)
        scorer = AccountScorer.pack(
            cf.vocab, cf.columns, drivers=3, propensity=fit_propensity(cf, cfg)[0],
            family=fit_family(cf, cfg)[0], risk=fit_risk(cf, cfg)[0])
        frame = cf.scoring_table(rev_last=True).to_pandas()
    return scorer, frame


def test_scorer_pickle_round_trip_gives_identical_scores(fitted):
    scorer, frame = fitted
    shipped = pickle.loads(pickle.dumps(scorer))
    expected = scorer(frame)
    pd.testing.assert_frame_equal(shipped(frame), expected, check_exact=True)
    assert list(expected.columns) == list(scorer.output_types())
    assert expected["risk_population"].any() and (~expected["risk_population"]).any()
    assert expected.loc[~expected["risk_population"], "risk"].isna().all()


def test_batches_in_any_order_score_like_the_whole_frame(fitted):
    """What mapInPandas relies on: a row's scores depend on that row alone."""
    scorer, frame = fitted
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    batches = [shuffled.iloc[i:i + 37].reset_index(drop=True)
               for i in range(0, len(shuffled), 37)]
    parts = pd.concat(list(scorer.batches(iter(batches))), ignore_index=True)
    whole = scorer(frame)
    pd.testing.assert_frame_equal(
        parts.sort_values("account_id", ignore_index=True),
        whole.sort_values("account_id", ignore_index=True), check_exact=True)


def test_executor_with_another_growthmap_refuses_to_score(fitted):
    scorer, frame = fitted
    other = pickle.loads(pickle.dumps(scorer))
    other.code_version = "0.0.0-elsewhere"
    with pytest.raises(RuntimeError, match=VERSION_MISMATCH):
        list(other.batches(iter([frame])))


# -- on Spark -------------------------------------------------------------------------------
def python_map_runs(session: Any) -> list[dict[str, Any]]:
    """Spark's own record of the queries that ran a MapInPandas step (the SQL status
    store behind the Spark UI): per query its id, physical plan and the step's metrics."""
    store = session._jsparkSession.sharedState().statusStore()
    runs = []
    executions = store.executionsList().iterator()
    while executions.hasNext():
        e = executions.next()
        plan = e.physicalPlanDescription()
        if "MapInPandas" not in plan:
            continue
        values = store.executionMetrics(e.executionId())
        metrics: dict[str, str] = {}
        nodes = store.planGraph(e.executionId()).allNodes().iterator()
        while nodes.hasNext():
            node = nodes.next()
            if node.name() != "MapInPandas":
                continue
            ms = node.metrics().iterator()
            while ms.hasNext():  # with adaptive execution a replaced plan's node has no values
                m = ms.next()
                v = values.get(m.accumulatorId())
                if v.isDefined():
                    metrics[m.name()] = v.get()
        runs.append({"id": int(e.executionId()), "plan": plan, "metrics": metrics})
    return runs


def rows_out(run: dict[str, Any]) -> int:
    return int(run["metrics"].get("number of output rows", "0").replace(",", ""))


@pytest.fixture(scope="module")
def spark() -> Any:
    pytest.importorskip("pyspark")
    from growthmap.config._run import SparkConfig
    from growthmap.runner.spark_run import spark_session

    warnings.filterwarnings("ignore", message=".*pandas >= 3.0.0.*")
    session = spark_session(SparkConfig(master="local[2]", conf={
        "spark.sql.shuffle.partitions": "4", "spark.ui.showConsoleProgress": "false"}))
    session.sparkContext.setLogLevel("ERROR")
    return session  # stopped by whoever started it first, at the end of the session


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory) -> Path:
    from growthmap.demo import write_world_parquet

    d = tmp_path_factory.mktemp("scoring-world")
    write_world_parquet(d, n_accounts=300, seed=5, bad_rows=False)
    return d


@pytest.mark.spark
@pytest.mark.slow
def test_spark_scores_on_the_executors_like_duckdb_in_process(spark, world_dir, tmp_path):
    from growthmap.demo import DEMO_AS_OF, INPUT_TABLES
    from growthmap.load import load_table
    from growthmap.runner.spark_run import SparkSource, validate_source
    from growthmap.scores.stage import score_propensity, score_risk
    from growthmap.workspace import Workspace

    cfg = Config.from_dict(LIGHT)
    source, _ = validate_source(SparkSource.from_parquet(spark, world_dir))
    cf = CutoffFeatures(FeatureInputs.from_source(source), DEMO_AS_OF, cfg)
    before = {r["id"] for r in python_map_runs(spark)}
    ptb, fam, _ = score_propensity(cf, cfg)
    risk, _ = score_risk(cf, cfg)
    runs = [r for r in python_map_runs(spark) if r["id"] not in before]

    # one mapInPandas query per scoring pass; each scored every account on the executors,
    # fed straight from the aggregation of the transactions' Parquet in the same query
    n = cf.n_accounts
    assert len(runs) == 2 and all(rows_out(r) == n for r in runs), runs
    assert all("Scan parquet" in r["plan"] and "HashAggregate" in r["plan"] for r in runs)
    assert all(r["metrics"].get("data sent to Python workers") for r in runs)
    # the driver never held the as-of features: only the sampled past cut-offs
    assert DEMO_AS_OF not in cf._features

    ws = Workspace.create(tmp_path / "same.duckdb")
    try:
        for name in INPUT_TABLES:
            load_table(ws, name, world_dir / f"{name}.parquet", mapping=None, mode="replace")
        cd = CutoffFeatures(FeatureInputs.from_source(ws), DEMO_AS_OF, cfg)
        d_ptb, d_fam, _ = score_propensity(cd, cfg)
        d_risk, _ = score_risk(cd, cfg)
    finally:
        ws.close()
    pd.testing.assert_frame_equal(ptb, d_ptb, check_exact=True)
    pd.testing.assert_frame_equal(fam, d_fam, check_exact=True)
    pd.testing.assert_frame_equal(risk, d_risk, check_exact=True)


@pytest.mark.spark
@pytest.mark.slow
def test_an_executor_on_another_version_stops_scoring_with_a_clear_error(spark, world_dir):
    from growthmap.demo import DEMO_AS_OF
    from growthmap.errors import WorkspaceError
    from growthmap.runner.spark_run import SparkSource

    cfg = Config.from_dict(LIGHT)
    source = SparkSource.from_parquet(spark, world_dir)
    cf = CutoffFeatures(FeatureInputs.from_source(source), DEMO_AS_OF, cfg)
    scorer = AccountScorer.pack(cf.vocab, cf.columns, propensity=fit_propensity(cf, cfg)[0])
    scorer.code_version = "0.0.0-elsewhere"  # as if the driver ran another release
    with pytest.raises(WorkspaceError, match="version mismatch") as err:
        score_accounts(cf.scoring_table(), scorer)
    assert "0.0.0-elsewhere" in str(err.value) and "install growthmap" in str(err.value)


@pytest.mark.spark
def test_an_executor_that_cannot_import_a_module_is_a_clear_error(spark, tmp_path, monkeypatch):
    """A function from a module only the driver has: the executors' real import error."""
    import ibis

    from growthmap.errors import WorkspaceError
    from growthmap.runner.spark_run import map_in_pandas

    (tmp_path / "gm_driver_only.py").write_text(
        "def double(batches):\n    for b in batches:\n        yield b * 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import gm_driver_only  # type: ignore[import-not-found]

    backend = ibis.pyspark.connect(spark)
    expr = ibis.memtable(pd.DataFrame({"a": [1.0, 2.0, 3.0]}))
    ok = map_in_pandas(backend, expr, lambda it: (b * 2 for b in it), {"a": "float64"})
    assert sorted(ok.column("a").to_pylist()) == [2.0, 4.0, 6.0]
    with pytest.raises(WorkspaceError, match="cannot import 'gm_driver_only'"):
        map_in_pandas(backend, expr, gm_driver_only.double, {"a": "float64"})
