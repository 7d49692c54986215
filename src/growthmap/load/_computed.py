"""Computed columns in a mapping: ``amount = "Quantity * UnitPrice"``.

Some exports have no column for what the contract needs — UCI Online Retail has
``Quantity`` and ``UnitPrice`` but no line amount.  A mapping may then give a DuckDB
expression over the file's headers instead of a header (``amount = "Quantity *
UnitPrice"`` or ``amount = { expr = "..." }``).  A string that names a header is a
header; one that does not but parses as an expression is an expression.

The expression is checked before anything runs: it must be one scalar expression
(no subquery, no table function, no statement), every column it names must be a
header of the file (the error names the unknown one and the closest header), and only
plain scalar functions are allowed.  Text columns it reads as numbers are cast to
DOUBLE when every value in them is a number.  The result is added to the source as a
text column and then parsed, validated and quarantined like any other column — a row
whose expression yields nothing is quarantined with the reason, never dropped.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import replace
from typing import Any

import duckdb

from growthmap.errors import ConfigError
from growthmap.load._mapping import Mapping, normalize_name
from growthmap.load._read import ROW, Source, quote_ident

__all__ = ["ALLOWED_FUNCTIONS", "add_computed", "expression_columns", "looks_like_expression"]

_VIEW = "__gm_calc"
#: Scalar functions an expression may call (operators included).
ALLOWED_FUNCTIONS = frozenset({
    "+", "-", "*", "/", "//", "%", "abs", "round", "floor", "ceil", "greatest", "least",
    "coalesce", "nullif", "ifnull", "lower", "upper", "trim", "concat", "||", "replace",
    "substring", "substr", "left", "right", "strptime", "try_strptime", "regexp_replace",
    "sign", "sqrt", "ln", "log10", "exp", "power", "pow", "length", "strip_accents",
})
_ALLOWED_CLASSES = {"FUNCTION", "COLUMN_REF", "CONSTANT", "CAST", "CASE", "COMPARISON",
                    "CONJUNCTION", "OPERATOR", "BETWEEN"}


def looks_like_expression(text: str) -> bool:
    """Whether ``text`` could be an expression rather than a header name."""
    return any(ch in text for ch in "*/+()|") or " - " in text


def _walk(node: Any, where: str, found: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, where, found)
        return
    if not isinstance(node, dict):
        return
    cls = node.get("class")
    if cls is not None and cls not in _ALLOWED_CLASSES:
        raise ConfigError(f"{where}: {cls.lower()} is not allowed in a computed column",
                          hint="use arithmetic, CASE, casts and plain functions over the "
                          "file's headers, e.g. amount = \"Quantity * UnitPrice\"")
    if cls == "FUNCTION":
        name = str(node.get("function_name", "")).lower()
        if name not in ALLOWED_FUNCTIONS or node.get("schema"):
            raise ConfigError(f"{where}: function {name!r} is not allowed in a computed column",
                              hint=f"allowed: {', '.join(sorted(ALLOWED_FUNCTIONS))}")
    if cls == "COLUMN_REF":
        names = node.get("column_names") or []
        found.append(str(names[-1]))
    for key, value in node.items():
        if key != "class":
            _walk(value, where, found)


def expression_columns(con: duckdb.DuckDBPyConnection, expr: str, where: str) -> list[str]:
    """The headers ``expr`` reads; a :class:`ConfigError` when it is not a safe expression."""
    text = con.execute("SELECT json_serialize_sql(?)", [f"SELECT {expr}"]).fetchone()[0]
    tree = json.loads(text)
    statements = tree.get("statements") or []
    if tree.get("error") or len(statements) != 1:
        raise ConfigError(f"{where}: {expr!r} is not a single expression"
                          + (f" ({tree.get('error_message')})" if tree.get("error") else ""),
                          hint='e.g. amount = "Quantity * UnitPrice"; quote headers with '
                          'spaces inside it: "\\"Unit Price\\" * Qty"')
    node = statements[0]["node"]
    if (node.get("from_table") or {}).get("type") != "EMPTY" or len(node["select_list"]) != 1 \
            or node.get("where_clause") or node.get("group_expressions"):
        raise ConfigError(f"{where}: {expr!r} is not a single expression",
                          hint='e.g. amount = "Quantity * UnitPrice"')
    found: list[str] = []
    _walk(node["select_list"], where, found)
    return list(dict.fromkeys(found))


def _header(name: str, headers: list[str]) -> str | None:
    if name in headers:
        return name
    hits = [h for h in headers if normalize_name(h) == normalize_name(name)]
    return hits[0] if len(hits) == 1 else None


def _computed_specs(mapping: Mapping, headers: list[str]) -> dict[str, str]:
    """column -> expression, for the specs that are expressions over this file."""
    out = {}
    for name, spec in mapping.columns.items():
        if spec.expr:
            out[name] = spec.expr
        elif spec.source and _header(spec.source, headers) is None \
                and looks_like_expression(spec.source):
            out[name] = spec.source
    return out


def add_computed(con: duckdb.DuckDBPyConnection, source: Source, mapping: Mapping
                 ) -> Mapping:
    """Add the mapping's computed columns to ``source``; the mapping, pointed at them.

    ``source.relation`` becomes a view with one more text column per computed column
    (named ``= <expression>``); the returned mapping reads each column from there.
    """
    exprs = _computed_specs(mapping, source.headers)
    if not exprs:
        return mapping
    types = dict(source.columns)
    columns = dict(mapping.columns)
    calc = []
    cast: set[str] = set()
    for name, expr in exprs.items():
        where = f"{mapping.origin}: [columns].{name}"
        refs = expression_columns(con, expr, where)
        for ref in refs:
            if _header(ref, source.headers) is None:
                match = difflib.get_close_matches(ref, source.headers, n=1, cutoff=0.5)
                raise ConfigError(
                    f"{where} = {expr!r} reads column {ref!r}, which {source.path.name} "
                    "does not have" + (f" (did you mean {match[0]!r}?)" if match else ""),
                    hint=f"the file has: {', '.join(source.headers)}")
            header = _header(ref, source.headers)
            if types.get(header, "VARCHAR") == "VARCHAR":
                cast.add(header)
        label = f"= {expr}"
        calc.append((label, expr))
        columns[name] = replace(mapping.spec(name), source=label, expr=None, decimal=".",
                                thousands="")
    numeric = _numeric_text_columns(con, source.relation, sorted(cast))
    typed = ", ".join(
        f"TRY_CAST({quote_ident(h)} AS DOUBLE) AS {quote_ident(h)}" if h in numeric
        else quote_ident(h) for h in source.headers)
    inner = f"SELECT {ROW}, {typed} FROM {source.relation}"
    values = ", ".join(f"CAST(({expr}) AS VARCHAR) AS {quote_ident(label)}"
                       for label, expr in calc)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {_VIEW} AS SELECT s.*, c.* EXCLUDE ({ROW}) "
        f"FROM {source.relation} s JOIN (SELECT {ROW}, {values} FROM ({inner})) c "
        f"ON c.{ROW} = s.{ROW}")
    try:
        con.execute(f"SELECT * FROM {_VIEW} LIMIT 0").fetchall()
    except duckdb.Error as exc:
        raise ConfigError(f"{mapping.origin}: a computed column cannot be evaluated: "
                          f"{str(exc).splitlines()[0]}",
                          hint="check the expression's columns and types; text columns "
                          "are numbers only when every value is one") from None
    source.relation = _VIEW
    source.columns = [*source.columns, *((label, "VARCHAR") for label, _ in calc)]
    return replace(mapping, columns=columns)


def _numeric_text_columns(con: duckdb.DuckDBPyConnection, relation: str,
                          headers: list[str]) -> set[str]:
    """The text columns among ``headers`` whose every non-empty value is a number."""
    if not headers:
        return set()
    parts = ", ".join(
        f"count(*) FILTER ({quote_ident(h)} IS NOT NULL AND trim({quote_ident(h)}) <> '' "
        f"AND TRY_CAST({quote_ident(h)} AS DOUBLE) IS NULL)" for h in headers)
    bad = con.execute(f"SELECT {parts} FROM {relation}").fetchone()
    return {h for h, n in zip(headers, bad, strict=True) if n == 0}


