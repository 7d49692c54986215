"""`[potential]`: Potential (wallet), whitespace, value x potential matrix, ROAD and markets."""

from __future__ import annotations

from growthmap.config._base import Section


class PotentialConfig(Section):
    """Potential (wallet), whitespace, value x potential matrix, ROAD and markets."""
