"""``growthmap mapping``: propose a mapping file from an export, list the presets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from growthmap.cli._common import console
from growthmap.load.presets import list_presets
from growthmap.load.suggest import MIN_CONFIDENCE, suggest_mapping

__all__ = ["register"]

mapping_app = typer.Typer(help="Mapping files for CRM/ERP exports: suggest one, list presets.",
                          no_args_is_help=True)


@mapping_app.command("suggest")
def suggest_cmd(
    file: Annotated[Path, typer.Argument(help="The export (CSV, Excel, Parquet, JSON).")],
    table: Annotated[str, typer.Option("--table", "-t", help="Input table it holds.")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the mapping TOML here (default: print it).")] = None,
    min_confidence: Annotated[float, typer.Option(
        help="Leave headers below this confidence unmapped.")] = MIN_CONFIDENCE,
) -> None:
    """Propose a mapping file from a file's header and sample values, for review.

    Example: [bold]growthmap mapping suggest export.csv --table accounts --out accounts.toml[/]
    """
    suggestion = suggest_mapping(file, table, min_confidence=min_confidence)
    text = suggestion.to_toml()
    if out is None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"wrote {out}: {len(suggestion.guesses)} columns mapped, "
                      f"{len(suggestion.unmatched_headers)} headers left unmapped")
    if suggestion.missing_required:
        console.print(f"[yellow]required column(s) not found:[/] "
                      f"{', '.join(suggestion.missing_required)} — name their headers in the "
                      "mapping before loading")


@mapping_app.command("presets")
def presets_cmd() -> None:
    """List the shipped mapping presets and the tables each one maps.

    Example: [bold]growthmap mapping presets[/]
    """
    t = Table(title="Mapping presets (growthmap load TABLE FILE --preset NAME)")
    for c in ("preset", "tables", "reads"):
        t.add_column(c)
    for p in list_presets():
        t.add_row(p.name, ", ".join(p.tables), p.about)
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add the ``mapping`` command group."""
    app.add_typer(mapping_app, name="mapping")
