"""Sales planning: rollups, quotas, capacity, allocation and territory alignment.

Everything reads one *planning frame* (one row per account, see
:func:`planning_frame`) through a :class:`PlanSource` — the run in progress, or a
snapshot in a workspace — so a rollup, a rep's book and a quota never disagree.
"""

from growthmap.plan.alignment.accounts import AccountAlignment, align_accounts, parse_locks
from growthmap.plan.alignment.territories import (
                                       AlignmentProblem,
                                       AlignmentResult,
                                       Balance,
                                       Objective,
                                       align_territories,
                                       pareto_front,
)
from growthmap.plan.allocation import (
                                       Allocation,
                                       ResponseCurve,
                                       SaturatingCurve,
                                       SaturatingResponse,
                                       allocate,
                                       fit_curves,
                                       region_allocation,
)
from growthmap.plan.capacity import (
                                       CapacityPlan,
                                       capacity_plan,
                                       compare_scenarios,
                                       rep_capacity,
                                       scenario_table,
)
from growthmap.plan.quotas import (
                                       family_quotas,
                                       largest_remainder,
                                       plan_quotas,
                                       resolve_target,
                                       save_quotas,
                                       saved_quotas,
                                       split_target,
)
from growthmap.plan.repbook import rep_book, review_list
from growthmap.plan.rollups import PlanSource, planning_frame, rollup, rollups
from growthmap.plan.scorecards import Scorecard, scorecard

__all__ = [
    "AccountAlignment",
    "AlignmentProblem",
    "AlignmentResult",
    "Allocation",
    "Balance",
    "CapacityPlan",
    "Objective",
    "PlanSource",
    "ResponseCurve",
    "SaturatingCurve",
    "SaturatingResponse",
    "Scorecard",
    "align_accounts",
    "align_territories",
    "allocate",
    "capacity_plan",
    "compare_scenarios",
    "family_quotas",
    "fit_curves",
    "largest_remainder",
    "pareto_front",
    "parse_locks",
    "plan_quotas",
    "planning_frame",
    "region_allocation",
    "rep_book",
    "rep_capacity",
    "resolve_target",
    "review_list",
    "rollup",
    "rollups",
    "save_quotas",
    "saved_quotas",
    "scenario_table",
    "scorecard",
    "split_target",
]
