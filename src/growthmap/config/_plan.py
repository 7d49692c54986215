"""``[plan]``: rollups, rep books, quotas, capacity, allocation and territory alignment.

Every default here is a planning convention a sales-operations analyst would recognise
(a rep sells about 1,100 hours a year, a quota mixes history and potential half and half,
no rep's quota drops below 90% or rises above 150% of last year).  Each can be changed in
``growthmap.toml`` and most can be overridden per command.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from growthmap.config._base import Section
from growthmap.contract.inputs import LIFECYCLE_STAGES

ROLLUP_LEVELS = ("total", "territory", "region", "industry", "rep", "manager")
BALANCE_MEASURES = ("potential", "workload", "count")
ALIGN_WITHIN = ("region", "country", "manager", "territory")


class ScenarioConfig(Section):
    """One capacity scenario, compared side by side with today (``baseline``)."""

    description: str = Field("", description="Plain-words label shown beside the scenario.")
    revenue_growth: float = Field(
        0.0, ge=-0.9, le=5.0,
        description="Revenue target growth over current value, e.g. 0.08 for +8%.")
    cost_growth: float = Field(
        0.0, ge=-0.9, le=5.0,
        description="Change of the loaded cost per head, e.g. 0.03 for +3% (0 = cost flat).")
    extra_heads: dict[str, float] = Field(
        default_factory=dict,
        description="Heads added (negative: removed) per region or territory key, "
        "e.g. {North = 2}; the key '*' adds to every group.")
    touch_scale: float = Field(
        1.0, gt=0, le=10,
        description="Multiplier on every care model's touches per year (1.2 = 20% more contact).")
    productive_hours: float | None = Field(
        None, gt=0, le=4000,
        description="Productive selling hours per rep and year in this scenario "
        "(default: the same as today).")


def _default_scenarios() -> dict[str, ScenarioConfig]:
    return {
        "cost flat, revenue +8%": ScenarioConfig(
            description="Same heads and cost, 8% more revenue to win", revenue_growth=0.08),
        "more touches": ScenarioConfig(
            description="20% more contact with every segment, same heads", touch_scale=1.2),
    }


class PlanConfig(Section):
    """Rollups, rep books, quotas, capacity, allocation and territory alignment."""

    # -- rollups and rep books -----------------------------------------------------
    rollup_levels: list[str] = Field(
        list(ROLLUP_LEVELS),
        description="Levels the plan stage rolls up to: total, territory (every level of the "
        "territory hierarchy), region, industry, rep, manager (every level of reps.manager_id).")
    review_develop: int = Field(
        10, ge=0, le=500,
        description="Customers on a rep's weekly review list, ranked by whitespace x "
        "propensity to buy.")
    review_prospects: int = Field(
        10, ge=0, le=500,
        description="Prospects on a rep's weekly review list, ranked by expected opportunity "
        "x ICP fit.")

    # -- quotas ----------------------------------------------------------------------
    quota_history_weight: float = Field(
        0.5, ge=0, le=1,
        description="Share of the target split by history (current value); the rest is "
        "split by whitespace, so more potential means more uplift.")
    quota_floor_ratio: float = Field(
        0.9, ge=0, le=10,
        description="No quota below this multiple of the unit's current value (0 = no floor); "
        "quota_floor_by_role overrides it for reps of a role.")
    quota_floor_by_role: dict[str, float] = Field(
        default_factory=lambda: {"account_director": 1.0, "key_account_manager": 1.0},
        description="Quotas by rep: the floor ratio for reps of these roles (reps.role, or the "
        "care-model role it stands for), instead of quota_floor_ratio. A key account's quota "
        "below last year's revenue is not one a sales leader signs, so account directors and "
        "key account managers start at 1.0 (never below last year).")
    quota_cap_ratio: float | None = Field(
        1.5, gt=0, le=100,
        description="No quota above this multiple of the unit's current value, for units with "
        "history (empty = no cap).")
    quota_floors: dict[str, float] = Field(
        default_factory=dict,
        description="Absolute minimum quota per rep or territory id; replaces the ratio floor.")
    quota_caps: dict[str, float] = Field(
        default_factory=dict,
        description="Absolute maximum quota per rep or territory id; replaces the ratio cap.")
    quota_lifecycle_weights: dict[str, float] = Field(
        default_factory=lambda: {"introduction": 1.2, "growth": 1.3, "maturity": 1.0,
                                 "decline": 0.7},
        description="Per-family quotas: weight of a family's share of the target by its "
        "products' life-cycle stage (growth families weighted up).")
    quota_period_months: int = Field(
        12, ge=1, le=36,
        description="Length of the quota period that scorecards measure attainment over.")

    # -- capacity ----------------------------------------------------------------------
    capacity_by: Literal["territory", "region"] = Field(
        "territory", description="Group that capacity and headcount are computed per.")
    productive_hours: float = Field(
        1100.0, gt=0, le=4000,
        description="Productive selling hours per rep and year, used when reps.capacity_hours "
        "is missing.")
    loaded_cost: float = Field(
        120_000.0, ge=0,
        description="Fully loaded annual cost per rep, used when reps.loaded_cost is missing.")
    workload_elasticity: float = Field(
        0.5, ge=0, le=5,
        description="Extra selling hours needed per extra revenue, in relative terms: 0.5 means "
        "+8% revenue needs +4% hours.")
    role_aliases: dict[str, str] = Field(
        default_factory=lambda: {"field_rep": "field", "inside_sales": "inside"},
        description="Care-model coverage role -> reps.role value, where the two vocabularies "
        "differ (e.g. field_rep = \"field\"); used to match hours to reps of that role.")
    scenarios: dict[str, ScenarioConfig] = Field(
        default_factory=_default_scenarios,
        description="Capacity scenarios by name, compared side by side with the baseline.")

    # -- allocation ------------------------------------------------------------------------
    allocation_min_heads: int = Field(
        0, ge=0, description="Fewest heads any region may get in a headcount allocation.")
    allocation_max_change: int | None = Field(
        2, ge=0, description="Most heads a region may gain or lose against today in one "
        "allocation (empty = no limit). Response curves fitted on one point are nearly "
        "linear far from it, so large moves are outside what the data supports.")
    allocation_max_capture: float = Field(
        0.95, gt=0, lt=1,
        description="Largest share of a region's potential taken as already captured when the "
        "response curve is fitted (keeps the curve's steepness finite).")
    allocation_warn_cut: float = Field(
        0.3, gt=0, le=1,
        description="An allocation that cuts a region's heads by more than this share of "
        "today's says so, with the expected revenue at stake.")

    # -- territory alignment -------------------------------------------------------------------
    align_balance: list[str] = Field(
        ["potential", "workload"],
        description="Measures every rep's book is balanced on: potential, workload (care-model "
        "hours), count (accounts). Count is off by default: workload hours already measure "
        "the effort, and equal numbers of accounts force long trips.")
    align_tolerance: float = Field(
        0.1, gt=0, le=1,
        description="Allowed deviation of each rep's total from the average, e.g. 0.1 = ±10%.")
    align_objective: Literal["mixed", "distance", "disruption"] = Field(
        "mixed",
        description="What the alignment minimises: mixed (yearly travel from each rep's base plus "
        "align_move_km for every account of average potential that changes rep), distance "
        "(travel only) or disruption (potential moved only).")
    align_move_km: float = Field(
        1_000.0, ge=0, le=1_000_000,
        description="In the mixed objective, the yearly travel (km) that moving one account of "
        "average potential to another rep is worth; a bigger account weighs more. 0 = travel "
        "only.")
    align_visit_roles: list[str] = Field(
        ["account_director", "key_account_manager", "field_rep", "field"],
        description="Care-model coverage roles whose touches are visits in person: travel is "
        "each such account's touches_per_year as round trips from its rep's base; accounts "
        "served remotely (inside sales, digital) add no travel.")
    align_max_travel_increase: float = Field(
        0.1, ge=0, le=10,
        description="When the proposed plan lengthens travel by more than this share, the "
        "answer says so and names the reps whose base, moved into their new book, would "
        "save the most travel.")
    align_within: list[str] = Field(
        ["region"],
        description="Hard rules: an account may only go to a rep of its own region, country, "
        "manager or territory (any of them; [] = anywhere). Each rep is then balanced "
        "against the average rep of its group.")
    align_max_moved: int | None = Field(
        None, ge=0, description="Most accounts that may change rep (empty = no limit).")
    align_max_disruption: float | None = Field(
        None, ge=0, le=1,
        description="Largest share of total potential that may change rep (empty = no limit).")
    align_scope: Literal["all", "customers"] = Field(
        "all", description="Accounts aligned: all (prospects too) or customers only.")
    align_role: str | None = Field(
        None, description="Align one coverage role only (e.g. field): its reps, their "
        "accounts and unowned accounts whose care model asks for that role.")
    align_method: Literal["auto", "milp", "heuristic"] = Field(
        "auto", description="Solver: milp (exact, small problems), heuristic (LP rounding and "
        "local search, any size) or auto (milp up to 50,000 account-rep pairs).")
    align_time_limit: float = Field(
        60.0, gt=0, le=3600, description="Seconds the alignment solver may take.")

    @field_validator("rollup_levels")
    @classmethod
    def _levels(cls, v: list[str]) -> list[str]:
        bad = [x for x in v if x not in ROLLUP_LEVELS]
        if bad:
            raise ValueError(f"unknown level(s) {bad}; use any of {', '.join(ROLLUP_LEVELS)}")
        return v

    @field_validator("align_balance")
    @classmethod
    def _balance(cls, v: list[str]) -> list[str]:
        bad = [x for x in v if x not in BALANCE_MEASURES]
        if bad:
            raise ValueError(f"unknown measure(s) {bad}; use any of "
                             f"{', '.join(BALANCE_MEASURES)}")
        return v

    @field_validator("align_within")
    @classmethod
    def _within(cls, v: list[str]) -> list[str]:
        bad = [x for x in v if x not in ALIGN_WITHIN]
        if bad:
            raise ValueError(f"unknown rule(s) {bad}; use any of {', '.join(ALIGN_WITHIN)}")
        return v

    @field_validator("quota_lifecycle_weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k in v if k not in LIFECYCLE_STAGES]
        if bad:
            raise ValueError(f"unknown life-cycle stage(s) {bad}; use "
                             f"{', '.join(LIFECYCLE_STAGES)}")
        if any(w < 0 for w in v.values()):
            raise ValueError("life-cycle weights must be >= 0, e.g. growth = 1.3")
        return v
