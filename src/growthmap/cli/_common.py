"""Helpers every command module shares: consoles, workspace, config, progress."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:  # imported when used: `growthmap --help` stays fast
    from growthmap.config import Config
    from growthmap.workspace import Workspace

__all__ = [
    "Step",
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
    from growthmap.workspace import Workspace

    return Workspace.open(workspace_path(ctx), create=create, read_only=read_only,
                          **lock_wait(ctx))


def lock_wait(ctx: typer.Context) -> dict:
    """How long to wait for a workspace another process holds (global ``--wait``), and
    the message shown while waiting."""
    return {"wait": float((ctx.obj or {}).get("wait", 60.0)),
            "on_wait": lambda msg: err_console.print(msg, style="yellow")}


def get_config(ctx: typer.Context) -> Config:
    """The config named by ``--config`` (or ./growthmap.toml, or the defaults)."""
    from growthmap.config import load_config

    return load_config((ctx.obj or {}).get("config"))


class Step:
    """What :func:`progress` yields: call it with a message; :meth:`plan` names the steps.

    When the steps are known (a run's stages), a message that names one moves the bar to
    it, so the display shows the share of steps done and an estimate of the time left
    (from the time the steps so far took: stages differ, so it is a rough guide).
    """

    def __init__(self, show: Callable[[str, float | None], None]) -> None:
        self._show = show
        self._steps: list[str] = []

    def plan(self, steps: list[str]) -> None:
        self._steps = list(steps)

    def __call__(self, message: str) -> None:
        head = message.split(":", 1)[0].strip()
        done = None
        if head in self._steps:
            done = self._steps.index(head) / len(self._steps)
        self._show(message, done)


@contextlib.contextmanager
def progress(description: str) -> Iterator[Step]:
    """Progress on standard error: a bar with percentage and time left in a terminal,
    plain time-stamped lines otherwise (a log, a CI job); yields a :class:`Step`."""
    started = time.perf_counter()
    if not err_console.is_terminal:
        def line(message: str, done: float | None) -> None:
            pct = f" ({done:.0%})" if done is not None else ""
            print(f"[{time.perf_counter() - started:6.1f} s] {description}: {message}{pct}",
                  file=sys.stderr, flush=True)

        yield Step(line)
        print(f"[{time.perf_counter() - started:6.1f} s] {description}: done", file=sys.stderr,
              flush=True)
        return
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  TaskProgressColumn(), TimeElapsedColumn(), TextColumn("left"),
                  TimeRemainingColumn(), console=err_console, transient=True) as prog:
        task = prog.add_task(description, total=None)

        def show(message: str, done: float | None) -> None:
            if done is None:
                prog.update(task, description=f"{description}: {message}")
            else:
                prog.update(task, description=f"{description}: {message}", total=1000,
                            completed=int(done * 1000))

        yield Step(show)
