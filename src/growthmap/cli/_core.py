"""Core commands: init, run, summary, snapshots."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.table import Table

from growthmap.cli._common import (console, get_config, open_workspace, progress,
                                   workspace_path)
from growthmap.summary import Headline, headline
from growthmap.workspace import Workspace

__all__ = ["register", "print_headline"]


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


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        ctx: typer.Context,
        force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    ) -> None:
        """Create an empty workspace.

        Example: [bold]growthmap init --workspace sales.duckdb[/]
        """
        path = workspace_path(ctx)
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
    ) -> None:
        """Run the pipeline and write a snapshot, then print its summary.

        Example: [bold]growthmap run --as-of 2025-12-31[/]
        """
        from growthmap.run import run

        config = get_config(ctx)
        with open_workspace(ctx) as ws, progress("running") as step:
            result = run(ws, config, as_of=as_of.date() if as_of else None, label=label,
                         progress=step)
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
