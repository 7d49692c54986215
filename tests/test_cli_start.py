"""The first commands a new user types: any workspace name works, and start-up is light."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from growthmap.cli import COMMANDS, app, load_commands
from growthmap.errors import WorkspaceError
from growthmap.workspace import Workspace
from tests.conftest import REPO


def test_the_lazy_command_table_matches_the_commands():
    built = load_commands()
    assert set(built) == set(COMMANDS)
    for name, (_mods, short) in COMMANDS.items():
        assert built[name].get_short_help_str(200) == short, name


def _imported(*args: str) -> set[str]:
    """Top-level modules that ``python -m growthmap ARGS`` imports (from -X importtime)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "growthmap", *args],
                         capture_output=True, text=True, env=env, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    names = set()
    for line in res.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def test_help_and_init_do_not_import_the_data_stack(tmp_path):
    heavy = {"pandas", "ibis", "pyarrow", "sklearn", "lightgbm"}
    assert not heavy & _imported("--help")
    assert not heavy & _imported("-w", str(tmp_path / "w.duckdb"), "init")


@pytest.mark.parametrize("name", ["gm.duckdb", "main.duckdb", "snap_1.duckdb", "my sales.duckdb",
                                  "q1.2025-final.duckdb", "o'neil.duckdb", "gm"])
def test_any_workspace_name_works(tmp_path, name):
    runner, wsf = CliRunner(), str(tmp_path / name)
    res = runner.invoke(app, ["init", "--workspace", wsf])
    assert res.exit_code == 0, res.output
    csv = tmp_path / "accounts.csv"
    csv.write_text("account_id,name\nA1,Alpha\nA2,Beta\n", encoding="utf-8")
    res = runner.invoke(app, ["-w", wsf, "load", "accounts", str(csv)])
    assert res.exit_code == 0, res.output
    with Workspace.open(wsf, read_only=True) as ws:
        assert ws.con.execute("SELECT count(*) FROM gm.loads").fetchone() == (1,)
        assert ws.con.execute("SELECT count(*) FROM main.accounts").fetchone() == (2,)
        with ws.cursor() as cur:
            assert cur.execute("SELECT value FROM gm.meta WHERE key = 'schema_version'"
                               ).fetchone() == ("1",)
        assert ws.table("accounts").count().execute() == 2


def test_a_failed_init_leaves_nothing_behind(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(WorkspaceError, match="cannot create"):
        Workspace.create(blocker / "w.duckdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]
