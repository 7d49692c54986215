"""Helpers every command module shares: consoles, workspace, config, progress."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from growthmap.config import Config, load_config
from growthmap.workspace import Workspace

__all__ = [
    "console",
    "err_console",
    "get_config",
    "lock_wait",
    "open_workspace",
    "progress",
    "workspace_path",
]

console = Console()
err_console = Console(stderr=True)


def workspace_path(ctx: typer.Context) -> Path:
    return Path((ctx.obj or {}).get("workspace") or "growthmap.duckdb")


def open_workspace(ctx: typer.Context, *, create: bool = False,
                   read_only: bool = False) -> Workspace:
    """Open the workspace named by the global ``--workspace`` option."""
    return Workspace.open(workspace_path(ctx), create=create, read_only=read_only,
                          **lock_wait(ctx))


def lock_wait(ctx: typer.Context) -> dict:
    """How long to wait for a workspace another process holds (global ``--wait``), and
    the message shown while waiting."""
    return {"wait": float((ctx.obj or {}).get("wait", 60.0)),
            "on_wait": lambda msg: err_console.print(msg, style="yellow")}


def get_config(ctx: typer.Context) -> Config:
    """The config named by ``--config`` (or ./growthmap.toml, or the defaults)."""
    return load_config((ctx.obj or {}).get("config"))


@contextlib.contextmanager
def progress(description: str) -> Iterator:
    """A spinner with elapsed time; yields ``step(message)`` to update it."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as prog:
        task = prog.add_task(description, total=None)

        def step(message: str) -> None:
            prog.update(task, description=f"{description}: {message}")

        yield step
