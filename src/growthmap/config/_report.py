"""`[report]`: The HTML report, Excel workbook and CRM export."""

from __future__ import annotations

from growthmap.config._base import Section


class ReportConfig(Section):
    """The HTML report, Excel workbook and CRM export."""
