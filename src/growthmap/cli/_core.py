"""Core commands: init, run, summary, snapshots."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from growthmap.cli._common import console, get_config, open_workspace, progress, workspace_path
from growthmap.errors import ConfigError

if TYPE_CHECKING:
    from growthmap.config import Config
    from growthmap.read.summary import Headline

__all__ = ["parse_day", "print_headline", "register"]


def _money(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def _cell(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "" if v is None else str(v)


def _table(title: str, rows: list[dict]) -> Table:
    t = Table(title=title, title_justify="left")
    for c in rows[0]:
        t.add_column(str(c), justify="left" if isinstance(rows[0][c], str) or rows[0][c] is None
                     else "right", overflow="fold")
    for r in rows:
        t.add_row(*[_cell(v) for v in r.values()])
    return t


def print_headline(h: Headline, workspace: Path | None = None) -> None:
    """Render a snapshot's summary: the thesis (value x potential) first, then value."""
    cur = f" ({h.currency})" if h.currency else ""
    console.print(f"[bold]Snapshot {h.snapshot_id} as of {h.as_of}[/]{cur}", highlight=False)
    for s in h.thesis:
        console.print(f"[bold green]{s}[/]", highlight=False)
    if h.matrix:
        th = h.thresholds
        edges = ""
        if th.get("value_edges"):
            edges = (f" — value bands start at {', '.join(_money(e) for e in th['value_edges'])},"
                     f" potential bands at "
                     f"{', '.join(_money(e) for e in th.get('potential_edges', []))}{cur}")
        console.print(_table(f"Value x potential: accounts per cell{edges}", h.matrix))
        how = (th.get("sources") or {}).get("bands", "")
        if how and how != "amounts":
            console.print(f"[dim]bands: {escape(how)}[/]", highlight=False)
    for title, rows in h.sections.items():
        if rows:
            console.print(_table(f"{title}{cur}" if title.startswith("Whitespace") else title,
                                 rows))
    f = h.figures
    t = Table(title=f"Current value{cur}", show_header=False, title_justify="left")
    t.add_row("accounts", f"{f['accounts']:,}")
    t.add_row("customers / prospects", f"{f['customers']:,} / {f['prospects']:,}")
    t.add_row("current value (T12M)", _money(f["value"]))
    t.add_row("ARPA (per customer)", _money(f["arpa"]))
    if f.get("potential") is not None:
        t.add_row("potential / whitespace", f"{_money(f['potential'])} / "
                  f"{_money(f['whitespace'])}")
    if f.get("top20_share") is not None:
        t.add_row("top-20% share / Gini / HHI",
                  f"{f['top20_share']:.1%} / {f['gini']:.3f} / {f['hhi']:.4f}")
    console.print(t)
    if h.tiers:
        console.print(_table("Value tiers (current value only)", [
            {**r, "share": f"{(r.get('share') or 0):.1%}"} for r in h.tiers]))
    for s in h.sentences:
        console.print(f"• {s}", highlight=False)
    for n in h.notes:
        if n.startswith("warning:"):
            console.print(f"[bold yellow]{escape(n)}[/]", highlight=False)
        else:
            console.print(f"[dim]note: {escape(n)}[/]", highlight=False)
    w = f"-w {workspace} " if workspace is not None else ""
    console.print("\n[bold]Where to look next[/]")
    console.print(f"  growthmap {w}report --out report.html   the HTML report with charts",
                  highlight=False)
    console.print(f"  growthmap {w}card ACCOUNT_ID            one account and why", highlight=False)
    console.print(f"  growthmap {w}user add NAME --role admin  then growthmap {w}serve: "
                  "the dashboard (log in as that user)", highlight=False)


def parse_day(text: str) -> dt.date:
    """A date as YYYY-MM-DD; the error shows the expected form, not a strftime code."""
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date: use YYYY-MM-DD, e.g. 2025-12-31"
                                 ) from None


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
        as_of: Annotated[dt.date | None, typer.Option(
            "--as-of", parser=parse_day, metavar="YYYY-MM-DD",
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
        day = as_of
        if (engine or config.run.engine) == "spark":
            _run_spark(config, day, input_dir, output_dir)
            return
        if engine not in (None, "duckdb"):
            raise ConfigError(f"unknown engine {engine!r}", hint="use duckdb or spark")
        with progress("running") as step:
            step("loading the models and the pipeline")  # a few seconds of imports
            from growthmap.read.summary import headline
            from growthmap.runner.duckdb_run import run
            from growthmap.runner.pipeline import stages

            step.plan([st.name for st in stages()])
            step("opening the workspace")
            with open_workspace(ctx) as ws:
                result = run(ws, config, as_of=day, label=label, progress=step)
        with open_workspace(ctx, read_only=True) as ws:
            print_headline(headline(ws, result.snapshot_id), workspace_path(ctx))

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
            print_headline(headline(ws, snapshot), workspace_path(ctx))

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
