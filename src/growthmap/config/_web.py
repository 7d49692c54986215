"""`[web]`: The dashboard and JSON API."""

from __future__ import annotations

from growthmap.config._base import Section


class WebConfig(Section):
    """The dashboard and JSON API."""
