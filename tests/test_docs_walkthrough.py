"""The docs, followed literally: README, quickstart and bring-your-own-data on raw exports.

Every ``growthmap`` line of those pages' shell blocks is run, in order, as a new user
would type it, in a folder holding fresh raw exports (CRM-style headers, an ERP's
invoice lines in GBP, a product list; no mapping file).  Lines that need the demo world
(``make demo``, ``.venv/bin/growthmap``) or run a server (``serve``) are not run here.
The summary at the end must show the thesis — headline, matrix, whitespace, ROAD — in
GBP, and its T12M must match pandas on the raw file.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO, SHARED_DATA
from tests.raw_exports import LAST_DAY, write_raw_exports

DOCS = ["README.md", "docs/quickstart.md", "docs/bring-your-own-data.md"]


def doc_commands(doc: Path) -> list[str]:
    """Every ``growthmap`` command in the doc's bash/console blocks, in order."""
    out = []
    for lang, body in re.findall(r"```(bash|console|sh)\n(.*?)```", doc.read_text("utf-8"),
                                 re.S):
        for line in body.splitlines():
            line = line.strip()
            if lang == "console":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            line = re.split(r"\s+#", line)[0].strip()
            if line.startswith("growthmap ") and " serve" not in line:
                out.append(line)
    return out


def growthmap(line: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run one documented command line the way a shell would."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "200", "NO_COLOR": "1",
           "TERM": "dumb"}
    env.pop("GROWTHMAP_WORKSPACE", None)
    env.pop("GROWTHMAP_CONFIG", None)
    args = shlex.split(line)
    assert args[0] == "growthmap"
    return subprocess.run([sys.executable, "-m", "growthmap", *args[1:]], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=900, check=False)


def _t12m(invoices: Path) -> float:
    inv = pd.read_excel(invoices)
    d = pd.to_datetime(inv["Invoice Date"]).dt.date
    start = LAST_DAY.replace(year=LAST_DAY.year - 1)
    return float(inv.loc[(d > start) & (d <= LAST_DAY), "Net Amount"].sum())


def _check_summary(text: str, currency: str) -> None:
    assert re.search(r"Today [\d,]+ customers buy at least [\d,]+ " + currency, text), text
    assert "have the potential to" in text
    for part in ("Value x potential", "Whitespace by product family", "ROAD",
                 "Accounts to call first", "Tiers", "Where to look next"):
        assert part in text, part
    assert re.search(r"Whitespace by (territory|region|country)", text)
    assert f"({currency})" in text and "EUR" not in text


@pytest.mark.parametrize("doc", DOCS)
def test_doc_followed_literally_on_raw_exports(tmp_path, doc):
    paths = write_raw_exports(tmp_path)
    commands = doc_commands(REPO / doc)
    for line in commands:
        res = growthmap(line, tmp_path)
        assert res.returncode == 0, f"{doc}: `{line}` failed:\n{res.stdout}\n{res.stderr}"
        if " load " in line:
            assert "ok" in res.stdout and "MISMATCH" not in res.stdout, res.stdout
            if "--mapping" not in line:  # mapped by itself, shown and saved for review
                assert "confidence" in res.stdout
                table = shlex.split(line)[4]
                assert (tmp_path / f"sales.{table}.mapping.toml").is_file()
    if not any(c.endswith(" summary") for c in commands):
        return
    summary = growthmap("growthmap -w sales.duckdb summary", tmp_path).stdout
    _check_summary(summary, "GBP")
    got = re.search(r"current value \(T12M\)\s*[│|]?\s*([\d,]+)", summary)
    assert got, summary
    assert float(got.group(1).replace(",", "")) == pytest.approx(_t12m(paths["transactions"]),
                                                                 abs=1.0)
    # the CRM's names landed in the contract's columns, not in extra attributes
    from growthmap.workspace import Workspace

    with Workspace.open(tmp_path / "sales.duckdb", read_only=True) as ws:
        row = ws.con.execute("SELECT count(name), count(country), count(region), "
                             "count(owner_rep_id), count(*) FROM main.accounts").fetchone()
    assert row[0] == row[1] == row[2] == row[3] == row[4] > 0


def test_docs_have_the_walkthrough():
    readme = doc_commands(REPO / "README.md")
    assert readme[0] == "growthmap init --workspace sales.duckdb"
    assert readme[-1] == "growthmap -w sales.duckdb summary"
    assert any(" run --as-of " in c for c in doc_commands(REPO / "docs/bring-your-own-data.md"))


def test_a_run_months_after_the_data_names_its_last_date(tmp_path):
    write_raw_exports(tmp_path, n_accounts=120)
    for line in ("growthmap init --workspace sales.duckdb",
                 "growthmap -w sales.duckdb load accounts accounts.csv",
                 "growthmap -w sales.duckdb load transactions invoices.xlsx"):
        assert growthmap(line, tmp_path).returncode == 0
    res = growthmap("growthmap -w sales.duckdb run --as-of 2026-09-30", tmp_path)
    assert res.returncode == 0, res.stderr
    assert "warning: the as-of date 2026-09-30 is 273 days after the data's last transaction " \
           f"({LAST_DAY})" in " ".join(res.stdout.split())


@pytest.mark.skipif(not (SHARED_DATA / "uci-online-retail").exists(),
                    reason="UCI Online Retail is not beside this checkout")
def test_uci_online_retail_with_a_computed_amount(tmp_path):
    """UCI has no amount column: the mapping computes it as Quantity * UnitPrice."""
    data = SHARED_DATA / "uci-online-retail" / "online_retail.csv"
    (tmp_path / "online_retail.toml").write_text(
        'table = "transactions"\n\n[columns]\naccount_id = "CustomerID"\n'
        'date = "InvoiceDate"\nproduct_id = "StockCode"\nquantity = "Quantity"\n'
        'amount = "Quantity * UnitPrice"\n\n[constants]\ncurrency = "GBP"\n', "utf-8")
    for line in ("growthmap init --workspace retail.duckdb",
                 f"growthmap -w retail.duckdb load accounts {data}",
                 f"growthmap -w retail.duckdb load transactions {data} "
                 "--mapping online_retail.toml",
                 "growthmap -w retail.duckdb run --as-of 2011-12-09"):
        res = growthmap(line, tmp_path)
        assert res.returncode == 0, f"`{line}`:\n{res.stdout}\n{res.stderr}"
    summary = growthmap("growthmap -w retail.duckdb summary", tmp_path).stdout
    _check_summary(summary, "GBP")
    raw = pd.read_csv(data, dtype={"CustomerID": str, "StockCode": str})
    raw = raw[raw["CustomerID"].notna()]
    from growthmap.workspace import Workspace

    with Workspace.open(tmp_path / "retail.duckdb", read_only=True) as ws:
        total, n = ws.con.execute("SELECT sum(amount), count(*) FROM main.transactions"
                                  ).fetchone()
        (industry,) = ws.con.execute("SELECT count(industry) FROM main.accounts").fetchone()
    assert n == len(raw)
    assert total == pytest.approx(float((raw["Quantity"] * raw["UnitPrice"]).sum()), rel=1e-9)
    assert industry == 0  # Description is a product's, not the account's industry
