"""Reports: charts, the self-contained HTML report, the Excel workbook, the CRM file.

Every output reads the snapshot through :class:`growthmap.read.access.DataAccess`, so
a report or an export made for a user holds only what that user may see; the
command line uses the all-seeing :data:`growthmap.read.access.SYSTEM` user.
"""

from growthmap.report.crm import CRM_COLUMNS, crm_frame, write_crm_csv
from growthmap.report.excel import write_workbook
from growthmap.report.gallery import CHARTS, build_chart, save_chart
from growthmap.report.html import render_report, write_report

__all__ = [
    "CHARTS",
    "CRM_COLUMNS",
    "build_chart",
    "crm_frame",
    "render_report",
    "save_chart",
    "write_crm_csv",
    "write_report",
    "write_workbook",
]
