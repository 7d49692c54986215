"""`[scores]`: propensity to buy, ICP fit and risk models."""

from __future__ import annotations

from growthmap.config._base import Section


class ScoresConfig(Section):
    """Propensity to buy, ICP fit and risk models."""
