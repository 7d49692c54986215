"""A small world for the security tests: a real run, accounts moved, a real run again.

The demo world (300 accounts) is run through every stage; then three accounts of rep B
move to rep A (owner and territory), one of rep A's accounts gets rep B's account as
its parent, one account's id gets a ``/`` in it, and a few names turn into formulas;
then every stage runs again.  So snapshot 1 has the old book and snapshot 2 the new
one, and nothing in either is filled from the demo's truth.

Built once per test session; each module gets its own copy of the file.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from growthmap.config import Config
from growthmap.errors import ConfigError
from growthmap.web.auth import add_user, issue_token
from growthmap.workspace import Workspace

PASSWORD = "correct horse 1"
#: A lighter model set-up than the defaults, so the world builds in seconds.
LIGHT = {"potential": {"method": "peer", "backtest": False},
         "scores": {"n_estimators": 20, "backtest_cutoffs": 1, "train_cutoffs": 1,
                    "calibration": "none", "per_family": False}}
#: Names a spreadsheet would run as formulas (OWASP CSV injection).
FORMULAS = ['=HYPERLINK("http://example.invalid","x")', "+1+2", "-2+3", "@SUM(A1:A2)",
            "\tcmd", "\rcmd"]
ROLES = ("admin", "ops", "manager", "rep_a", "rep_b")


def light_config() -> Config:
    try:
        return Config.from_dict(LIGHT)
    except ConfigError:  # a checkout whose config lacks one of those keys
        return Config()


def _rename_account(con: Any, old: str, new: str) -> None:
    tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND column_name = 'account_id'").fetchall()]
    for t in tables:
        con.execute(f"UPDATE main.{t} SET account_id = ? WHERE account_id = ?", [new, old])
    con.execute("UPDATE main.accounts SET parent_id = ? WHERE parent_id = ?", [new, old])


def build(path: Path, n_accounts: int = 300, seed: int = 7) -> dict[str, Any]:
    from growthmap.demo import DEMO_AS_OF, build_demo_workspace
    from growthmap.runner.duckdb_run import run

    ws = build_demo_workspace(path, n_accounts, seed)
    try:
        config = light_config()
        con = ws.con
        books = con.execute(
            "SELECT a.owner_rep_id AS rep, t.parent_id AS region, "
            "any_value(a.territory_id ORDER BY a.account_id) AS territory, count(*) AS n "
            "FROM main.accounts a JOIN main.territories t ON t.territory_id = a.territory_id "
            "WHERE a.owner_rep_id IS NOT NULL AND a.parent_id IS NULL GROUP BY 1, 2 "
            "ORDER BY n DESC, rep").df()
        a = books.iloc[0]
        b = books[books["region"] != a["region"]].iloc[0]
        b_ids = [r[0] for r in con.execute(
            "SELECT account_id FROM main.accounts WHERE owner_rep_id = ? AND account_id NOT IN "
            "(SELECT parent_id FROM main.accounts WHERE parent_id IS NOT NULL) "
            "ORDER BY account_id", [b["rep"]]).fetchall()]
        a_ids = [r[0] for r in con.execute(
            "SELECT account_id FROM main.accounts WHERE owner_rep_id = ? AND account_id NOT IN "
            "(SELECT parent_id FROM main.accounts WHERE parent_id IS NOT NULL) "
            "ORDER BY account_id", [a["rep"]]).fetchall()]
        slash = "A/" + a_ids[1]
        _rename_account(con, a_ids[1], slash)
        for i, name in enumerate(FORMULAS):
            con.execute("UPDATE main.accounts SET name = ? WHERE account_id = ?",
                        [name, a_ids[2 + i]])
        run(ws, config, as_of=DEMO_AS_OF, label="before the move")
        moved = b_ids[:3]
        con.execute("UPDATE main.accounts SET owner_rep_id = ?, territory_id = ? "
                    "WHERE account_id IN (SELECT unnest(?::VARCHAR[]))",
                    [a["rep"], a["territory"], moved])
        # a parent outside the child's book (rep B's account, never moved)
        con.execute("UPDATE main.accounts SET parent_id = ? WHERE account_id = ?",
                    [b_ids[3], a_ids[0]])
        run(ws, config, as_of=DEMO_AS_OF, label="after the move")
        tokens = {}
        for name, role, terr, rep in (
                ("admin", "admin", None, None), ("ops", "ops", None, None),
                ("manager", "manager", a["region"], None),
                ("rep_a", "rep", None, a["rep"]), ("rep_b", "rep", None, b["rep"])):
            add_user(con, name, role, password=PASSWORD, territory_id=terr, rep_id=rep)
            tokens[name] = issue_token(con, name)
    finally:
        ws.close()
    return {"path": path, "rep_a": a["rep"], "rep_b": b["rep"], "region_a": a["region"],
            "moved": moved, "parent_child": a_ids[0], "foreign_parent": b_ids[3],
            "slash_id": slash, "formula_ids": a_ids[2:2 + len(FORMULAS)], "tokens": tokens}


_BUILT: dict[str, Any] = {}


def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A private copy of the shared world (built once per test session)."""
    if "path" not in _BUILT:
        _BUILT.update(build(tmp_path_factory.mktemp("security") / "world.duckdb"))
    copy = tmp_path_factory.mktemp("sec") / "ws.duckdb"
    shutil.copy(_BUILT["path"], copy)
    return {**_BUILT, "path": copy}


def visible(path: Path, user: str, w: dict[str, Any], snapshot: int) -> set[str]:
    """The reference: account ids ``user`` may see in ``snapshot``, by plain SQL."""
    with Workspace.open(path, read_only=True) as ws:
        av = ws.con.execute(f"SELECT account_id, owner_rep_id, territory_id FROM "
                            f"snap_{snapshot}.account_value").df()
        terr = pd.DataFrame(ws.con.execute(
            "SELECT territory_id FROM main.territories WHERE territory_id = ? OR parent_id = ?",
            [w["region_a"], w["region_a"]]).fetchall(), columns=["t"])
    if user in ("admin", "ops"):
        return set(av["account_id"])
    if user == "manager":
        return set(av.loc[av["territory_id"].isin(terr["t"]), "account_id"])
    return set(av.loc[av["owner_rep_id"] == w[user], "account_id"])
