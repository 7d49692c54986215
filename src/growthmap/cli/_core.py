"""Core commands: init, run, summary, snapshots."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from growthmap.cli._common import console, get_config, open_workspace, progress, workspace_path
from growthmap.errors import ConfigError

if TYPE_CHECKING:
    from growthmap.config import Config
    from growthmap.read.summary import Headline

__all__ = ["print_headline", "register"]


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def print_headline(h: Headline) -> None:
    """Render a snapshot's headline as rich tables."""
    t = Table(title=f"Snapshot {h.snapshot_id} as of {h.as_of}", show_header=False)
    f = h.figures
    t.add_row("accounts", f"{f['accounts']:,}")
    t.add_row("customers / prospects", f"{f['customers']:,} / {f['prospects']:,}")
    t.add_row("current value (T12M)", _money(f["value"]))
    t.add_row("ARPA (per customer)", _money(f["arpa"]))
    if f.get("top20_share") is not None:
        t.add_row("top-20% share / Gini / HHI",
                  f"{f['top20_share']:.1%} / {f['gini']:.3f} / {f['hhi']:.4f}")
    console.print(t)
    tt = Table(title="Value tiers")
    for c in ("tier", "accounts", "customers", "value", "share"):
        tt.add_column(c, justify="left" if c == "tier" else "right")
    for r in h.tiers:
        tt.add_row(r["tier"], f"{r['accounts']:,}", f"{r['customers']:,}", _money(r["value"]),
                   f"{(r['share'] or 0):.1%}")
    console.print(tt)
    for title, rows in h.sections.items():
        if not rows:
            continue
        st = Table(title=title)
        for c in rows[0]:
            st.add_column(str(c))
        for r in rows:
            st.add_row(*[f"{v:,.2f}" if isinstance(v, float) else str(v) for v in r.values()])
        console.print(st)
    for s in h.sentences:
        console.print(f"• {s}")
    for n in h.notes:
        console.print(f"[dim]note: {n}[/]")


def _run_spark(config: Config, as_of: dt.date | None, input_dir: Path | None,
               output_dir: Path | None) -> None:
    """The Spark path: Parquet in, Parquet out, same stages."""
    from growthmap.runner.spark_run import SparkSource, run_spark, spark_session

    if input_dir is None:
        raise ConfigError("the spark engine reads Parquet inputs: --input is missing",
                          hint="pass --input FOLDER holding accounts.parquet, "
                          "transactions.parquet, ...")
    with progress("running on spark") as step:
        session = spark_session(config.run.spark)
        result = run_spark(config, SparkSource.from_parquet(session, input_dir), as_of=as_of,
                           output_dir=output_dir, progress=step)
    out = output_dir or Path(config.run.spark.output_dir)
    console.print(f"snapshot {result.snapshot_id} as of {result.as_of} written to "
                  f"{out / f'snapshot_{result.snapshot_id}'}")
    for name, table in sorted(result.outputs.items()):
        console.print(f"  {name}: {table.num_rows:,} rows")
    for n in result.notes:
        console.print(f"[dim]note: {n}[/]")


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        ctx: typer.Context,
        force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
        workspace: Annotated[Path | None, typer.Option(
            "--workspace", "-w",
            help="Workspace file to create (overrides the global --workspace).")] = None,
    ) -> None:
        """Create an empty workspace.

        Example: [bold]growthmap init --workspace sales.duckdb[/]
        """
        from growthmap.workspace import Workspace

        path = workspace if workspace is not None else workspace_path(ctx)
        Workspace.create(path, overwrite=force).close()
        console.print(f"created workspace {path}")

    @app.command("run")
    def run_cmd(
        ctx: typer.Context,
        as_of: Annotated[dt.datetime | None, typer.Option(
            "--as-of", formats=["%Y-%m-%d"],
            help="Compute every figure as of this date (default: config, else the latest "
            "transaction date).")] = None,
        label: Annotated[str | None, typer.Option(help="A label stored with the snapshot.")] = None,
        engine: Annotated[str | None, typer.Option(
            help="duckdb (the workspace) or spark (Parquet inputs; default: run.engine).")] = None,
        input_dir: Annotated[Path | None, typer.Option(
            "--input", help="Spark only: folder with <table>.parquet inputs.")] = None,
        output_dir: Annotated[Path | None, typer.Option(
            "--output", help="Spark only: folder for the Parquet outputs "
            "(default: run.spark.output_dir).")] = None,
    ) -> None:
        """Run the pipeline and write a snapshot, then print its summary.

        Example: [bold]growthmap run --as-of 2025-12-31[/]
        Example: [bold]growthmap run --engine spark --input world/ --output out/[/]
        """
        config = get_config(ctx)
        day = as_of.date() if as_of else None
        if (engine or config.run.engine) == "spark":
            _run_spark(config, day, input_dir, output_dir)
            return
        if engine not in (None, "duckdb"):
            raise ConfigError(f"unknown engine {engine!r}", hint="use duckdb or spark")
        from growthmap.read.summary import headline
        from growthmap.runner.duckdb_run import run

        with open_workspace(ctx) as ws, progress("running") as step:
            result = run(ws, config, as_of=day, label=label, progress=step)
        with open_workspace(ctx, read_only=True) as ws:
            print_headline(headline(ws, result.snapshot_id))

    @app.command()
    def summary(
        ctx: typer.Context,
        snapshot: Annotated[str, typer.Option(
            help="Snapshot id, or latest / previous.")] = "latest",
    ) -> None:
        """Print the headline figures of a snapshot.

        Example: [bold]growthmap summary --snapshot previous[/]
        """
        from growthmap.read.summary import headline

        with open_workspace(ctx, read_only=True) as ws:
            print_headline(headline(ws, snapshot))

    @app.command()
    def snapshots(ctx: typer.Context) -> None:
        """List the snapshots in the workspace.

        Example: [bold]growthmap snapshots[/]
        """
        with open_workspace(ctx, read_only=True) as ws:
            rows = ws.con.execute(
                "SELECT snapshot_id, as_of, created_at, label, engine FROM gm.snapshots "
                "ORDER BY snapshot_id").fetchall()
        t = Table("id", "as of", "created", "label", "engine", title="Snapshots")
        for r in rows:
            t.add_row(*[str(v) if v is not None else "" for v in r])
        console.print(t)
