"""Mapping presets for common CRM and ERP exports.

A preset is a folder of mapping files shipped with the package, one per input table
(``data/<preset>/<table>.toml``), in the same layout as a user's mapping file.  So a
preset is nothing special: :func:`preset_mapping` returns a
:class:`~growthmap.load.Mapping`, a user may lay their own overrides over it with
``Mapping.merge``, and ``growthmap mapping presets`` lists what ships.

>>> m = preset_mapping("salesforce", "accounts")
>>> m.columns["account_id"].source
'Account ID'
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from growthmap.contract.inputs import TABLES
from growthmap.errors import ConfigError
from growthmap.load import Mapping

__all__ = ["PresetInfo", "list_presets", "preset_mapping"]

_DATA = "data"

#: What each preset reads, for ``growthmap mapping presets`` and the docs.
_ABOUT = {
    "salesforce": "Salesforce reports exported as CSV (column labels as shown in reports)",
    "salesforce-api": "Salesforce objects exported with API field names (Data Loader, Bulk API)",
    "hubspot": "HubSpot companies and deals exports",
    "erp": "a generic ERP: customer master, item master, posted invoice lines",
}


@dataclass(frozen=True)
class PresetInfo:
    """One preset: its name, what it reads, and the tables it has a mapping for."""

    name: str
    about: str
    tables: tuple[str, ...]


def _root() -> resources.abc.Traversable:
    return resources.files(__name__).joinpath(_DATA)


def _names() -> list[str]:
    return sorted(p.name for p in _root().iterdir() if p.is_dir() and not p.name.startswith("_"))


def list_presets() -> list[PresetInfo]:
    """Every shipped preset with the tables it maps, sorted by name."""
    out = []
    for name in _names():
        folder = _root().joinpath(name)
        tables = tuple(t for t in TABLES if folder.joinpath(f"{t}.toml").is_file())
        out.append(PresetInfo(name, _ABOUT.get(name, ""), tables))
    return out


def preset_mapping(name: str, table: str, overrides: dict[str, Any] | None = None) -> Mapping:
    """The mapping of preset ``name`` for input table ``table``.

    ``overrides`` (the mapping-file layout) is laid over the preset, for exports whose
    headers were renamed or translated.  Raises :class:`~growthmap.errors.ConfigError`
    naming the presets (or the preset's tables) that exist.
    """
    names = _names()
    if name not in names:
        raise ConfigError(f"unknown mapping preset {name!r}",
                          hint=f"use one of: {', '.join(names)} (growthmap mapping presets)")
    file = _root().joinpath(name, f"{table}.toml")
    if not file.is_file():
        have = next(p.tables for p in list_presets() if p.name == name)
        raise ConfigError(
            f"preset {name!r} has no mapping for the {table} table",
            hint=f"{name} maps: {', '.join(have)}; for {table} write a mapping file "
            f"(growthmap mapping suggest FILE --table {table})",
        )
    data = tomllib.loads(file.read_text(encoding="utf-8"))
    mapping = Mapping.from_dict(data, origin=f"preset {name}/{table}")
    return mapping.merge(overrides) if overrides else mapping
