"""Helpers every command module shares: consoles, workspace, config, progress."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:  # imported when used: `growthmap --help` stays fast
    from growthmap.config import Config
    from growthmap.workspace import Workspace

__all__ = [
    "console",
    "err_console",
    "get_config",
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
    from growthmap.workspace import Workspace

    return Workspace.open(workspace_path(ctx), create=create, read_only=read_only)


def get_config(ctx: typer.Context) -> Config:
    """The config named by ``--config`` (or ./growthmap.toml, or the defaults)."""
    from growthmap.config import load_config

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
