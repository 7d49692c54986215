"""The CLI beside the dashboard: nobody holds the workspace while idle, the CLI waits
for a busy workspace (with a message) instead of failing, the server answers 503
while a CLI command holds it, and a removed user's token is refused at once.

Real processes: a real ``growthmap serve`` on a free port, real CLI commands, and a
helper process that holds the DuckDB file the way a long ``run`` does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import growthmap
from growthmap.config import Config
from growthmap.errors import WorkspaceBusy
from growthmap.workspace import Workspace
from tests._security_world import world

SRC = str(Path(growthmap.__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
CLI = [sys.executable, "-c", "from growthmap.cli import main; main()"]


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return world(tmp_path_factory)


class Holder:
    """Another process holding the workspace open for writing until released."""

    def __init__(self, path: Path) -> None:
        code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('held', flush=True);"
                " sys.stdin.read(); c.close()")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(path)], env=ENV,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "held"

    def release(self, *_: Any) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


def test_a_busy_workspace_is_waited_for_with_a_message(w) -> None:
    holder = Holder(w["path"])
    try:
        with pytest.raises(WorkspaceBusy) as err:
            Workspace.open(w["path"], wait=0)
        assert err.value.exit_code == 4 and err.value.http_status == 503
        assert "in use by another process" in err.value.message
        told: list[str] = []

        def on_wait(msg: str) -> None:  # told once, then the holder lets go
            told.append(msg)
            holder.release()

        with Workspace.open(w["path"], wait=120, on_wait=on_wait) as ws:
            assert ws.snapshot_ids() == [1, 2]
        assert len(told) == 1 and "waiting up to 120 s" in told[0]
    finally:
        holder.release()


def test_the_server_answers_busy_while_a_command_holds_the_workspace(w) -> None:
    from fastapi.testclient import TestClient

    from growthmap.web.app import create_app

    app = create_app(w["path"], Config.from_dict({"web": {"lock_wait_seconds": 0}}))
    hdr = {"Authorization": f"Bearer {w['tokens']['admin']}"}
    with TestClient(app) as c:
        assert c.get("/api/me", headers=hdr).status_code == 200
        for t in threading.enumerate():  # the start-up indexer holds it now and then
            if t.name == "growthmap-indexer":
                t.join()
        lease = app.state.gm.lease
        lease.close()  # as after a quiet second
        assert not lease.held
        holder = Holder(w["path"])
        try:
            r = c.get("/api/me", headers=hdr)
            assert r.status_code == 503 and "in use" in r.json()["error"], r.text
        finally:
            holder.release()
        assert c.get("/api/me", headers=hdr).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    opts = ["-c", args[1]] if args[:1] == ("-c",) else []
    args = args[2:] if opts else args
    return subprocess.run([*CLI, "-w", str(path), *opts, "--wait", "120", *args], env=ENV,
                          input=stdin,
                          capture_output=True, text=True, timeout=600)


def test_the_cli_works_beside_a_running_dashboard(w, tmp_path) -> None:
    port = _free_port()
    server = subprocess.Popen([*CLI, "-w", str(w["path"]), "serve", "--port", str(port)],
                              env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    base = f"http://127.0.0.1:{port}"
    admin = {"Authorization": f"Bearer {w['tokens']['admin']}"}
    try:
        for _ in range(600):  # until it listens
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"{base}/api/me", headers=admin).status_code == 200
        r = _cli(w["path"], "summary")
        assert r.returncode == 0, r.stderr
        r = _cli(w["path"], "user", "add", "temp", "--role", "ops", "--no-password")
        assert r.returncode == 0, r.stderr
        r = _cli(w["path"], "user", "token", "temp")
        assert r.returncode == 0, r.stderr
        token = {"Authorization": f"Bearer {r.stdout.strip().splitlines()[-1]}"}
        assert httpx.get(f"{base}/api/me", headers=token).json()["username"] == "temp"
        r = _cli(w["path"], "user", "remove", "temp")
        assert r.returncode == 0, r.stderr
        assert httpx.get(f"{base}/api/me", headers=token).status_code == 401  # at once
        csv = tmp_path / "one_account.csv"
        csv.write_text("account_id,name\nNEW-1,New Account Ltd\n", encoding="utf-8")
        r = _cli(w["path"], "load", "accounts", str(csv), "--mode", "upsert")
        assert r.returncode == 0, r.stderr
        light = tmp_path / "light.toml"
        light.write_text('[potential]\nmethod = "peer"\nbacktest = false\n[scores]\n'
                         'n_estimators = 20\nbacktest_cutoffs = 1\ntrain_cutoffs = 1\n'
                         'calibration = "none"\nper_family = false\n', encoding="utf-8")
        r = _cli(w["path"], "-c", str(light), "run")
        assert r.returncode == 0, r.stderr
        snaps = httpx.get(f"{base}/api/snapshots", headers=admin).json()
        assert len(snaps["rows"] if isinstance(snaps, dict) else snaps) == 3
        card = httpx.get(f"{base}/api/accounts/NEW-1", headers=admin)
        assert card.status_code == 200 and card.json()["name"] == "New Account Ltd"
    finally:
        server.terminate()
        server.wait(timeout=60)
