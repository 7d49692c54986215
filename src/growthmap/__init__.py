"""growthmap: where your next B2B revenue comes from.

The library in a notebook (``docs/python-api.md`` shows a whole session)::

    import growthmap as gm

    ws = gm.Workspace.create("acme.duckdb")
    gm.load(ws, "accounts", "accounts.csv")          # -> gm.LoadReport
    gm.load(ws, "transactions", "invoices.csv", mapping="erp.toml")
    result = gm.run(ws, gm.load_config("growthmap.toml"))   # -> gm.RunResult
    gm.headline(ws)                                  # -> gm.Headline
    gm.account_card(ws, "A0042")                     # -> gm.AccountCard

The names are imported on first use, so ``import growthmap`` (and ``growthmap --help``)
stays light.  ``gm.load`` is the loading *function*; the loading package's parts are
imported by name (``from growthmap.load import Mapping``).  The run's stages live in the
folders named after them and register with :func:`growthmap.runner.pipeline.
register_stage`, as a user's own stage would.
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import Any

__version__ = "0.1.0"

#: public name -> (module, attribute)
_API: dict[str, tuple[str, str]] = {
    "AccountCard": ("growthmap.read.card", "AccountCard"),
    "Config": ("growthmap.config", "Config"),
    "GrowthmapError": ("growthmap.errors", "GrowthmapError"),
    "Headline": ("growthmap.read.summary", "Headline"),
    "LoadReport": ("growthmap.load._report", "LoadReport"),
    "Migration": ("growthmap.read.migration", "Migration"),
    "RunContext": ("growthmap.runner.pipeline", "RunContext"),
    "RunResult": ("growthmap.runner.duckdb_run", "RunResult"),
    "Workspace": ("growthmap.workspace", "Workspace"),
    "account_card": ("growthmap.read.card", "account_card"),
    "headline": ("growthmap.read.summary", "headline"),
    "load_config": ("growthmap.config", "load_config"),
    "migration": ("growthmap.read.migration", "migration"),
    "register_stage": ("growthmap.runner.pipeline", "register_stage"),
    "run": ("growthmap.runner.duckdb_run", "run"),
}

__all__ = sorted([*_API, "__version__", "load"])


def load(ws: Any, table: str, file: str | Path, mapping: Any = None,
         mode: str = "replace") -> Any:
    """Load ``file`` into the input table ``table``; returns a :class:`LoadReport`
    (see :func:`growthmap.load.load_table`)."""
    from growthmap.load._load import load_table

    return load_table(ws, table, file, mapping, mode)  # type: ignore[arg-type]


def __getattr__(name: str) -> Any:
    if name in _API:
        module, attr = _API[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'growthmap' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})


class _Package(types.ModuleType):
    """Keeps ``growthmap.load`` the loading function: importing the ``growthmap.load``
    package would otherwise set the attribute to the package."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "load" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
