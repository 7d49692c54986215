"""Mapping files: how an export's columns and formats map onto a table's contract.

A mapping is plain data (a dict, usually read from TOML) so that CRM/ERP presets can
ship as dicts or TOML files and be merged with a user's overrides.  Everything here is
checked when the mapping is built, so a typo fails before any data is read, with an
error that names the key and the fix.  Checks that need the table's contract (is
``acount_id`` a column of ``accounts``?) happen in :func:`growthmap.load.load_table`.

Example (``mapping.toml``)::

    table = "transactions"

    [source]
    delimiter = ";"
    encoding = "cp1252"

    [defaults]
    decimal = ","
    thousands = "."
    date_format = "%d.%m.%Y"

    [columns]
    account_id = "Kundennr"
    date = "Belegdatum"
    amount = { from = "Nettobetrag" }
    doc_type = { from = "Belegart", values = { RE = "invoice", GS = "credit_note" } }

    [constants]
    currency = "EUR"

    [fx]
    base = "EUR"
    rates = { USD = 0.92, CHF = 1.04 }
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from growthmap.errors import ConfigError

__all__ = [
    "DATE_FORMAT_SPECIALS",
    "ColumnSpec",
    "FxSpec",
    "Mapping",
    "SourceOptions",
    "normalize_name",
    "read_mapping",
    "toml_hint",
]

#: Date "formats" that are not strftime patterns: ``auto`` detects the format per
#: column, ``iso`` is ISO 8601 (``2024-03-31``), ``excel`` is a spreadsheet serial day.
DATE_FORMAT_SPECIALS = ("auto", "iso", "excel")
_DECIMALS = (".", ",")
_THOUSANDS = ("", ",", ".", " ", "'", "_")
_FORMATS = ("csv", "parquet", "json", "ndjson", "xlsx")


def normalize_name(name: str) -> str:
    """``"Account ID "`` -> ``"account_id"``: how headers are matched and extras named."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")


def _closest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _check_keys(where: str, data: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            raise ConfigError(
                f"mapping: unknown key {key!r} in {where}{_closest(key, allowed)}",
                hint=f"{where} accepts: {', '.join(allowed)}",
            )


def _as_table(where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(
            f"mapping: {where} must be a table (key = value pairs), got {value!r}",
            hint=f"write it as a [{where}] section or an inline table {{ ... }}",
        )
    return value


def _as_str(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"mapping: {where} must be a non-empty string, got {value!r}",
            hint=f'quote it, e.g. {where.rsplit(".", 1)[-1]} = "..."',
        )
    return value


def _date_formats(where: str, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ConfigError(
            f"mapping: {where} must be a format or a list of formats, got {value!r}",
            hint='e.g. date_format = "%d.%m.%Y" or ["%d/%m/%Y", "excel"]',
        )
    for fmt in items:
        if not isinstance(fmt, str) or (fmt not in DATE_FORMAT_SPECIALS and "%" not in fmt):
            example = str(fmt).replace("DD", "%d").replace("MM", "%m").replace("YYYY", "%Y")
            raise ConfigError(
                f"mapping: {where} has {fmt!r}, which is not a date format",
                hint=f"use strftime codes (e.g. {example!r} -> '%d.%m.%Y' style) or one of "
                f"{', '.join(DATE_FORMAT_SPECIALS)}",
            )
    return tuple(items)


def _separator(where: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(
            f"mapping: {where} = {value!r} is not a separator growthmap knows",
            hint="use one of: " + ", ".join(repr(c) for c in choices),
        )
    return value


@dataclass(frozen=True)
class ColumnSpec:
    """How one contract column is read from the export.

    ``source`` is the export's header (``None``: a header with the column's own name).
    ``date_format`` is tried in order per cell; empty means the mapping's default (or
    ``auto``).  ``decimal``/``thousands`` override the defaults for this column.
    ``values`` recodes raw values before typing (``{"CN": "credit_note"}``), which is
    how document types, won/lost flags or stage names are translated.
    ``expr`` computes the column from others (``"Quantity * UnitPrice"``, a DuckDB
    expression checked by :mod:`growthmap.load._computed`); a plain string that names
    no header but reads as an expression is taken as one too.
    """

    source: str | None = None
    date_format: tuple[str, ...] = ()
    decimal: str | None = None
    thousands: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    expr: str | None = None

    _KEYS = ("from", "expr", "date_format", "decimal", "thousands", "values")

    @classmethod
    def from_value(cls, name: str, value: Any) -> ColumnSpec:
        where = f"[columns].{name}"
        if isinstance(value, str):
            return cls(source=_as_str(where, value))
        data = _as_table(where, value)
        _check_keys(where, data, cls._KEYS)
        values = _as_table(f"{where}.values", data.get("values", {}))
        return cls(
            source=_as_str(f"{where}.from", data["from"]) if "from" in data else None,
            date_format=_date_formats(f"{where}.date_format", data["date_format"])
            if "date_format" in data else (),
            decimal=_separator(f"{where}.decimal", data["decimal"], _DECIMALS)
            if "decimal" in data else None,
            thousands=_separator(f"{where}.thousands", data["thousands"], _THOUSANDS)
            if "thousands" in data else None,
            values={str(k): _value_text(v) for k, v in values.items()},
            expr=_as_str(f"{where}.expr", data["expr"]) if "expr" in data else None,
        )

    def to_value(self) -> str | dict[str, Any]:
        out: dict[str, Any] = {}
        if self.source is not None:
            out["from"] = self.source
        if self.expr is not None:
            out["expr"] = self.expr
        if self.date_format:
            out["date_format"] = list(self.date_format)
        if self.decimal is not None:
            out["decimal"] = self.decimal
        if self.thousands is not None:
            out["thousands"] = self.thousands
        if self.values:
            out["values"] = dict(self.values)
        return out["from"] if list(out) == ["from"] else out


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class SourceOptions:
    """How to read the file itself; every field defaults to detection.

    ``header_row`` is the 1-based row holding the headers (rows above it are skipped);
    ``null_values`` are cell texts treated as empty besides blanks; ``ignore`` lists
    headers to drop without a note (e.g. internal columns of an accounts export).
    """

    format: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    header_row: int = 1
    null_values: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()

    _KEYS = ("format", "delimiter", "encoding", "sheet", "header_row", "null_values", "ignore")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceOptions:
        data = _as_table("[source]", data)
        _check_keys("[source]", data, cls._KEYS)
        fmt = data.get("format")
        if fmt is not None and fmt not in _FORMATS:
            raise ConfigError(
                f"mapping: [source].format = {fmt!r} is not a format growthmap reads",
                hint=f"use one of: {', '.join(_FORMATS)}, or leave it out to go by the extension",
            )
        header_row = data.get("header_row", 1)
        if not isinstance(header_row, int) or isinstance(header_row, bool) or header_row < 1:
            raise ConfigError(
                f"mapping: [source].header_row must be a row number >= 1, got {header_row!r}",
                hint="header_row = 1 when the headers are on the first row",
            )
        lists = {}
        for key in ("null_values", "ignore"):
            value = data.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(
                    f"mapping: [source].{key} must be a list of strings, got {value!r}",
                    hint=f'e.g. {key} = ["NULL", "#N/A"]',
                )
            lists[key] = tuple(value)
        return cls(
            format=fmt,
            delimiter=_as_str("[source].delimiter", data["delimiter"])
            if "delimiter" in data else None,
            encoding=_as_str("[source].encoding", data["encoding"]) if "encoding" in data else None,
            sheet=_as_str("[source].sheet", data["sheet"]) if "sheet" in data else None,
            header_row=header_row,
            **lists,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value != f.default and value != ():
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class FxSpec:
    """Currency conversion into the base currency.

    ``rates`` are base-currency units per one unit of each currency; when empty, the
    workspace's ``fx_rates`` table is used.  The base currency converts at 1.
    """

    base: str | None = None
    rates: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FxSpec:
        data = _as_table("[fx]", data)
        _check_keys("[fx]", data, ("base", "rates"))
        rates = _as_table("[fx].rates", data.get("rates", {}))
        clean: dict[str, float] = {}
        for code, rate in rates.items():
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not rate > 0:
                raise ConfigError(
                    f"mapping: [fx].rates.{code} = {rate!r} is not a positive number",
                    hint=f"give base-currency units per one {code}, e.g. {code} = 0.92",
                )
            clean[str(code).strip().upper()] = float(rate)
        base = data.get("base")
        return cls(base=_as_str("[fx].base", base).strip().upper() if base is not None else None,
                   rates=clean)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.base:
            out["base"] = self.base
        if self.rates:
            out["rates"] = dict(self.rates)
        return out


@dataclass(frozen=True)
class Mapping:
    """A column mapping for one export: renames, parsing rules, constants and FX.

    Build it with :meth:`from_dict` (a parsed TOML file or a preset dict) or
    :func:`read_mapping`; ``Mapping()`` is the identity mapping (headers already carry
    the contract's names).  :meth:`merge` lays a user's dict over a preset.
    """

    table: str | None = None
    description: str = ""
    source: SourceOptions = field(default_factory=SourceOptions)
    decimal: str = "."
    thousands: str = ""
    date_format: tuple[str, ...] = ()
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    fx: FxSpec | None = None
    origin: str = field(default="mapping", compare=False)

    _KEYS = ("table", "description", "source", "defaults", "columns", "constants", "fx")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, origin: str = "mapping") -> Mapping:
        """Build and check a mapping from plain data (the TOML layout)."""
        data = _as_table("the mapping", data)
        _check_keys("the mapping's top level", data, cls._KEYS)
        defaults = _as_table("[defaults]", data.get("defaults", {}))
        _check_keys("[defaults]", defaults, ("decimal", "thousands", "date_format"))
        decimal = _separator("[defaults].decimal", defaults.get("decimal", "."), _DECIMALS)
        thousands = _separator("[defaults].thousands", defaults.get("thousands", ""), _THOUSANDS)
        if thousands and thousands == decimal:
            raise ConfigError(
                f"mapping: [defaults] uses {decimal!r} as both decimal and thousands separator",
                hint='e.g. decimal = "," with thousands = "." (or thousands = "")',
            )
        columns = {
            str(name): ColumnSpec.from_value(str(name), value)
            for name, value in _as_table("[columns]", data.get("columns", {})).items()
        }
        constants = dict(_as_table("[constants]", data.get("constants", {})))
        for name, value in constants.items():
            if not isinstance(value, str | int | float | bool | dt.date):
                raise ConfigError(
                    f"mapping: [constants].{name} = {value!r} is not a single value",
                    hint='give a string, number, boolean or date, e.g. currency = "EUR"',
                )
            if name in columns:
                raise ConfigError(
                    f"mapping: {name!r} is both mapped in [columns] and set in [constants]",
                    hint=f"remove {name} from one of the two sections",
                )
        table = data.get("table")
        return cls(
            table=_as_str("table", table) if table is not None else None,
            description=str(data.get("description", "")),
            source=SourceOptions.from_dict(data.get("source", {})),
            decimal=decimal,
            thousands=thousands,
            date_format=_date_formats("[defaults].date_format", defaults["date_format"])
            if "date_format" in defaults else (),
            columns=columns,
            constants=constants,
            fx=FxSpec.from_dict(data["fx"]) if "fx" in data else None,
            origin=origin,
        )

    def to_dict(self) -> dict[str, Any]:
        """The TOML layout of this mapping: ``Mapping.from_dict(m.to_dict()) == m``."""
        out: dict[str, Any] = {}
        if self.table:
            out["table"] = self.table
        if self.description:
            out["description"] = self.description
        if source := self.source.to_dict():
            out["source"] = source
        defaults: dict[str, Any] = {}
        if self.decimal != ".":
            defaults["decimal"] = self.decimal
        if self.thousands:
            defaults["thousands"] = self.thousands
        if self.date_format:
            defaults["date_format"] = list(self.date_format)
        if defaults:
            out["defaults"] = defaults
        if self.columns:
            out["columns"] = {k: v.to_value() for k, v in self.columns.items()}
        if self.constants:
            out["constants"] = dict(self.constants)
        if self.fx is not None:
            out["fx"] = self.fx.to_dict()
        return out

    def merge(self, override: dict[str, Any] | Mapping) -> Mapping:
        """This mapping with ``override`` laid over it, key by key (a preset + a user's fixes).

        ``{"columns": {"date": {"date_format": "%d.%m.%Y"}}}`` keeps the preset's header
        for ``date`` and changes only its format; ``values`` tables are merged too.
        """
        other = override.to_dict() if isinstance(override, Mapping) else override
        return Mapping.from_dict(_deep_merge(_expanded(self.to_dict()), _expanded(other)),
                                 origin=self.origin)

    def spec(self, column: str) -> ColumnSpec:
        """The spec of ``column`` (the identity spec when the mapping does not name it)."""
        return self.columns.get(column, ColumnSpec())


def _expanded(data: dict[str, Any]) -> dict[str, Any]:
    """``columns.x = "Header"`` written as ``{from = "Header"}``, so that it merges."""
    columns = data.get("columns")
    if not isinstance(columns, dict):
        return data
    return {**data, "columns": {k: {"from": v} if isinstance(v, str) else v
                                for k, v in columns.items()}}


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def toml_hint(text: str, error: str) -> str:
    """A fix for a TOML syntax error, quoting the line it names."""
    m = re.search(r"line (\d+)", error)
    line = text.splitlines()[int(m.group(1)) - 1].strip() if m and 0 < int(m.group(1)) <= len(
        text.splitlines()) else ""
    where = f"line {m.group(1)}: {line}" if m else "the line named"
    if line.count('"') % 2 == 1:
        return f"close the string on {where} (every value needs a quote at both ends)"
    if "=" in line and not re.search(r"=\s*[\"'\[{\dtf-]", line):
        return f'quote the value on {where}, e.g. amount = "Net Amount"'
    return f'fix the TOML syntax on {where}; values are quoted: amount = "Net Amount"'


def read_mapping(path: str | Path) -> Mapping:
    """Read a TOML mapping file; a syntax or content error names the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"mapping file {path} does not exist", hint="check the --mapping path"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"cannot read mapping file {path}: {exc}", hint="save it as UTF-8 text"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"mapping file {path} is not valid TOML: {exc}",
                          hint=toml_hint(text, str(exc))) from None
    try:
        return Mapping.from_dict(data, origin=str(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.message}", hint=exc.hint) from None
