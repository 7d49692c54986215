"""Which header of an export feeds which contract column.

Matching is forgiving on spelling (``Account ID`` finds ``account_id``) but never
guesses between two candidates, and a required column that cannot be found stops the
load with the headers found and the closest one suggested, before anything is written.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from growthmap.contract.inputs import Table
from growthmap.errors import ConfigError, InputError
from growthmap.load._mapping import Mapping, normalize_name
from growthmap.load._read import Source

__all__ = ["Plan", "resolve"]


@dataclass
class Plan:
    """Which header feeds which contract column, and what happens to the rest."""

    table: Table
    sources: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, ...]:
        """The key the file can be checked on (transactions without line_id have none)."""
        present = set(self.sources) | set(self.constants)
        return self.table.key if all(k in present for k in self.table.key) else ()


def _suggest(table: Table, word: str, headers: list[str]) -> str | None:
    """The header most like column ``word`` by its name, synonyms and presets' headers
    (the scoring ``growthmap mapping suggest`` uses), else by spelling alone."""
    from growthmap.load.suggest import MIN_CONFIDENCE, _name_score, _names_for, _preset_headers

    if word in table.column_names and headers:
        names = _names_for(table, table.column(word), _preset_headers(table.name))
        score, best = max((_name_score(h, names)[0], h) for h in headers)
        if score >= MIN_CONFIDENCE:
            return best
    norm = {normalize_name(h): h for h in headers}
    match = difflib.get_close_matches(normalize_name(word), list(norm), n=1, cutoff=0.8)
    return norm[match[0]] if match else None


def resolve(table: Table, source: Source, mapping: Mapping) -> Plan:
    """Match the file's headers to the contract: mapping first, then by (normalised) name."""
    if mapping.table is not None and mapping.table != table.name:
        raise ConfigError(
            f"{mapping.origin} is a mapping for {mapping.table!r}, not {table.name!r}",
            hint=f"use a mapping written for {table.name}, or change its `table` key",
        )
    headers = source.headers
    plan = Plan(table)
    used: set[str] = set()

    def find(name: str, *, reuse: bool = False) -> str | None:
        """The header for ``name``: exact, else the one header equal up to case/punctuation.

        An explicit mapping may read two columns from one header (``reuse``); matching
        by name never takes a header twice.
        """
        if name in headers and (reuse or name not in used):
            return name
        for norm in (str.lower, normalize_name):
            hits = [h for h in headers if norm(h) == norm(name) and (reuse or h not in used)]
            if len(hits) == 1:
                return hits[0]
        return None

    names = table.column_names
    missing: list[str] = []
    for name, spec in mapping.columns.items():
        if name not in names and not table.extra_columns:
            match = difflib.get_close_matches(name, list(names), n=1)
            raise ConfigError(
                f"{mapping.origin}: [columns] names {name!r}, which is not a column of "
                f"{table.name}" + (f" (did you mean {match[0]!r}?)" if match else ""),
                hint=f"{table.name} has: {', '.join(names)}",
            )
        header = find(spec.source or name, reuse=True)
        if header is None and spec.source and name in names:
            # a preset's header the export renamed: a header with the column's own name
            header = find(name)
            if header is not None:
                plan.notes.append(
                    f"{mapping.origin} reads {name} from {spec.source!r}, which the file "
                    f"lacks; read from {header!r}, which carries the column's name")
        if header is None:
            if name in names and table.column(name).required:
                missing.append(name)
            else:
                plan.notes.append(
                    f"the mapping reads {name} from {spec.source or name!r}, which the file "
                    f"lacks; {name} is left empty")
            continue
        used.add(header)
        if name in names:
            plan.sources[name] = header
        else:
            plan.extras[_extra_name(name, names, plan.extras)] = header
    for name, value in mapping.constants.items():
        if name not in names:
            raise ConfigError(
                f"{mapping.origin}: [constants] sets {name!r}, which is not a column of "
                f"{table.name}", hint=f"{table.name} has: {', '.join(names)}")
        plan.constants[name] = value
    for name in names:
        if name in plan.sources or name in plan.constants or name in mapping.columns:
            continue
        header = find(name)
        if header is not None:
            used.add(header)
            plan.sources[name] = header
        elif table.column(name).required:
            missing.append(name)
    if missing:
        lines = []
        for name in missing:
            guess = _suggest(table, name, [h for h in headers if h not in used])
            lines.append(f'{name} = "{guess}"' if guess else f'{name} = "<header in the file>"')
        raise InputError(
            f"{source.path}: required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} of {table.name} not found; the file has: "
            f"{', '.join(headers) or '(no columns)'}",
            hint="name the headers in a mapping file (--mapping) under [columns]: "
            + "; ".join(lines),
        )
    ignore = {h.lower() for h in mapping.source.ignore}
    for header in headers:
        if header in used or header.lower() in ignore:
            continue
        if table.extra_columns:
            plan.extras[_extra_name(header, names, plan.extras)] = header
        else:
            plan.dropped.append(header)
    if plan.dropped:
        plan.notes.append(
            f"{table.name} keeps only its contract's columns; dropped: {', '.join(plan.dropped)}")
    return plan


def _extra_name(header: str, contract: tuple[str, ...], taken: dict[str, str]) -> str:
    """A snake_case column name for an extra attribute that collides with nothing."""
    base = normalize_name(header) or "column"
    if base[0].isdigit():
        base = f"c_{base}"
    name, n = base, 2
    while name in contract or name in taken:
        name, n = f"{base}_{n}", n + 1
    return name
