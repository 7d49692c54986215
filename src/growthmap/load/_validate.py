"""Validation as one vectorised DuckDB query: typing, checks and a reason per row.

The checks and their order are the shared rules of :mod:`growthmap.load.rules` (which
the Spark path applies too); this module translates each into SQL.

The staged query reads the source relation once and produces, per source row, the
contract's typed columns plus ``__gm_code`` — the first failed check (``NULL`` when
the row is loadable) — and, for each optional column that can go bad, ``i$<col>`` (the
data-quality issue that nulled the cell) and ``v$<col>`` (the offending text).  No
Python touches a row: that is what keeps a load of millions of lines within about twice
the time DuckDB takes merely to copy the file into a table.

Text columns are cleaned (trimmed, blanks and ``null_values`` become NULL), recoded by
the mapping's ``values``, then parsed with ``TRY_CAST``/``try_strptime``.  Columns whose
source type already fits (Parquet ``DOUBLE`` into a float column, ``DATE`` into a date
column) skip the text round trip.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from growthmap.contract.inputs import Column
from growthmap.errors import ConfigError
from growthmap.load._mapping import Mapping
from growthmap.load._plan import Plan
from growthmap.load._read import ROW, Source, quote_ident, quote_literal
from growthmap.load.rules import (
    DATE_RANGE,
    DQ_ISSUES,
    FALSE_WORDS,
    MAX_ABS_NUMBER,
    QUARANTINE_REASONS,
    TRUE_WORDS,
    CellRule,
    RowRule,
    cell_rules,
    row_rules,
)

__all__ = [
    "DQ_ISSUES",
    "MAX_ABS_NUMBER",
    "QUARANTINE_REASONS",
    "SQL_TYPES",
    "Check",
    "check_constants",
    "detect_date_format",
    "stage_sql",
]

SQL_TYPES = {"string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "date": "DATE",
             "bool": "BOOLEAN"}
_DATE_CANDIDATES = (
    "iso", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%Y/%m/%d", "%Y%m%d",
    "%d/%m/%y", "%m/%d/%y", "%d.%m.%y", "%d-%b-%Y", "%d %b %Y", "%b %d %Y", "%d-%b-%y",
    "excel",
)
_DATE_LO, _DATE_HI = (f"DATE '{d.isoformat()}'" for d in DATE_RANGE)
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")
_INTEGER = _NUMERIC[:9]
_TRUE, _FALSE = TRUE_WORDS, FALSE_WORDS


@dataclass(frozen=True)
class Check:
    """A row-level check: ``code`` in ``__gm_code`` means the row failed it."""

    code: int
    reason: str
    column: str | None


# -- per-column SQL -------------------------------------------------------------------
def _family(src_type: str | None) -> str | None:
    if src_type is None:
        return None
    base = src_type.upper().split("(")[0]
    if base in _INTEGER:
        return "integer"
    if base in _NUMERIC:
        return "number"
    if base.startswith(("TIMESTAMP", "DATE")):
        return "temporal"
    return "bool" if base == "BOOLEAN" else None


def _literal_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat(" ")
    return str(value)


def _clean(text: str) -> str:
    """Trimmed text, blank as NULL; strings that need no trimming are not copied.

    Only spaces are trimmed: ``trim`` with a character set is several times slower,
    and the ``starts_with``/``ends_with`` guard saves a copy of nearly every value.
    """
    return (f"CASE WHEN starts_with({text}, ' ') OR ends_with({text}, ' ') OR {text} = '' "
            f"THEN NULLIF(trim({text}), '') ELSE {text} END")


def _date_expr(text: str, fmt: str) -> str:
    if fmt == "iso":
        return f"TRY_CAST({text} AS DATE)"
    if fmt == "excel":
        return (f"CASE WHEN regexp_full_match({text}, '\\d{{1,7}}(\\.\\d+)?') THEN "
                f"DATE '1899-12-30' + CAST(floor(CAST({text} AS DOUBLE)) AS INTEGER) END")
    return f"CAST(try_strptime({text}, {quote_literal(fmt)}) AS DATE)"


def _swap_day_month(fmt: str) -> str:
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def detect_date_format(
    con: duckdb.DuckDBPyConnection, relation: str, text: str, candidates: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """The formats to try, best first, scored on the distinct values of a column.

    The best format is the one parsing the most distinct values (ties: list order); other
    formats that parse some values follow, except the day/month swap of one already
    taken — so ``03/04/2024`` never means March in one row and April in the next.
    Returns the formats and the swapped formats that would have fit as well (an
    ambiguity the report mentions).
    """
    counts = ", ".join(
        f"count(*) FILTER (WHERE {_date_expr('v', f)} BETWEEN {_DATE_LO} AND {_DATE_HI})"
        for f in candidates
    )
    row = con.execute(
        f"SELECT {counts} FROM (SELECT DISTINCT {text} AS v FROM {relation}) WHERE v IS NOT NULL"
    ).fetchone()
    scores = dict(zip(candidates, row or [0] * len(candidates), strict=True))
    ranked = sorted((f for f in candidates if scores[f]), key=lambda f: -scores[f])
    chosen: list[str] = []
    for fmt in ranked:
        if _swap_day_month(fmt) not in chosen:
            chosen.append(fmt)
    ties = [_swap_day_month(f) for f in chosen[:1]
            if _swap_day_month(f) != f and scores.get(_swap_day_month(f)) == scores[f]]
    # A two-digit-year format never parses a four-digit year, but "%Y" happily reads
    # "24" as the year 24: try the "%y" twin first.
    for fmt in [f for f in chosen if "%y" in f]:
        twin = fmt.replace("%y", "%Y")
        if twin in chosen and chosen.index(twin) < chosen.index(fmt):
            chosen.remove(fmt)
            chosen.insert(chosen.index(twin), fmt)
    return chosen or ["iso"], ties


@dataclass
class _Col:
    """SQL of one contract column across the staged query's layers."""

    column: Column
    l0: list[str] = field(default_factory=list)   # "expr AS alias" in the first layer
    l1: str = "NULL"                               # parsed value
    text: str = "NULL"                             # the cell's text (for reasons, DQ)
    missing: str = "true"
    bad: str | None = None                         # present but unparsable
    not_allowed: str | None = None


def _column_sql(
    con: duckdb.DuckDBPyConnection, source: Source, plan: Plan, mapping: Mapping,
    column: Column, notes: list[str],
) -> _Col:
    name = column.name
    out = _Col(column)
    q = quote_ident
    t, s, p = q(f"t${name}"), q(f"s${name}"), q(f"p${name}")
    spec = mapping.spec(name)
    header = plan.sources.get(name)
    types = dict(source.columns)
    family = _family(types.get(header)) if header is not None else None
    fast = (not spec.values) and (
        (column.dtype == "float" and family in ("integer", "number"))
        or (column.dtype == "int" and family in ("integer", "number"))
        or (column.dtype == "date" and family == "temporal")
        or (column.dtype == "bool" and family == "bool")
    )
    if header is None and name not in plan.constants:
        return out  # absent column: all NULL, never missing for optional columns
    if fast:
        out.l0.append(f"{q(header)} AS {s}")
        out.text, out.missing = f"CAST({s} AS VARCHAR)", f"{s} IS NULL"
        if column.dtype == "date":
            out.l1 = f"CAST({s} AS DATE)"
        elif column.dtype == "bool" or family == "integer":
            out.l1 = f"CAST({s} AS {SQL_TYPES[column.dtype]})"
        else:
            out.l1 = f"CAST({s} AS DOUBLE)"
            out.bad = f"({s} IS NOT NULL AND NOT isfinite({p}))"
            if column.dtype == "int":
                out.bad = f"({s} IS NOT NULL AND ({p} IS NULL OR NOT isfinite({p}) OR " \
                          f"{p} <> trunc({p}) OR abs({p}) > 9e18))"
        return out
    if header is not None:
        raw = f"CAST({q(header)} AS VARCHAR)"
    else:
        raw = quote_literal(_literal_text(plan.constants[name]))
    clean = _clean(raw)
    if mapping.source.null_values:
        nulls = ", ".join(quote_literal(v) for v in mapping.source.null_values)
        clean = f"CASE WHEN {clean} IN ({nulls}) THEN NULL ELSE {clean} END"
    out.l0.append(f"{clean} AS {t}")
    out.text, out.missing = t, f"{t} IS NULL"
    value = t
    if spec.values:
        whens = " ".join(f"WHEN {quote_literal(k)} THEN {quote_literal(v)}"
                         for k, v in spec.values.items())
        value = f"NULLIF(CASE {t} {whens} ELSE {t} END, '')"  # recoded to "": empty
        out.missing = f"{value} IS NULL"
    if column.dtype == "string":
        if column.allowed:
            whens = " ".join(f"WHEN {quote_literal(a)} THEN {quote_literal(a)}"
                             for a in column.allowed)
            out.l1 = f"CASE regexp_replace(lower({value}), '[\\s-]+', '_', 'g') {whens} END"
            out.not_allowed = f"({value} IS NOT NULL AND {p} IS NULL)"
        elif name == "currency":
            out.l1 = f"upper({value})"
        else:
            out.l1 = value
        return out
    out.bad = f"({value} IS NOT NULL AND {p} IS NULL)"
    if column.dtype in ("float", "int"):
        number = value
        thousands = spec.thousands if spec.thousands is not None else mapping.thousands
        decimal = spec.decimal or mapping.decimal
        if thousands:
            number = f"replace({number}, {quote_literal(thousands)}, '')"
        if decimal != ".":
            number = f"replace({number}, {quote_literal(decimal)}, '.')"
        out.l1 = f"TRY_CAST({number} AS DOUBLE)"
        out.bad = f"({value} IS NOT NULL AND ({p} IS NULL OR NOT isfinite({p})))"
        if column.dtype == "int":
            out.bad = f"({value} IS NOT NULL AND ({p} IS NULL OR NOT isfinite({p}) OR " \
                      f"{p} <> trunc({p}) OR abs({p}) > 9e18))"
    elif column.dtype == "bool":
        trues = ", ".join(quote_literal(v) for v in _TRUE)
        falses = ", ".join(quote_literal(v) for v in _FALSE)
        out.l1 = f"CASE WHEN lower({value}) IN ({trues}) THEN true " \
                 f"WHEN lower({value}) IN ({falses}) THEN false END"
    else:
        formats = list(spec.date_format or mapping.date_format or ("auto",))
        if "auto" in formats:
            candidates = _DATE_CANDIDATES if source.format == "xlsx" else _DATE_CANDIDATES[:-1]
            found, ties = detect_date_format(con, source.relation, value.replace(t, clean),
                                             candidates)
            at = formats.index("auto")
            formats[at:at + 1] = found
            if found != ["iso"] or ties:
                notes.append(f"{name}: dates read as {' or '.join(map(repr, found))}"
                             + (f" ({', '.join(ties)} would fit every value too; set "
                                f"date_format in the mapping if that is wrong)" if ties else ""))
        for fallback in ("iso", "excel") if source.format == "xlsx" else ("iso",):
            if fallback not in formats:
                formats.append(fallback)
        parsed = ", ".join(_date_expr(value, f) for f in dict.fromkeys(formats))
        out.l1 = f"coalesce({parsed})"
        out.bad = (f"({value} IS NOT NULL AND ({p} IS NULL OR "
                   f"{p} NOT BETWEEN {_DATE_LO} AND {_DATE_HI}))")
    return out


# -- the staged query -----------------------------------------------------------------
def stage_sql(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    plan: Plan,
    mapping: Mapping,
    *,
    references: dict[str, str],
    fx: dict[str, float] | None,
    notes: list[str],
) -> tuple[str, list[Check], list[str]]:
    """The SELECT producing the stage, its row checks, and the DQ-checked columns.

    ``references`` maps a column to the subquery listing the values it may take (only
    for referenced tables that are loaded); ``fx`` maps currency codes to rates
    (``None``: no conversion).
    """
    table = plan.table
    cols = {c.name: _column_sql(con, source, plan, mapping, c, notes) for c in table.columns}
    q = quote_ident

    def p(name: str) -> str:
        return q(f"p${name}")

    l0 = [ROW] + [e for c in cols.values() for e in c.l0]
    l0 += [f"{_clean(f'CAST({q(h)} AS VARCHAR)')} AS {q('x$' + n)}"
           for n, h in plan.extras.items()]
    l1 = ["*"] + [f"{c.l1} AS {p(n)}" for n, c in cols.items()]

    checks: list[Check] = []
    whens: list[str] = []
    values: list[str] = []

    def check(cond: str, reason: str, column: str | None, value: str = "NULL") -> None:
        checks.append(Check(len(checks) + 1, reason, column))
        whens.append(f"WHEN {cond} THEN {len(checks)}")
        values.append(f"WHEN {len(checks)} THEN {value}")

    present = [c for c in table.columns if c.name in plan.sources or c.name in plan.constants]
    names = [c.name for c in present]
    currency = fx is not None and "currency" in names
    rate = "1.0"
    for rule in row_rules(table, names, references=references, currency=currency):
        col = cols.get(rule.column or "")
        if rule.kind == "duplicate_key":  # marked after the stage is built
            checks.append(Check(len(checks) + 1, rule.reason, ",".join(plan.key) or None))
        elif rule.kind == "missing":
            check(col.missing, rule.reason, rule.column)
        elif rule.kind == "unknown_currency" and fx is not None:
            known = ", ".join(quote_literal(k) for k in fx)
            check(f"({p('currency')} IS NOT NULL AND {p('currency')} NOT IN ({known}))",
                  rule.reason, rule.column, col.text)
            rate = "CASE " + " ".join(f"WHEN {p('currency')} = {quote_literal(k)} THEN {v!r}"
                                      for k, v in fx.items()) + " ELSE 1.0 END"
        elif (cond := _rule_sql(rule, cols, p, references)) is not None:
            check(cond, rule.reason, rule.column, cols[rule.column].text)
    has_doc = table.name == "transactions" and "doc_type" in names
    issues: dict[str, str] = {}
    for name, rules in cell_rules(table, names, references=references).items():
        conds = [f"WHEN {cond} THEN {quote_literal(r.issue)}" for r in rules
                 if (cond := _rule_sql(r, cols, p, references)) is not None]
        if conds:
            issues[name] = "CASE " + " ".join(conds) + " END"
    l2 = ["*", f"CASE {' '.join(whens)} END AS __gm_code" if whens else
          "CAST(NULL AS INTEGER) AS __gm_code", f"{rate} AS __gm_rate"]
    l2 += [f"{expr} AS {q('i$' + n)}" for n, expr in issues.items()]

    final = [ROW, "__gm_code",
             f"CAST(CASE __gm_code {' '.join(values)} END AS VARCHAR) AS __gm_rval" if values
             else "CAST(NULL AS VARCHAR) AS __gm_rval"]
    for c in table.columns:
        final.append(f"{_final_value(c, present, has_doc, issues)} AS {q(c.name)}")
    for n in issues:
        final.append(f"CASE WHEN {q('i$' + n)} IS NOT NULL THEN {cols[n].text} END "
                     f"AS {q('v$' + n)}")
        final.append(q("i$" + n))
    final += [f"{q('x$' + n)} AS {q(n)}" for n in plan.extras]
    sql = (f"WITH l0 AS (SELECT {', '.join(l0)} FROM {source.relation}), "
           f"l1 AS (SELECT {', '.join(l1)} FROM l0), "
           f"l2 AS (SELECT {', '.join(l2)} FROM l1) "
           f"SELECT {', '.join(final)} FROM l2")
    return sql, checks, list(issues)


def _rule_sql(rule: RowRule | CellRule, cols: dict[str, _Col], p: Any,
              references: dict[str, str]) -> str | None:
    """The SQL condition of a shared rule on the stage's parsed values (``None``: the
    rule cannot fail here, e.g. a typed column read without a text round trip)."""
    col = cols.get(rule.column or "")
    if rule.kind == "unparsable":
        return col.bad if col else None
    if rule.kind == "not_allowed":
        return col.not_allowed if col else None
    if rule.kind == "out_of_range":
        bounds = []
        if rule.low is not None:
            bounds.append(f"{p(rule.column)} < {rule.low!r}")
        if rule.high is not None:
            bounds.append(f"{p(rule.column)} > {rule.high!r}")
        return "(" + " OR ".join(bounds) + ")" if bounds else None
    if rule.kind == "unmarked_negative":
        return f"({p('amount')} < 0 AND {p('doc_type')} IS DISTINCT FROM 'credit_note')"
    if rule.kind == "unknown_reference":
        return f"({p(rule.column)} NOT IN ({references[rule.column]}))"
    return None


def _final_value(c: Column, present: list[Column], has_doc: bool,
                 issues: dict[str, str]) -> str:
    """The loaded value of ``c``: typed, converted, emptied when it had an issue."""
    sql_type = SQL_TYPES[c.dtype]
    p = quote_ident(f"p${c.name}")
    if c not in present:
        if c.name == "doc_type" and c.dtype == "string" and "amount" in [x.name for x in present]:
            # Without a document type, the sign tells: negative lines are credit notes.
            amount = quote_ident("p$amount")
            return f"CASE WHEN {amount} < 0 THEN 'credit_note' ELSE 'invoice' END"
        return f"CAST(NULL AS {sql_type})"
    value = f"TRY_CAST({p} AS {sql_type})"
    if c.name == "amount" and c.dtype == "float":
        if has_doc:  # a credit note is stored negative whatever its sign in the file
            value = f"(CASE WHEN {quote_ident('p$doc_type')} = 'credit_note' AND {p} > 0 " \
                    f"THEN -{p} ELSE {p} END)"
        value = f"{value} * __gm_rate"
    elif c.name == "cost" and c.dtype == "float":
        value = f"{value} * __gm_rate"
    if c.name in issues:
        value = f"CASE WHEN {quote_ident('i$' + c.name)} IS NULL THEN {value} END"
    return value


def check_constants(con: duckdb.DuckDBPyConnection, plan: Plan, mapping: Mapping) -> None:
    """A constant that does not parse as its column's type is a mapping error."""
    for name, value in plan.constants.items():
        column = plan.table.column(name)
        text = _literal_text(value)
        probe = Plan(plan.table, constants={name: value})
        fake = Source(path=Path(mapping.origin), format="csv",
                      relation=f"(SELECT 1 AS {ROW})", columns=[])
        col = _column_sql(con, fake, probe, mapping, column, [])
        ok = con.execute(
            f"SELECT NOT coalesce({col.bad or 'false'}, false) AND NOT coalesce("
            f"{col.not_allowed or 'false'}, false) FROM (SELECT * , {col.l1} AS "
            f"{quote_ident('p$' + name)} FROM (SELECT {', '.join(col.l0)}))"
        ).fetchone()
        if not (ok and ok[0]):
            raise ConfigError(
                f"{mapping.origin}: [constants].{name} = {text!r} is not a valid "
                f"{column.dtype} for {plan.table.name}.{name}",
                hint=f"allowed: {', '.join(column.allowed)}" if column.allowed
                else f"give a {column.dtype} value",
            )
