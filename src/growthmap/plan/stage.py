"""The ``plan`` stage: the planning tables every snapshot carries.

Always: ``rollup`` (every level of ``plan.rollup_levels``).  When the segments output
gives care models: ``capacity`` (hours by group x care model), ``headcount`` (heads
needed vs today by group, role and in total) and ``capacity_scenarios`` (the baseline
and each configured scenario).  When potential exists: ``allocation`` (today's heads
reallocated across regions for the most expected revenue, with each region's marginal
value of one more head).  Quotas and alignments are decisions, so they are made on
demand (``growthmap plan quotas`` / ``plan align``), not in every run.

A missing optional output never fails the run: the part that needs it is skipped with a
note saying what it needs.
"""

from __future__ import annotations

from growthmap.errors import GrowthmapError
from growthmap.plan.allocation import region_allocation
from growthmap.plan.capacity import capacity_plan, compare_scenarios
from growthmap.plan.rollups import PlanSource, rollups
from growthmap.runner.pipeline import RunContext, register_stage

__all__ = ["stage"]


@register_stage("plan", needs=("account_value",),
                optional=("account_family_value", "potential", "potential_account",
                          "propensity", "risk", "icp", "segments", "territories", "reps",
                          "products"),
                provides=("rollup", "capacity", "headcount", "capacity_scenarios", "allocation"))
def stage(ctx: RunContext) -> None:
    """Rollups by territory, region, industry, rep and manager; capacity; allocation."""
    cfg = ctx.config.plan
    src = PlanSource.from_context(ctx)
    src.skip = ("reasons",)  # 300 MB of text at a million accounts that planning never reads
    ctx.put("rollup", rollups(src, cfg.rollup_levels))
    frame = src.frame()
    if frame.touches_per_year.isna().all():
        ctx.note("plan: no care models (segments output), so capacity and headcount are "
                 "skipped; they need touches per year and hours per touch per account")
    else:
        try:
            plan = capacity_plan(src, cfg)
            ctx.put("capacity", plan.by_segment)
            ctx.put("headcount", plan.headcount)
            ctx.put("capacity_scenarios", compare_scenarios(src, cfg))
        except GrowthmapError as exc:
            ctx.note(f"plan: capacity skipped: {exc.message}")
    if frame.potential.isna().all():
        ctx.note("plan: no potential output, so the headcount allocation is skipped")
    else:
        try:
            alloc = region_allocation(src, cfg)
            ctx.put("allocation", alloc.regions.assign(method=alloc.method))
        except GrowthmapError as exc:
            ctx.note(f"plan: allocation skipped: {exc.message}")
