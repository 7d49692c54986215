"""`[segments]`: Need/value/behaviour criteria, tiers 1a/1b/2/3, risk/readiness, care models, next best offer."""

from __future__ import annotations

from growthmap.config._base import Section


class SegmentsConfig(Section):
    """Need/value/behaviour criteria, tiers 1a/1b/2/3, risk/readiness, care models, next best offer."""
