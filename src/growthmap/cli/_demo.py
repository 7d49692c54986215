"""``growthmap demo``: build the synthetic B2B world and run the whole pipeline on it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from growthmap.cli._common import console, get_config, progress, workspace_path
from growthmap.errors import WorkspaceError

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        ctx: typer.Context,
        accounts: Annotated[int | None, typer.Option(
            min=50, help="Number of accounts (default: the regime's, 5000; tiny 160).",
            show_default=False)] = None,
        seed: Annotated[int, typer.Option(help="Random seed (same seed, same world).")] = 42,
        regime: Annotated[str, typer.Option(
            help="The market to draw: default, static (no conversions in the history), "
            "no-vendor, tiny, retail (many small buyers) or engagement (an engagement "
            "column carries the signal); combine with +, e.g. static+no-vendor.")
        ] = "default",
        to_parquet: Annotated[Path | None, typer.Option(
            "--to-parquet", help="Only stream the world to Parquet files in this folder "
            "(scales to millions of accounts), without a workspace.")] = None,
        force: Annotated[bool, typer.Option(
            "--force", help="Replace a workspace that is not a demo workspace.")] = False,
    ) -> None:
        """Generate the demo world into a fresh workspace and run the pipeline on it.

        Example: [bold]growthmap demo --accounts 5000 --seed 42[/]
        Example: [bold]growthmap demo --accounts 1000000 --to-parquet world/[/]
        Example: [bold]growthmap demo --regime static+no-vendor --accounts 2000[/]
        """
        from growthmap import demo as demo_world

        reg = demo_world.resolve_regime(regime)
        accounts = reg.n_accounts if accounts is None else accounts
        if to_parquet is not None:
            t0 = time.perf_counter()
            with progress("writing the demo world") as step:
                files = demo_world.write_world_parquet(to_parquet, accounts, seed, progress=step,
                                                       regime=reg)
            console.print(f"wrote {len(files)} Parquet files to {to_parquet} in "
                          f"{time.perf_counter() - t0:,.1f} s")
            for name, path in files.items():
                console.print(f"  {name}: {path}")
            return

        path = workspace_path(ctx)
        if path.exists() and not force and not _is_demo(path):
            raise WorkspaceError(
                f"{path} holds a workspace that is not a demo workspace",
                hint="choose another --workspace, or pass --force to replace it")
        config = get_config(ctx)
        from growthmap.cli._core import print_headline
        from growthmap.read.summary import headline
        from growthmap.runner.duckdb_run import run

        with progress("building the demo world") as step:
            ws = demo_world.build_demo_workspace(path, n_accounts=accounts, seed=seed,
                                                 progress=step, regime=reg)
        with ws, progress("running the pipeline") as step:
            step("loading the models and the pipeline")
            from growthmap.runner.pipeline import stages

            step.plan([st.name for st in stages()])
            result = run(ws, config, as_of=config.run.as_of or demo_world.DEMO_AS_OF,
                         label="demo", progress=step)
            _print_loads(ws)
            print_headline(headline(ws, result.snapshot_id), path)
            login = _first_user(ws)
        console.print(f"\nworkspace: {path} — try [bold]growthmap -w {path} summary[/], "
                      f"[bold]growthmap -w {path} report[/] or "
                      f"[bold]growthmap -w {path} serve[/]", highlight=False)
        if login:
            console.print(f"dashboard login: user [bold]admin[/], password [bold]{login}[/] "
                          "(created for this demo workspace; change it with "
                          f"growthmap -w {path} user add admin --role admin --replace)",
                          highlight=False)


def _first_user(ws) -> str | None:
    """An admin user for the dashboard when the workspace has none; its password."""
    import secrets

    from growthmap.web.auth import add_user

    if ws.con.execute("SELECT count(*) FROM gm.users").fetchone()[0]:
        return None
    password = secrets.token_urlsafe(9)
    add_user(ws.con, "admin", "admin", password=password)
    return password


def _is_demo(path: Path) -> bool:
    """Is ``path`` a workspace that ``growthmap demo`` made (it holds the truth schema)?"""
    from growthmap.workspace import Workspace

    try:
        with Workspace.open(path, read_only=True) as ws:
            return ws.has_table("wallet", "truth")
    except WorkspaceError:
        return False


def _print_loads(ws) -> None:
    from rich.table import Table

    rows = ws.con.execute(
        "SELECT table_name, rows_read, rows_loaded, rows_quarantined, cells_nulled "
        "FROM gm.loads ORDER BY load_id").fetchall()
    t = Table("table", "read", "loaded", "quarantined", "cells nulled", title="Loaded")
    for r in rows:
        t.add_row(r[0], *[f"{v:,}" if v is not None else "" for v in r[1:]])
    console.print(t)
