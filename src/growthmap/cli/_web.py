"""Web commands: serve the dashboard, and manage its users and API tokens."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from growthmap.cli._common import console, get_config, open_workspace, workspace_path
from growthmap.errors import ConfigError

__all__ = ["register", "user_app"]

user_app = typer.Typer(help="Dashboard users, roles and API tokens.", no_args_is_help=True)


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option(help="admin, ops, manager or rep.")],
    territory: Annotated[str | None, typer.Option(
        help="A manager's territory: they see it and every territory below it.")] = None,
    rep: Annotated[str | None, typer.Option(help="A rep's rep_id: they see the accounts "
                                             "they own.")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input.")
    ] = False,
    no_password: Annotated[bool, typer.Option(
        "--no-password", help="No browser login: the user works with an API token only.")
    ] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Change an existing user.")] = False,
) -> None:
    """Add a user (asks for the password unless told otherwise).

    Example: [bold]growthmap user add anna --role manager --territory RG-02[/]
    """
    from growthmap.web.auth import add_user

    if no_password:
        password = None
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with open_workspace(ctx) as ws:
        p = add_user(ws.con, name, role, password=password, territory_id=territory,
                     rep_id=rep, replace=replace)
    console.print(f"user {p.username} ({p.role}) saved")


@user_app.command("remove")
def user_remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name.")]
                ) -> None:
    """Remove a user; their sessions and token stop working at once.

    Example: [bold]growthmap user remove anna[/]
    """
    from growthmap.web.auth import remove_user

    with open_workspace(ctx) as ws:
        remove_user(ws.con, name)
    console.print(f"user {name} removed")


@user_app.command("list")
def user_list(ctx: typer.Context) -> None:
    """List the users and their roles (never their secrets).

    Example: [bold]growthmap user list[/]
    """
    from growthmap.web.auth import list_users

    with open_workspace(ctx,
                        read_only=True) as ws:
        df = list_users(ws.con)
    t = Table("user", "role", "territory", "rep", "password", "token", "created", title="Users")
    for r in df.itertuples(index=False):
        t.add_row(*["" if v is None or v != v else str(v) for v in r])
    console.print(t)


@user_app.command("token")
def user_token(ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name.")]
               ) -> None:
    """Create a new API token for a user (replacing the old one) and print it once.

    Example: [bold]growthmap user token anna[/]
    """
    from growthmap.web.auth import issue_token

    with open_workspace(ctx) as ws:
        token = issue_token(ws.con, name)
    console.print("token (shown once; send it as 'Authorization: Bearer TOKEN'):", style="dim")
    typer.echo(token)


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        ctx: typer.Context,
        host: Annotated[str | None, typer.Option(help="Interface to listen on "
                                                 "(default: web.host).")] = None,
        port: Annotated[int | None, typer.Option(help="TCP port (default: web.port).")] = None,
    ) -> None:
        """Serve the dashboard and JSON API (API reference at /docs).

        Example: [bold]growthmap serve --port 8765[/]
        """
        import uvicorn

        from growthmap.web.app import create_app

        config = get_config(ctx)
        app_ = create_app(workspace_path(ctx), config)
        h, p = host or config.web.host, port or config.web.port
        if not 0 < p < 65536:
            raise ConfigError(f"port {p} is out of range", hint="use 1-65535")
        console.print(f"serving http://{h}:{p}/  (Ctrl+C to stop)")
        # a busy floor: with uvicorn's 5 s keep-alive the load test (bench/bench_web.py)
        # lost connections at 50 and 200 clients on a loaded machine, with 60 s none
        uvicorn.run(app_, host=h, port=p, log_level="warning", timeout_keep_alive=60,
                    backlog=2048)

    app.add_typer(user_app, name="user")
