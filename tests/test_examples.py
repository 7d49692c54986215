"""The example projects on public data run end to end, and their figures match an
independent computation from the raw CSVs.

Each test runs one example exactly as ``python examples/run_example.py NAME`` does
(prepare, load, run) into a temporary folder, then checks the loads reconcile, the
key figures against pandas on the source files, and that the run says what it skipped.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from growthmap.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def _runner():
    """``examples/run_example.py`` as a module (examples are scripts, not a package)."""
    if "gm_run_example" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gm_run_example",
                                                      EXAMPLES / "run_example.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["gm_run_example"] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules["gm_run_example"]


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _run(name: str, shared_data: Path, tmp_path: Path):
    res = _runner().run_example(name, data=shared_data, out=tmp_path / name)
    for table, r in res.loads.items():
        assert r.rows_read == r.rows_loaded + r.rows_quarantined, table
    with Workspace.open(res.workspace, read_only=True) as ws:
        assert ws.snapshot_ids() == [res.result.snapshot_id]
        for out in ("account_value", "concentration", "potential_account", "segments"):
            assert ws.has_output(out), out
    assert (tmp_path / name / "figures.json").exists()
    return res


def _window(as_of: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    end = pd.Timestamp(as_of)
    return end - pd.DateOffset(months=12), end


def test_every_example_has_its_files() -> None:
    for name in _runner().EXAMPLES:
        folder = EXAMPLES / name
        for f in ("prepare.py", "loads.toml", "growthmap.toml", "run.sh"):
            assert (folder / f).is_file(), f"{name}/{f}"


def test_northwind(shared_data: Path, tmp_path: Path) -> None:
    res = _run("northwind", shared_data, tmp_path)
    raw = _csv(shared_data / "northwind" / "order_details.csv").merge(
        _csv(shared_data / "northwind" / "orders.csv"), on="OrderID")
    amount = (raw["UnitPrice"].astype(float) * raw["Quantity"].astype(float)
              * (1 - raw["Discount"].astype(float)))
    assert amount.sum() == pytest.approx(1_265_793.04, abs=0.01)  # the README's figure
    date = pd.to_datetime(raw["OrderDate"])
    start, end = _window("1998-05-06")
    inside = (date > start) & (date <= end)
    f = res.figures
    assert f["revenue_t12m"] == pytest.approx(amount[inside].sum(), abs=0.01)
    assert f["customers"] == raw.loc[inside, "CustomerID"].nunique()
    assert f["accounts"] == 91
    assert set(f["families"]) == set(_csv(shared_data / "northwind" / "categories.csv")[
        "CategoryName"])
    # Northwind has no company size: the run says so
    assert any("no employees" in n for n in f["notes"])
    assert any("no opportunities table" in n for n in f["notes"])


def test_adventureworks(shared_data: Path, tmp_path: Path) -> None:
    res = _run("adventureworks", shared_data, tmp_path)
    assert res.loads["transactions"].rows_loaded == 60_855
    sales = _csv(shared_data / "adventureworks-dw" / "FactResellerSales.csv")
    amount = sales["SalesAmount"].astype(float)
    assert amount.sum() == pytest.approx(80_450_596.98, abs=0.01)
    with Workspace.open(res.workspace, read_only=True) as ws:
        (loaded,) = ws.con.execute("SELECT sum(amount) FROM transactions").fetchone()
        fam = dict(ws.con.execute("SELECT family, count(*) FROM products GROUP BY 1")
                   .fetchall())
    assert loaded == pytest.approx(amount.sum(), rel=1e-9)
    assert {"Bikes", "Components", "Clothing", "Accessories"} <= set(fam)
    date = pd.to_datetime(sales["OrderDate"])
    start, end = _window("2013-11-29")
    inside = (date > start) & (date <= end)
    f = res.figures
    assert f["revenue_t12m"] == pytest.approx(amount[inside].sum(), abs=0.01)
    assert f["customers"] == sales.loc[inside, "ResellerKey"].nunique()
    assert f["accounts"] == 701
    # 66 resellers never bought: they are prospects whatever the window
    assert f["prospects"] >= 66
    assert any("no competitors table" in n for n in f["notes"])


def test_maven_crm(shared_data: Path, tmp_path: Path) -> None:
    res = _run("maven-crm", shared_data, tmp_path)
    deals = _csv(shared_data / "maven-crm-sales-opportunities" / "sales_pipeline.csv")
    won = deals[deals["deal_stage"] == "Won"]
    f = res.figures
    assert f["revenue_t12m"] == pytest.approx(10_005_534)  # the README's won value
    assert f["revenue_t12m"] == pytest.approx(won["close_value"].astype(float).sum())
    # the GTXPro quirk is recoded by the mapping, so no won deal is lost
    assert res.loads["transactions"].rows_quarantined == 0
    # open deals without an account or an engage date are quarantined, not dropped
    missing = (deals["account"] == "") | (deals["engage_date"] == "")
    q = res.loads["opportunities"]
    assert q.rows_quarantined == int(missing.sum())
    assert set(q.by_reason) == {"missing required value"}
    with Workspace.open(res.workspace, read_only=True) as ws:
        (gtx,) = ws.con.execute(
            "SELECT count(*) FROM transactions WHERE product_id = 'GTX Pro'").fetchone()
        (sector,) = ws.con.execute(
            "SELECT count(*) FROM accounts WHERE industry = 'technolgy'").fetchone()
    assert gtx == int((won["product"] == "GTXPro").sum())
    assert sector > 0  # the misspelt sector is kept as the source has it
    assert not any("no opportunities table" in n for n in f["notes"])


def test_wholesale_spend_only(shared_data: Path, tmp_path: Path) -> None:
    res = _run("wholesale", shared_data, tmp_path)
    w = _csv(shared_data / "uci-wholesale-customers" / "wholesale_customers.csv")
    cats = ["Fresh", "Milk", "Grocery", "Frozen", "Detergents_Paper", "Delicassen"]
    spend = w[cats].astype(float)
    f = res.figures
    assert f["accounts"] == f["customers"] == len(w) == 440
    assert f["revenue_t12m"] == pytest.approx(spend.to_numpy().sum(), abs=0.01)
    for c in cats:  # share of wallet per category: current value per family is the spend
        assert f["families"][c]["current"] == pytest.approx(spend[c].sum())
        assert f["families"][c]["potential"] >= f["families"][c]["current"] - 1e-6
    assert res.result.as_of == dt.date(2014, 12, 31)
    assert f["skipped_stages"] == ["models"]
    notes = " | ".join(f["notes"])
    assert "no reps table" in notes and "no 'propensity' output" in notes


def test_run_sh_runs_the_example_from_anywhere(shared_data: Path, tmp_path: Path) -> None:
    """One command from a clean checkout: run.sh finds the repo and the data itself."""
    env = {"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
           "PYTHON": sys.executable, "GROWTHMAP_DATA": str(shared_data)}
    r = subprocess.run(["sh", str(EXAMPLES / "maven-crm" / "run.sh"), "--out",
                        str(tmp_path / "w")], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "85 accounts" in r.stdout
