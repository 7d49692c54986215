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

import click
import typer
from rich.markup import escape
from typer.core import TyperGroup

from growthmap import __version__
from growthmap.cli._common import err_console
from growthmap.errors import GrowthmapError

__all__ = ["COMMANDS", "COMMAND_MODULES", "app", "load_commands", "main"]

#: Every top-level command: the modules that define it (their ``register(app)``) and its
#: one-line help.  Commands are imported only when used, so ``growthmap --help`` and a
#: small command do not pay for pandas, Ibis and the models; a test checks that this
#: table matches the commands' own docstrings.
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {
    "init": (("_core",), "Create an empty workspace."),
    "run": (("_core",), "Run the pipeline and write a snapshot, then print its summary."),
    "summary": (("_core",), "Print the headline figures of a snapshot."),
    "snapshots": (("_core",), "List the snapshots in the workspace."),
    "load": (("_load",),
             "Load FILE into TABLE; every row is loaded or quarantined with a reason."),
    "quarantine": (("_load",),
                   "List quarantined rows with their reason, source row and raw content."),
    "quality": (("_load",),
                "List cells emptied on load (bad value in an optional column; the row loaded)."),
    "demo": (("_demo",),
             "Generate the demo world into a fresh workspace and run the pipeline on it."),
    "evaluate": (("_evaluate", "_potential", "_models"),
                 "Measure how good a model is (backtest or ground truth)."),
    "card": (("_segments",),
             "Show one account's card: value, potential, scores, tier and why, history."),
    "track": (("_segments",),
              "Show how accounts moved between segments from one snapshot to another."),
    "plan": (("_plan",), "Plan the field: rollups, rep books, quotas, capacity, allocation, "
             "alignment."),
    "report": (("_report",), "Write the self-contained HTML report (charts, findings, "
               "methodology; works offline)."),
    "export": (("_report",), "Export the snapshot as an Excel workbook or a CRM import file."),
    "chart": (("_report",), "Save one chart as a PNG (for slides) or SVG image."),
    "serve": (("_web",), "Serve the dashboard and JSON API (API reference at /docs)."),
    "user": (("_web",), "Dashboard users, roles and API tokens."),
    "mapping": (("_mapping",), "Mapping files for CRM/ERP exports: suggest one, list presets."),
    "link": (("_link",),
             "Match an outside list of companies to the accounts (exact keys, then Splink)."),
    "dedupe": (("_link",),
               "List accounts that look like the same company (gm.duplicates); merges nothing."),
}

#: Modules under growthmap.cli that add commands.
COMMAND_MODULES = list(dict.fromkeys(m for mods, _ in COMMANDS.values() for m in mods))

#: The command modules registered so far, by module tuple: a module registers its
#: commands once per process (some add to shared sub-apps such as ``evaluate``).
_REGISTERED: dict[tuple[str, ...], typer.Typer] = {}


def _registered(modules: tuple[str, ...]) -> typer.Typer:
    if modules not in _REGISTERED:
        sub = typer.Typer(rich_markup_mode="rich", pretty_exceptions_enable=False)
        for mod in modules:
            importlib.import_module(f"growthmap.cli.{mod}").register(sub)
        _REGISTERED[modules] = sub
    return _REGISTERED[modules]


def load_commands(*names: str) -> dict[str, click.Command]:
    """Import the modules behind ``names`` (all commands when none) and build them.

    The click commands are built afresh for each caller: click caches a command's help
    option from the first context it sees, so sharing them between two root groups
    (the app and a test's copy) would carry one group's ``-h`` into the other.
    """
    out: dict[str, click.Command] = {}
    for modules in dict.fromkeys(COMMANDS[n][0] for n in names or tuple(COMMANDS)
                                 if n in COMMANDS):
        out.update(typer.main.get_group(_registered(modules)).commands)
    return out


class _Stub(click.Command):
    """What ``--help`` lists for a command not imported yet: its name and one line."""


class _Group(TyperGroup):
    """Click group that loads commands lazily and turns growthmap errors into one message."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)  # table order, not alphabetical

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in COMMANDS:  # the help listing: resolve_command loads the real one
            return _Stub(cmd_name, help=COMMANDS[cmd_name][1])
        return None

    def resolve_command(self, ctx: click.Context, args: list[str]):  # type: ignore[override]
        if args and args[0] in COMMANDS and args[0] not in self.commands:
            self.commands.update(load_commands(args[0]))
        return super().resolve_command(ctx, args)

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
        except (typer.Exit, typer.Abort, typer.TyperException, click.ClickException):
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
    if config is not None and not config.is_file():
        from growthmap.errors import ConfigError

        raise ConfigError(f"config file {config} does not exist",
                          hint="check the --config path, or leave it out to use ./growthmap.toml "
                          "or the defaults")
    ctx.obj = {"workspace": workspace, "config": config, "debug": debug, "wait": wait}


def main() -> None:
    """Console-script entry point."""
    app()
