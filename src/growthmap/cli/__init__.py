"""The ``growthmap`` command line: a thin shell over the library.

Each command group lives in its own module with a ``register(app)`` function;
``COMMAND_MODULES`` lists them.  Errors are translated in exactly one place
(:class:`_Group.invoke`): a :class:`~growthmap.errors.GrowthmapError` becomes one
clear message and its exit code; anything else is an internal error.  ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from typer.core import TyperGroup

from growthmap import __version__
from growthmap.cli._common import err_console
from growthmap.errors import GrowthmapError

__all__ = ["COMMAND_MODULES", "app", "main"]

#: Modules under growthmap.cli that add commands, in help order.
COMMAND_MODULES = [
    "_core", "_load", "_demo", "_evaluate", "_potential", "_models", "_segments", "_plan",
    "_report", "_web", "_mapping", "_link",
]


class _Group(TyperGroup):
    """Click group that turns growthmap errors into one message and an exit code."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(self.commands)  # registration order, not alphabetical

    def invoke(self, ctx: typer.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except GrowthmapError as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
            if exc.hint:
                err_console.print(f"[yellow]fix:[/] {escape(exc.hint)}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None
        except Exception as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: "
                              f"{escape(str(exc))}",
                              highlight=False)
            err_console.print("run again with --debug for the traceback, and please report it")
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group,
    name="growthmap",
    help="Where your next B2B revenue comes from: potential, whitespace, segments, a plan.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"growthmap {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    workspace: Annotated[Path, typer.Option(
        "--workspace", "-w", envvar="GROWTHMAP_WORKSPACE",
        help="Workspace file (DuckDB).")] = Path("growthmap.duckdb"),
    config: Annotated[Path | None, typer.Option(
        "--config", "-c", envvar="GROWTHMAP_CONFIG",
        help="Config file; default ./growthmap.toml when present.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    wait: Annotated[float, typer.Option(
        "--wait", envvar="GROWTHMAP_WAIT", min=0,
        help="Seconds to wait while another process (a run, a load, the dashboard "
        "answering a request) holds the workspace.")] = 60.0,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """growthmap: segment accounts by value and potential and plan the field from it."""
    ctx.obj = {"workspace": workspace, "config": config, "debug": debug, "wait": wait}


for _mod in COMMAND_MODULES:
    importlib.import_module(f"growthmap.cli.{_mod}").register(app)


def main() -> None:
    """Console-script entry point."""
    app()
