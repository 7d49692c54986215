"""``[report]``: the HTML report, the Excel workbook, the CRM import file and chart images."""

from __future__ import annotations

from pydantic import Field

from growthmap.config._base import Section


class ReportConfig(Section):
    """The HTML report, Excel workbook and CRM export."""

    title: str = Field("Where our next revenue comes from", min_length=1, max_length=200,
                       description="Title printed at the top of the HTML report.")
    top_accounts: int = Field(25, ge=1, le=1000,
                              description="Rows in the report's top-accounts and "
                              "top-whitespace tables.")
    scatter_max_points: int = Field(
        4000, ge=100, le=100_000,
        description="Most accounts drawn in a scatter plot; larger books are sampled "
        "(deterministically) so charts stay light at a million accounts.")
    chart_width: int = Field(560, ge=200, le=2000,
                             description="Width in pixels of a chart in the report and "
                             "in exported images.")
    png_scale: float = Field(2.0, gt=0, le=8,
                             description="Pixel density of PNG chart exports (2 = sharp on "
                             "slides and high-DPI screens).")
    rep_sheets_max: int = Field(
        60, ge=0, le=250,
        description="The workbook gets one sheet per rep up to this many reps; with more "
        "reps it gets a single filterable 'Rep books' sheet instead (0 = always one sheet).")
    crm_bom: bool = Field(
        False, description="Start the CRM import CSV with a UTF-8 byte-order mark. Plain "
        "UTF-8 (the default) suits CRM import wizards; turn this on when people open the "
        "file in Excel first.")
    csv_formula_guard: bool = Field(
        True, description="Neutralise spreadsheet formulas in the CRM import CSV: a text "
        "cell starting with =, +, -, @, a tab or a carriage return gets a leading apostrophe "
        "(OWASP CSV-injection advice), so a spreadsheet shows it as text instead of running "
        "it. Turn off only for an import path that never passes through a spreadsheet and "
        "must receive the names unchanged; the plan CSVs are always neutralised.")
    crm_decimals: int = Field(2, ge=0, le=6,
                              description="Decimals of money figures in the CRM import file "
                              "(dot as decimal separator, no thousands separator).")
