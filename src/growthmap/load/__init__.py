"""Loading input files into the workspace: mapping, typing, validation, quarantine.

Every row of a file is either loaded or quarantined with a reason; a bad value in an
optional column only empties that cell (recorded in ``gm.data_quality``).  See
``docs/loading.md`` for the mapping-file reference, the reasons and the modes.

>>> report = load_table(ws, "transactions", "export.csv", mapping="erp.toml")  # doctest: +SKIP
>>> print(report.render())  # doctest: +SKIP
"""

from growthmap.load._load import HIDDEN_COLUMNS, load_table
from growthmap.load._mapping import (
    DATE_FORMAT_SPECIALS,
    ColumnSpec,
    FxSpec,
    Mapping,
    SourceOptions,
    normalize_name,
    read_mapping,
)
from growthmap.load._quarantine import data_quality, quarantine_summary, quarantined
from growthmap.load._report import LoadReport
from growthmap.load._validate import DQ_ISSUES, QUARANTINE_REASONS

__all__ = [
    "DATE_FORMAT_SPECIALS",
    "DQ_ISSUES",
    "HIDDEN_COLUMNS",
    "QUARANTINE_REASONS",
    "ColumnSpec",
    "FxSpec",
    "LoadReport",
    "Mapping",
    "SourceOptions",
    "data_quality",
    "load_table",
    "normalize_name",
    "quarantine_summary",
    "quarantined",
    "read_mapping",
]
