"""Input validation on Spark: the loader's rules (:mod:`growthmap.load.rules`) in Ibis.

Each rule of the shared list becomes an Ibis expression that Spark evaluates on the
cluster; the first failing rule is the row's ``reason``, exactly as the DuckDB loader
decides it.  Tables are validated in :func:`~growthmap.load.rules.load_order`, so a
reference (``transactions.account_id`` -> ``accounts``) is checked against the rows kept
of the referenced table, as the DuckDB loader checks it against the loaded table.

Rows keep their place in the file (``row_number``, 1-based, as in the DuckDB
quarantine): read from Parquet's own row index, so "the first row of a duplicated key
stays" means the same row on both engines.  Catalog tables have no file order; there the
scan order stands in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import pyarrow.parquet as pq

from growthmap.contract.inputs import TABLES, Column
from growthmap.contract.inputs import Table as Contract
from growthmap.errors import InputError
from growthmap.load.rules import (
    ALLOWED_SEPARATORS,
    DATE_RANGE,
    FALSE_WORDS,
    MAX_ABS_INT,
    TRUE_WORDS,
    CellRule,
    RowRule,
    cell_rules,
    load_order,
    row_rules,
)

__all__ = ["SPARK_REASONS", "ValidationReport", "row_numbered", "validate_tables"]

#: Why the Spark path quarantines a row: the loader's reasons except those it cannot
#: meet (a malformed line is a CSV matter; currencies need exchange rates, see
#: docs/scaling.md).
SPARK_REASONS = ("missing key", "missing required value", "unparsable value",
                 "value not allowed", "out of range", "unmarked negative amount",
                 "unknown reference", "duplicate key")
ROW = "_gm_row"
_IBIS_TYPES = {"string": "string", "int": "int64", "float": "float64", "date": "date",
               "bool": "boolean"}


@dataclass
class ValidationReport:
    """What validation did per table: rows in, kept, quarantined by reason, cells nulled.

    ``rows_in == rows_kept + sum(quarantined.values())`` for every table.
    """

    rows_in: dict[str, int] = field(default_factory=dict)
    rows_kept: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, dict[str, int]] = field(default_factory=dict)
    nulled: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"rows_in": self.rows_in, "rows_kept": self.rows_kept,
                "quarantined": self.quarantined, "nulled": self.nulled}


def row_numbered(backend: Any, name: str, *, path: str | None = None,
                 table: ibis.Table | None = None) -> ibis.Table:
    """The input ``name`` with its 1-based row number as ``_gm_row``.

    From a Parquet file (or folder) at ``path`` the number is the row's place in its
    file (Parquet's row index, as DuckDB's loader numbers rows); a ``table`` without a
    file (a catalog table) is numbered in scan order.
    """
    from pyspark.sql import functions as F

    if path is not None:
        df = backend._session.read.parquet(path)
        try:  # Parquet's own row index: the row's place in its file
            df = df.select("*", (F.col("_metadata.row_index") + 1).alias(ROW))
        except Exception:  # an older Spark: the scan order stands in
            df = df.select("*", (F.monotonically_increasing_id() + 1).alias(ROW))
    else:
        backend._run_pre_execute_hooks(table)  # as spark_run.to_spark_dataframe does
        df = backend.raw_sql(backend.compile(table)).select(
            "*", (F.monotonically_increasing_id() + 1).alias(ROW))
    view = f"gm_rows_{name}"
    df.createOrReplaceTempView(view)
    return backend.table(view)


# -- one column: its value, and whether its text failed to parse ----------------------
@dataclass
class _Cell:
    value: ibis.Value            # typed (null when absent or unparsable)
    present: ibis.Value          # a non-blank value was given
    unparsable: ibis.Value
    not_allowed: ibis.Value


def _cell(t: ibis.Table, col: Column) -> _Cell:
    raw = t[col.name]
    typ = raw.type()
    false = ibis.literal(False)
    typed = {"float": typ.is_floating() or typ.is_integer() or typ.is_decimal(),
             "int": typ.is_floating() or typ.is_integer() or typ.is_decimal(),
             "date": typ.is_date() or typ.is_timestamp(),
             "bool": typ.is_boolean()}.get(col.dtype, False)
    if typed:  # the file's type already fits: no text round trip (as the loader's fast path)
        present = raw.notnull()
        if typ.is_floating():  # Ibis counts NaN as null on Spark; the loader, as a value
            present = present | raw.isnan().fill_null(False)
        if col.dtype in ("float", "int") and not typ.is_integer():
            num = raw.cast("float64")
            bad = num.isnan() | num.isinf()
            if col.dtype == "int":
                bad = bad | (num != num.floor()) | (num.abs() > MAX_ABS_INT)
            return _Cell(ibis.cases((bad, ibis.null(_IBIS_TYPES[col.dtype])),
                                    else_=num.cast(_IBIS_TYPES[col.dtype])),
                         present, (present & bad).fill_null(False), false)
        return _Cell(raw.cast(_IBIS_TYPES[col.dtype]), present, false, false)
    text = raw.cast("string").strip()
    text = ibis.cases((text == "", ibis.null("string")), else_=text)
    present = text.notnull()
    if col.dtype == "string":
        if col.allowed:
            form = text.lower().re_replace(ALLOWED_SEPARATORS, "_")
            value = ibis.cases((form.isin(list(col.allowed)), form), else_=ibis.null("string"))
            return _Cell(value, present, false, (present & value.isnull()).fill_null(False))
        return _Cell(text.upper() if col.name == "currency" else text, present, false, false)
    if col.dtype in ("float", "int"):
        num = text.try_cast("float64")
        bad = num.isnull() | num.isnan() | num.isinf()
        if col.dtype == "int":
            bad = bad | (num != num.floor()) | (num.abs() > MAX_ABS_INT)
        value = ibis.cases((bad, ibis.null(_IBIS_TYPES[col.dtype])),
                           else_=num.cast(_IBIS_TYPES[col.dtype]))
    elif col.dtype == "bool":
        low = text.lower()
        value = ibis.cases((low.isin(list(TRUE_WORDS)), True),
                           (low.isin(list(FALSE_WORDS)), False), else_=ibis.null("boolean"))
        bad = value.isnull()
    else:
        day = text.try_cast("date")
        bad = day.isnull() | (day < DATE_RANGE[0]) | (day > DATE_RANGE[1])
        value = ibis.cases((bad, ibis.null("date")), else_=day)
    return _Cell(value, present, (present & bad).fill_null(False), false)


def _fails(rule: RowRule | CellRule, cells: dict[str, _Cell], known: dict[str, ibis.Value]
           ) -> ibis.Value:
    """Whether a row fails ``rule`` (never null)."""
    c = cells.get(rule.column or "")
    if rule.kind == "missing":
        return ~c.present
    if rule.kind == "unparsable":
        return c.unparsable
    if rule.kind == "not_allowed":
        return c.not_allowed
    if rule.kind == "out_of_range":
        hit = ibis.literal(False)
        if rule.low is not None:
            hit = hit | (c.value < rule.low)
        if rule.high is not None:
            hit = hit | (c.value > rule.high)
        return hit.fill_null(False)
    if rule.kind == "unmarked_negative":
        doc = cells["doc_type"].value
        return ((cells["amount"].value < 0) & (doc.isnull() | (doc != "credit_note"))
                ).fill_null(False)
    if rule.kind == "unknown_reference":
        return (c.value.notnull() & ~known[rule.column]).fill_null(False)
    raise ValueError(f"no Spark translation of rule kind {rule.kind!r}")  # pragma: no cover


def _with_references(t: ibis.Table, contract: Contract, cells: dict[str, _Cell],
                     kept: dict[str, ibis.Table]) -> tuple[ibis.Table, dict[str, str]]:
    """``t`` joined to the values each checkable reference may take; flag column names."""
    flags: dict[str, str] = {}
    for c in contract.columns:
        if not c.references or c.name not in t.columns:
            continue
        ref_table, ref_col = c.references.split(".")
        if ref_table not in kept or ref_col not in kept[ref_table].columns:
            continue
        key, flag = f"_rv_{c.name}", f"_rk_{c.name}"
        ref = kept[ref_table]
        vals = (ref.select(**{key: ref[ref_col].cast("string")}).filter(ibis._[key].notnull())
                .distinct().mutate(**{flag: ibis.literal(True)}))
        t = t.mutate(**{f"_jv_{c.name}": cells[c.name].value.cast("string")})
        t = t.left_join(vals, t[f"_jv_{c.name}"] == vals[key]).drop(key, f"_jv_{c.name}")
        flags[c.name] = flag
    return t, flags


def _validate_table(name: str, t: ibis.Table, contract: Contract,
                    kept: dict[str, ibis.Table]) -> ibis.Table:
    """Every row with its contract-typed values, ``_reason`` (null: kept) and
    ``_column`` (the column of the failed rule), and ``_i_<col>`` per optional column
    that can go bad (the issue that nulled the cell)."""
    missing = [c for c in contract.required_columns if c not in t.columns]
    if missing:
        raise InputError(f"{name}: required column(s) {', '.join(missing)} missing",
                         hint=f"add them to {name}.parquet or rename the columns to the "
                         "contract names (docs/data-contract.md)")
    original = [c for c in t.columns if c != ROW]
    present = [c for c in contract.column_names if c in t.columns]
    refs = [c.name for c in contract.columns if c.references and c.name in present
            and c.references.split(".")[0] in kept]
    cells = {c.name: _cell(t, c) for c in contract.columns if c.name in present}
    t, flags = _with_references(t, contract, cells, kept)
    cells = {c.name: _cell(t, c) for c in contract.columns if c.name in present}
    known = {c: t[f].notnull() for c, f in flags.items()}
    rules = [r for r in row_rules(contract, present, references=refs)
             if r.kind != "duplicate_key"]
    reason, column = ibis.null("string"), ibis.null("string")
    for r in reversed(rules):  # the first failure wins
        hit = _fails(r, cells, known)
        reason = ibis.cases((hit, ibis.literal(r.reason)), else_=reason)
        column = ibis.cases((hit, ibis.literal(r.column)), else_=column)
    issues: dict[str, ibis.Value] = {}
    for col, crules in cell_rules(contract, present, references=refs).items():
        issue = ibis.null("string")
        for r in reversed(crules):
            issue = ibis.cases((_fails(r, cells, known), ibis.literal(r.issue)), else_=issue)
        issues[col] = issue
    values = {}
    for c in contract.columns:
        v = cells[c.name].value if c.name in cells else ibis.null(_IBIS_TYPES[c.dtype])
        if c.name in issues:
            v = ibis.cases((issues[c.name].isnull(), v), else_=ibis.null(_IBIS_TYPES[c.dtype]))
        values[c.name] = v
    if "amount" in present:  # a credit note is negative whatever its sign in the file
        amount = cells["amount"].value
        if "doc_type" in present:
            values["amount"] = ibis.cases(
                ((values["doc_type"] == "credit_note") & (amount > 0), -amount),
                else_=values["amount"])
        elif name == "transactions":  # no document type: the sign tells
            values["doc_type"] = ibis.cases((amount < 0, "credit_note"), else_="invoice")
    extra = [c for c in original if c not in cells] if contract.extra_columns else []
    return t.select(t[ROW], *[t[c].name(f"_x_{c}") for c in extra],
                    *[t[c].cast("string").name(f"_raw_{c}") for c in original],
                    **{f"_v_{k}": v for k, v in values.items()},
                    **{f"_i_{k}": v for k, v in issues.items()},
                    _reason=reason, _column=column)


def _mark_duplicates(flagged: ibis.Table, key: list[str]) -> ibis.Table:
    """Every valid row whose key an earlier valid row (in file order) has: ``duplicate key``."""
    if not key:
        return flagged
    valid = flagged._reason.isnull()
    for k in key:
        valid = valid & flagged[f"_v_{k}"].notnull()
    w = ibis.window(group_by=[flagged[f"_v_{k}"] for k in key], order_by=flagged[ROW])
    first = ibis.cases((valid, ibis.row_number().over(w)), else_=ibis.null("int64"))
    marked = flagged.mutate(_n=first)
    dup = (marked._n > 0).fill_null(False)
    return marked.mutate(
        _reason=ibis.cases((dup, ibis.literal("duplicate key")), else_=marked._reason),
        _column=ibis.cases((dup, ibis.literal(",".join(key))), else_=marked._column),
    ).drop("_n")


def validate_tables(backend: Any, tables: dict[str, ibis.Table],
                    quarantine_dir: str | Path | None = None
                    ) -> tuple[dict[str, ibis.Table], ValidationReport]:
    """Check every table (each with ``_gm_row``) against the shared rules.

    Returns the clean tables (contract types, cached on the cluster) and the counts;
    quarantined rows -- original values as text, ``row_number``, ``reason`` and
    ``column_name`` -- go to ``<quarantine_dir>/<table>.parquet``.
    """
    report = ValidationReport()
    clean_tables: dict[str, ibis.Table] = {}
    for name in load_order(tables):
        t, contract = tables[name], TABLES[name]
        flagged = _validate_table(name, t, contract, clean_tables)
        flagged = _mark_duplicates(flagged, [k for k in contract.key if k in t.columns]
                                   ).cache()
        issue_cols = [c for c in flagged.columns if c.startswith("_i_")]
        kept = flagged._reason.isnull()
        counts = backend.execute(flagged.group_by("_reason").aggregate(
            _n=flagged.count(),
            **{c: (kept & flagged[c].notnull()).sum() for c in issue_cols}))
        report.rows_in[name] = int(counts["_n"].sum())
        good = counts[counts["_reason"].isna()]
        report.rows_kept[name] = int(good["_n"].sum())
        report.quarantined[name] = {str(r): int(n) for r, n in zip(
            counts["_reason"], counts["_n"], strict=True) if isinstance(r, str)}
        if issue_cols and len(good):
            nulled = {c[3:]: int(good[c].iloc[0]) for c in issue_cols}
            report.nulled[name] = {c: n for c, n in nulled.items() if n}
        if quarantine_dir is not None and report.quarantined[name]:
            bad = flagged.filter(flagged._reason.notnull())
            raw = [c for c in bad.columns if c.startswith("_raw_")]
            q = bad.select(*[bad[c].name(c[5:]) for c in raw],
                           row_number=bad[ROW], reason=bad._reason,
                           column_name=bad._column).order_by("row_number")
            qdir = Path(quarantine_dir)
            qdir.mkdir(parents=True, exist_ok=True)
            pq.write_table(backend.to_pyarrow(q), qdir / f"{name}.parquet")
        ok = flagged.filter(kept)
        extra = [c for c in ok.columns if c.startswith("_x_")]
        clean_tables[name] = ok.select(*[ok[c].name(c[3:]) for c in extra],
                                       *[ok[f"_v_{c.name}"].name(c.name)
                                         for c in contract.columns
                                         if c.name in t.columns or (
                                             c.name == "doc_type" and "amount" in t.columns
                                             and name == "transactions")])
    return clean_tables, report
