"""Loading commands: ``load``, ``quarantine``, ``quality`` — thin shells over growthmap.load."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from growthmap.cli._common import console, lock_wait, open_workspace, progress, workspace_path
from growthmap.errors import InputError
from growthmap.load import (
    LoadReport,
    Mapping,
    data_quality,
    load_table,
    quarantine_summary,
    quarantined,
    read_mapping,
)
from growthmap.workspace import Workspace

__all__ = ["print_report", "register"]


class LoadMode(enum.StrEnum):
    replace = "replace"
    upsert = "upsert"


_WorkspaceOpt = Annotated[Path | None, typer.Option(
    "--workspace", "-w", help="Workspace file (overrides the global --workspace).")]
_TableOpt = Annotated[str | None, typer.Option("--table", "-t", help="Only this input table.")]
_LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, help="Rows to show.")]


def _open(ctx: typer.Context, workspace: Path | None, *, create: bool = False,
          read_only: bool = False) -> Workspace:
    if workspace is not None:
        return Workspace.open(workspace, create=create, read_only=read_only,
                              **lock_wait(ctx))
    return open_workspace(ctx, create=create, read_only=read_only)


def print_report(report: LoadReport) -> None:
    """The reconciliation of one load as a rich table, then its notes."""
    t = Table(title=f"load {report.load_id}: {report.table} ← {report.file} ({report.mode})")
    t.add_column("rows / cells")
    t.add_column("count", justify="right")
    t.add_column("columns")
    for label, detail, n in report.reconciliation():
        style = "bold" if not label.startswith(" ") else None
        t.add_row(label, f"{n:,}", detail, style=style)
    console.print(t)
    mark = "[green]ok[/]" if report.reconciles else "[bold red]MISMATCH[/]"
    console.print(f"read = loaded + quarantined: {report.rows_read:,} = {report.rows_loaded:,} "
                  f"+ {report.rows_quarantined:,} {mark}  ({report.seconds:.1f} s)")
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]", highlight=False)
    if report.rows_quarantined:
        console.print(f"see the rows: growthmap quarantine --table {report.table}")


def auto_mapping(ws_path: Path, table: str, file: Path) -> Mapping:
    """The mapping ``load`` uses when none is given: the suggestion, shown and saved.

    Each line is printed with its confidence and the whole suggestion is saved beside
    the workspace (``<workspace>.<table>.mapping.toml``) for review; a required column
    that no header fits, or that two headers fit about equally, stops the load with
    the question and the file to answer it in.
    """
    from growthmap.load.suggest import suggest_mapping

    suggestion = suggest_mapping(file, table)
    saved = ws_path.parent / f"{ws_path.name.removesuffix('.duckdb')}.{table}.mapping.toml"
    saved.write_text(suggestion.to_toml(), encoding="utf-8")
    t = Table(title=f"mapping used for {file.name} (no --mapping given; saved to {saved})",
              title_justify="left")
    for c in ("column", "header in the file", "confidence"):
        t.add_column(c, justify="right" if c == "confidence" else "left")
    for g in suggestion.guesses.values():
        t.add_row(g.column, g.header, f"{g.confidence:.2f}")
    console.print(t)
    again = f"growthmap -w {ws_path} load {table} {file} --mapping {saved}"
    if suggestion.missing_required:
        from growthmap.load._hazards import other_sheets

        sheets = other_sheets(file)
        raise InputError(
            f"{file}: which header holds {', '.join(suggestion.missing_required)} "
            f"(required in {table})? None looked like it; the file has: "
            f"{', '.join(suggestion.headers)}",
            hint=(f"{sheets}; or " if sheets else "") + f"name it in {saved} and run: {again}")
    if suggestion.ambiguous:
        questions = "; ".join(
            f"which header holds {col}: " + " or ".join(f"{h!r} ({c:.2f})" for h, c in cands)
            + "?" for col, cands in suggestion.ambiguous.items())
        raise InputError(f"{file}: {questions}",
                         hint=f"keep the right header in {saved} and run: {again}")
    return suggestion.mapping()


def _cut(text: object, width: int = 60) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= width else s[: width - 1] + "…"


def register(app: typer.Typer) -> None:
    @app.command("load")
    def load_cmd(
        ctx: typer.Context,
        table: Annotated[str, typer.Argument(help="Input table, e.g. accounts, transactions.")],
        file: Annotated[Path, typer.Argument(
            help="CSV, Parquet, Excel (.xlsx), JSON/NDJSON or another DuckDB-readable file.")],
        mapping: Annotated[Path | None, typer.Option(
            "--mapping", "-m", help="Mapping file (TOML): column names, formats, FX.")] = None,
        mode: Annotated[LoadMode, typer.Option(
            help="replace: the table becomes this file; upsert: replace matching keys, "
            "add the rest.")] = LoadMode.replace,
        preset: Annotated[str | None, typer.Option(
            "--preset", "-p", help="A built-in mapping for a common export (salesforce, "
            "hubspot, erp, ...; see `growthmap mapping presets`); --mapping refines it.")] = None,
        workspace: _WorkspaceOpt = None,
        allow_empty: Annotated[bool, typer.Option(
            "--allow-empty", help="Let a replace with no valid row empty the table.")] = False,
        max_quarantined: Annotated[float, typer.Option(
            "--max-quarantined", min=0, max=1, help="Largest share of the file's rows a "
            "replace may quarantine when the table has rows (1 = any).")] = 0.5,
    ) -> None:
        """Load FILE into TABLE; every row is loaded or quarantined with a reason.

        A replace that would empty the table, or quarantine more than --max-quarantined
        of the file, is refused and changes nothing.

        Example: [bold]growthmap load transactions export.csv --mapping erp.toml[/]
        Example: [bold]growthmap load accounts Accounts.csv --preset salesforce[/]
        """
        spec: Path | Mapping | None = mapping
        if mapping is None and preset is None:
            ws_path = workspace if workspace is not None else workspace_path(ctx)
            spec = auto_mapping(ws_path, table, file)
        if preset is not None:
            from growthmap.load.presets import preset_mapping

            spec = preset_mapping(preset, table)
            if mapping is not None:
                spec = spec.merge(read_mapping(mapping))
        ws = _open(ctx, workspace, create=True)
        try:
            with progress(f"loading {file.name} into {table}"):
                report = load_table(ws, table, file, mapping=spec, mode=mode.value,
                                    allow_empty=allow_empty, max_quarantined=max_quarantined)
        finally:
            ws.close()
        print_report(report)

    @app.command("quarantine")
    def quarantine_cmd(
        ctx: typer.Context, table: _TableOpt = None, limit: _LimitOpt = 20,
        workspace: _WorkspaceOpt = None,
    ) -> None:
        """List quarantined rows with their reason, source row and raw content.

        Example: [bold]growthmap quarantine --table transactions --limit 50[/]
        """
        ws = _open(ctx, workspace, read_only=True)
        try:
            counts = [c for c in quarantine_summary(ws, table) if c["kind"] == "quarantined row"]
            rows = quarantined(ws, table, limit)
        finally:
            ws.close()
        if not rows:
            console.print("no quarantined rows" + (f" for {table}" if table else ""))
            return
        s = Table(title="quarantined rows by reason")
        for c in ("table", "reason", "rows"):
            s.add_column(c, justify="right" if c == "rows" else "left")
        for c in counts:
            s.add_row(c["table_name"], c["reason"], f"{c['n']:,}")
        console.print(s)
        t = Table(title=f"first {len(rows)} quarantined rows")
        for c in ("load", "table", "row", "reason", "column", "value"):
            t.add_column(c, justify="right" if c in ("load", "row") else "left")
        for r in rows:
            t.add_row(str(r["load_id"]), r["table_name"], str(r["row_number"]), r["reason"],
                      r["column_name"] or "", _cut(r["value"], 30))
        console.print(t)
        # the raw rows below the table, wrapped: a column would be cut in a narrow terminal
        console.print("raw content of those rows:")
        for r in rows:
            console.print(f"  {r['table_name']} row {r['row_number']}: {_cut(r['raw'], 2000)}",
                          markup=False, highlight=False, soft_wrap=False)

    @app.command("quality")
    def quality_cmd(
        ctx: typer.Context, table: _TableOpt = None, limit: _LimitOpt = 20,
        workspace: _WorkspaceOpt = None,
    ) -> None:
        """List cells emptied on load (bad value in an optional column; the row loaded).

        Example: [bold]growthmap quality --table accounts[/]
        """
        ws = _open(ctx, workspace, read_only=True)
        try:
            counts = [c for c in quarantine_summary(ws, table) if c["kind"] == "nulled cell"]
            rows = data_quality(ws, table, limit)
        finally:
            ws.close()
        if not rows:
            console.print("no data-quality issues" + (f" for {table}" if table else ""))
            return
        s = Table(title="cells emptied by issue")
        for c in ("table", "issue", "cells"):
            s.add_column(c, justify="right" if c == "cells" else "left")
        for c in counts:
            s.add_row(c["table_name"], c["reason"], f"{c['n']:,}")
        console.print(s)
        t = Table(title=f"first {len(rows)} cells")
        for c in ("load", "table", "row", "key", "column", "value", "issue"):
            t.add_column(c, justify="right" if c in ("load", "row") else "left")
        for r in rows:
            t.add_row(str(r["load_id"]), r["table_name"], str(r["row_number"]), r["key"] or "",
                      r["column_name"], _cut(r["value"], 30), r["issue"])
        console.print(t)
