"""The Spark benchmark's own arithmetic: the output comparison and the scaling model."""

from __future__ import annotations

import pyarrow as pa
import pytest

from bench.bench_spark import compare_table, fit_model, project


def test_compare_finds_the_column_that_differs_whatever_the_row_order() -> None:
    duck = pa.table({"account_id": ["A", "B", "C"], "tier": ["1", "2", "2"],
                     "revenue_t12m": [1.0, 2.0, 3.0], "score": [0.1, 0.2, 0.3]})
    spark = pa.table({"account_id": ["C", "A", "B"], "tier": ["2", "1", "2"],
                      "revenue_t12m": [3.0, 1.0, 2.0], "score": [0.3, 0.1, 0.25]})
    out = compare_table("segments", duck, spark)
    assert out["rows"] == [3, 3]
    assert set(out["differing"]) == {"score"}
    assert out["differing"]["score"]["rows"] == 1
    assert out["figures"]["revenue_t12m"] == [6.0, 6.0]
    assert compare_table("segments", duck, duck)["differing"] == {}


def _rec(n: int) -> dict:
    # driver: 2 s + 1 ms per account; executors: 10 s + 4 ms per account
    step = {"seconds": 100.0, "driver_cpu": 2 + 1e-3 * n, "executor_cpu": 10 + 4e-3 * n,
            "sampler_cpu": 0.0, "driver_mb": 1.0, "jvm_mb": 1.0}
    return {"spark": {"steps": {"session start": dict(step), "models": step}}}


def test_the_model_recovers_serial_and_parallel_costs() -> None:
    model = fit_model({1000: _rec(1000), 5000: _rec(5000)}, cores=2)
    assert model["models"]["driver_cpu"] == pytest.approx([2.0, 1e-3])
    assert model["models"]["executor_cpu"] == pytest.approx([10.0, 4e-3])
    # at 10,000 accounts on 8 cores: 12 s of driver + 50 s of executor CPU over 8
    assert project(model, 10_000, 8)["models"] == pytest.approx(12 + 50 / 8)
    assert "session start" not in project(model, 10_000, 8)
