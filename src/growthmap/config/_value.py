"""``[value]``: current value, concentration and value tiers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from growthmap.config._base import Section


class ValueConfig(Section):
    """Current value, concentration and A/B/C/D value tiers."""

    measure: Literal["revenue", "gross_margin"] = Field(
        "revenue", description="Value measure for tiers and concentration; gross_margin needs "
        "a cost column in transactions.")
    lookback_months: int = Field(12, ge=1, le=60,
                                 description="Length of the trailing window (T12M by default).")
    tier_method: Literal["cumulative_share", "absolute"] = Field(
        "cumulative_share", description="Tier by cumulative share of value (Pareto) or by "
        "absolute bands.")
    tier_cumulative_shares: list[float] = Field(
        [0.5, 0.8, 0.95], description="Cumulative-share cut points of tiers A, B, C "
        "(the rest is D), accounts sorted by value descending.")
    tier_bands: list[float] = Field(
        [1_000_000, 100_000, 10_000], description="Minimum value of tiers A, B, C (the rest is D).")
    group_by: list[str] = Field(
        ["industry", "region", "territory_id", "owner_rep_id"],
        description="Account columns to compute ARPA and concentration by.")
    rollup_parents: bool = Field(
        False, description="Roll corporate families up through parent_id: tiers are set on the "
        "family total and shared by its members.")

    @field_validator("tier_cumulative_shares")
    @classmethod
    def _shares(cls, v: list[float]) -> list[float]:
        if len(v) != 3 or not 0 < v[0] < v[1] < v[2] < 1:
            raise ValueError("give three increasing shares between 0 and 1, e.g. [0.5, 0.8, 0.95]")
        return v

    @field_validator("tier_bands")
    @classmethod
    def _bands(cls, v: list[float]) -> list[float]:
        if len(v) != 3 or not (v[0] > v[1] > v[2] >= 0):
            raise ValueError("give three decreasing amounts, e.g. [1000000, 100000, 10000]")
        return v
