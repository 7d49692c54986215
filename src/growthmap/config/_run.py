"""``[run]``: the as-of date, currency and engine of a run."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from growthmap.config._base import Section


class SparkConfig(Section):
    """How to reach Spark when ``engine = "spark"``."""

    master: str = Field("local[2]", description="Spark master URL, e.g. local[2] or spark://host:7077.")
    conf: dict[str, str] = Field(default_factory=dict,
                                 description="Extra Spark settings, e.g. spark.executor.memory.")
    output_dir: str = Field("growthmap-out",
                            description="Where a Spark run writes its outputs as Parquet.")


class RunConfig(Section):
    """How and as of when a run goes."""

    as_of: dt.date | None = Field(
        None, description="Date every figure is computed as of (data after it is ignored). "
        "Default: the latest transaction date.")
    currency: str = Field("EUR", min_length=3, max_length=3,
                          description="Base currency (ISO 4217) of all amounts.")
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb", description="Engine that runs the pipeline.")
    seed: int = Field(0, description="Random seed of every model, for reproducible runs.")
    spark: SparkConfig = Field(default_factory=SparkConfig, description="Spark connection.")
