"""`[plan]`: Rollups, rep books, quotas, capacity, allocation and territory alignment."""

from __future__ import annotations

from growthmap.config._base import Section


class PlanConfig(Section):
    """Rollups, rep books, quotas, capacity, allocation and territory alignment."""
