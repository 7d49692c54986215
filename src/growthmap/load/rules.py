"""The input rules, declared once and applied by both engines.

The DuckDB loader (:mod:`growthmap.load._validate`, SQL) and the Spark path
(:func:`growthmap.runner.spark_run.validate_source`, Ibis on Spark) each translate the
same list into their own expressions: which checks run on a table, in which order (the
first failure is the row's reason), and what each means.  Everything comes from the
data contract (:mod:`growthmap.contract.inputs`): required columns, keys, types,
``allowed`` values, ``min``/``max`` and ``references``.  So a row one engine
quarantines for a reason, the other quarantines for the same reason (a test feeds the
same bad files to both and compares the reasons row by row).

What is shared besides the order: how text becomes a value (:data:`TRUE_WORDS`,
:func:`allowed_form`, the date range, :data:`MAX_ABS_NUMBER`), and the load order that
makes reference checks possible (:func:`load_order`).  Currencies are the one rule the
Spark path does not apply: it needs exchange rates, which the DuckDB loader takes from a
mapping file or the workspace (see ``docs/scaling.md``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from growthmap.contract.inputs import TABLES, Column, Table

__all__ = [
    "DATE_RANGE",
    "DQ_ISSUES",
    "FALSE_WORDS",
    "MAX_ABS_NUMBER",
    "QUARANTINE_REASONS",
    "TRUE_WORDS",
    "CellRule",
    "RowRule",
    "allowed_form",
    "cell_rules",
    "load_order",
    "row_rules",
]

#: Why a row is quarantined, in the order the checks run (the first failure wins).
QUARANTINE_REASONS = (
    "malformed line",
    "missing key",
    "missing required value",
    "unparsable value",
    "value not allowed",
    "out of range",
    "unknown currency",
    "unmarked negative amount",
    "unknown reference",
    "duplicate key",
)
#: Why a cell of an optional column was nulled (the row still loads).
DQ_ISSUES = ("unparsable value", "value not allowed", "out of range", "unknown reference")
#: The largest magnitude a number may have (10^15: a quadrillion of any currency).  A
#: value past it is "out of range": sums over millions of rows of such values would
#: overflow to infinity in the run, so it is refused at the door instead.
MAX_ABS_NUMBER = 1e15
#: An integer column's value must be a whole number of at most this magnitude (BIGINT).
MAX_ABS_INT = 9e18
#: Dates outside this range are typos (year 20224) or sentinels: "unparsable value".
DATE_RANGE = (dt.date(1800, 1, 1), dt.date(2199, 12, 31))
#: Text read as true / false in a bool column (compared lower-cased).
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
#: In an ``allowed`` column, runs of whitespace and hyphens count as one underscore and
#: case does not matter: "Credit Note" and "credit-note" are ``credit_note``.
ALLOWED_SEPARATORS = r"[\s-]+"

Kind = Literal["missing", "unparsable", "not_allowed", "out_of_range", "unknown_currency",
               "unmarked_negative", "unknown_reference", "duplicate_key"]


def allowed_form(text: str) -> str:
    """The form an ``allowed`` value is compared in (the engines do this in SQL)."""
    return re.sub(ALLOWED_SEPARATORS, "_", text.lower())


@dataclass(frozen=True)
class RowRule:
    """One row-level check: a row failing it is quarantined with ``reason``.

    ``kind`` says what to test on ``column``: ``missing`` (no value), ``unparsable``
    (a value that is not of the column's type, a non-finite number, a fraction in an
    integer column, a date outside :data:`DATE_RANGE`), ``not_allowed`` (not one of
    ``allowed`` in :func:`allowed_form`), ``out_of_range`` (below ``low``, above
    ``high``, or a number past :data:`MAX_ABS_NUMBER`), ``unknown_currency`` (no
    exchange rate), ``unmarked_negative`` (a negative amount whose document type is not
    ``credit_note``), ``unknown_reference`` (absent from ``references``, "table.column",
    among the rows kept of that table), ``duplicate_key`` (the key of an earlier valid
    row: the first row in file order stays).
    """

    reason: str
    kind: Kind
    column: str | None
    low: float | None = None
    high: float | None = None
    allowed: tuple[str, ...] | None = None
    references: str | None = None


@dataclass(frozen=True)
class CellRule:
    """A check on an optional column: a failing cell is nulled and recorded as ``issue``."""

    issue: str
    kind: Kind
    column: str
    low: float | None = None
    high: float | None = None
    allowed: tuple[str, ...] | None = None
    references: str | None = None


def _bounds(c: Column) -> tuple[float | None, float | None] | None:
    """(low, high) of a column with a range check, ``None`` without one."""
    if c.dtype in ("float", "int"):
        low = -MAX_ABS_NUMBER if c.min is None else max(c.min, -MAX_ABS_NUMBER)
        high = MAX_ABS_NUMBER if c.max is None else min(c.max, MAX_ABS_NUMBER)
        return low, high
    if c.min is not None or c.max is not None:
        return c.min, c.max
    return None


def row_rules(table: Table, present: Collection[str], *, references: Collection[str] = (),
              currency: bool = False) -> list[RowRule]:
    """The row checks of ``table``, in the order they run (first failure wins).

    ``present``: the contract columns the input has; ``references``: the columns whose
    referenced table is available to check against; ``currency``: whether exchange rates
    are given (then an unknown currency quarantines the row).
    """
    cols = [c for c in table.columns if c.name in present]
    required = [c for c in cols if c.required]
    out: list[RowRule] = []
    for c in sorted(required, key=lambda c: c.name not in table.key):
        reason = "missing key" if c.name in table.key else "missing required value"
        out.append(RowRule(reason, "missing", c.name))
    out += [RowRule("unparsable value", "unparsable", c.name) for c in required
            if c.dtype != "string"]
    out += [RowRule("value not allowed", "not_allowed", c.name, allowed=c.allowed)
            for c in required if c.allowed and c.dtype == "string"]
    for c in required:
        if (b := _bounds(c)) is not None:
            out.append(RowRule("out of range", "out_of_range", c.name, *b))
    if currency and "currency" in present:
        out.append(RowRule("unknown currency", "unknown_currency", "currency"))
    if table.name == "transactions" and "doc_type" in present:
        out.append(RowRule("unmarked negative amount", "unmarked_negative", "amount"))
    out += [RowRule("unknown reference", "unknown_reference", c.name,
                    references=c.references)
            for c in required if c.references and c.name in references]
    out.append(RowRule("duplicate key", "duplicate_key", ",".join(table.key) or None))
    return out


def cell_rules(table: Table, present: Collection[str], *, references: Collection[str] = ()
               ) -> dict[str, list[CellRule]]:
    """The checks of each present optional column, in order (first failure is the issue)."""
    out: dict[str, list[CellRule]] = {}
    for c in table.columns:
        if c.required or c.name not in present:
            continue
        rules = []
        if c.dtype != "string":
            rules.append(CellRule("unparsable value", "unparsable", c.name))
        if c.allowed and c.dtype == "string":
            rules.append(CellRule("value not allowed", "not_allowed", c.name,
                                  allowed=c.allowed))
        if (b := _bounds(c)) is not None:
            rules.append(CellRule("out of range", "out_of_range", c.name, *b))
        if c.references and c.name in references:
            rules.append(CellRule("unknown reference", "unknown_reference", c.name,
                                  references=c.references))
        if rules:
            out[c.name] = rules
    return out


def load_order(names: Iterable[str]) -> list[str]:
    """``names`` ordered so that every table comes after the tables it references.

    References are checked against the rows already loaded, so loading in this order
    checks every reference (the DuckDB loader skips, with a note, a reference to a table
    not loaded yet; the Spark path validates in this order).
    """
    todo = [n for n in TABLES if n in set(names)]
    done: list[str] = []
    while todo:
        for n in todo:
            deps = {c.references.split(".")[0] for c in TABLES[n].columns if c.references}
            if not (deps & set(todo)) or deps <= {n}:
                done.append(n)
                todo.remove(n)
                break
        else:  # a cycle of references (none in the contract): keep contract order
            done += todo
            break
    return done
