"""Benchmark the potential stage at 100,000 and 1,000,000 accounts.

Run ``python bench/bench_potential.py`` (``--sizes 20000`` for a smoke run).

The stage runs on synthetic firmographics written straight into a workspace, with the
value stage's outputs (``account_value``, ``account_family_value``) handed to it, so the
figures are the potential stage's own: six families, vendor figures for ~15% of
accounts, a competitors table, the default config (quantile GBM, 4 folds) without the
in-run backtest (which re-runs the value and potential stages once more).

Each size reports wall time, CPU time of the process (all its threads: on a shared
machine it moves less than the wall time with what else runs), peak memory (resident
set, sampled every 20 ms, above the level before the stage) and a floor measured in the
same run — one LightGBM quantile fit with the stage's settings on the largest training
set the stage uses — so that the ratio stage / floor can be compared across machines.
A sanity Spearman against the synthetic true wallets guards against benchmarking a
broken stage.  Results go to ``bench/results/potential.json`` and a markdown table to
``bench/results/potential.md`` and stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
from scipy.stats import spearmanr

from growthmap.config import Config
from growthmap.potential.stage import stage
from growthmap.runner.pipeline import RunContext
from growthmap.workspace import Workspace

RESULTS = Path(__file__).resolve().parent / "results"
FAMILIES = ("Hardware", "Cloud", "Security", "Services", "IoT", "Print")
INDUSTRIES = 10
AS_OF = dt.date(2025, 12, 31)


def synthetic(n: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Firmographics, current spend per family, vendor figures, competitors, true wallets.

    Wallet = intensity(industry, family) x employees^0.85 x lognormal(0.35); customers
    (55%) buy each family with probability 0.5 at a Beta(0.8, 1.8) share of wallet.
    """
    rng = np.random.default_rng(seed)
    ind = rng.integers(0, INDUSTRIES, n)
    emp = np.clip(np.round(np.exp(rng.normal(4.0, 1.3, n))), 1, 300_000)
    intensity = rng.uniform(50, 500, (INDUSTRIES, len(FAMILIES)))
    intensity[rng.random(intensity.shape) < 0.08] = 0.0  # some industries skip a family
    wallet = intensity[ind] * emp[:, None] ** 0.85 * np.exp(rng.normal(0, 0.35, (n, 6)))
    customer = rng.random(n) < 0.55
    buys = customer[:, None] & (rng.random(wallet.shape) < 0.5) & (wallet > 0)
    spend = np.where(buys, wallet * rng.beta(0.8, 1.8, wallet.shape), 0.0)
    ids = np.char.add("A", np.char.zfill(np.arange(n).astype(str), 7)).astype(object)
    employees = emp.copy()
    employees[rng.random(n) < 0.03] = np.nan
    av = pd.DataFrame({
        "account_id": ids,
        "industry": np.char.add("industry ", ind.astype(str)).astype(object),
        "region": np.char.add("region ", rng.integers(0, 5, n).astype(str)).astype(object),
        "country": np.char.add("country ", rng.integers(0, 16, n).astype(str)).astype(object),
        "employees": employees,
        "annual_revenue": np.round(emp * 200_000 * np.exp(rng.normal(0, 0.45, n)), -3),
        "status": np.where(buys.any(axis=1), "customer", "prospect"),
    })
    a, f = np.nonzero(buys)
    afv = pd.DataFrame({"account_id": ids[a], "family": np.asarray(FAMILIES, object)[f],
                        "revenue_t12m": np.round(spend[a, f], 2)})
    cov = rng.random(n) < 0.15
    a, f = np.nonzero(cov[:, None] & (wallet > 100))
    ext = pd.DataFrame({"account_id": ids[a], "family": np.asarray(FAMILIES, object)[f],
                        "potential": np.round(wallet[a, f] * np.exp(rng.normal(0, 0.35, len(a))),
                                              -2)})
    a, f = np.nonzero((rng.random(wallet.shape) < 0.2) & (wallet > 0))
    comp = pd.DataFrame({"account_id": ids[a], "family": np.asarray(FAMILIES, object)[f],
                         "competitor": "Rival " + pd.Series(rng.integers(0, 4, len(a))).astype(str),
                         "share": np.round(rng.uniform(0.05, 0.6, len(a)), 2)})
    prod = pd.DataFrame({"product_id": [f"P{i}" for i in range(6)], "family": FAMILIES})
    return {"account_value": av, "account_family_value": afv, "external_potential": ext,
            "competitors": comp, "products": prod,
            "truth": pd.DataFrame({"account_id": ids, "wallet": wallet.sum(axis=1)})}


class PeakRSS:
    """Sample the resident set every 20 ms; ``peak`` is the highest seen above the start."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRSS:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def floor_fit(data: dict[str, pd.DataFrame], cfg: Config) -> float:
    """Seconds for one LightGBM quantile fit like the stage's biggest one."""
    afv = data["account_family_value"]
    fam = afv["family"].value_counts().index[0]
    y = afv[(afv["family"] == fam) & (afv["revenue_t12m"] > 0)].set_index(
        "account_id")["revenue_t12m"]
    x = data["account_value"].set_index("account_id").loc[y.index, ["employees",
                                                                   "annual_revenue"]]
    x = x.assign(industry=data["account_value"].set_index("account_id")
                 .loc[y.index, "industry"].astype("category"))
    rows = min(len(y), cfg.potential.max_train_rows)
    p = cfg.potential
    model = lgb.LGBMRegressor(objective="quantile", alpha=p.quantile,
                              n_estimators=p.n_estimators, learning_rate=p.learning_rate,
                              num_leaves=p.num_leaves, min_child_samples=p.min_child_samples,
                              n_jobs=p.n_jobs if rows >= 100_000 else 1, verbose=-1)
    t = time.perf_counter()
    model.fit(x.iloc[:rows], np.log(y.iloc[:rows].to_numpy()))
    return time.perf_counter() - t


def bench(n: int, tmp: Path) -> dict:
    data = synthetic(n)
    ws = Workspace.create(tmp / f"bench_{n}.duckdb", overwrite=True)
    for name in ("products", "external_potential", "competitors"):
        ws.con.register("df", data[name])
        ws.con.execute(f"CREATE TABLE main.{name} AS SELECT * FROM df")
        ws.con.unregister("df")
    cfg = Config.from_dict({"potential": {"backtest": False}})
    ctx = RunContext(config=cfg, as_of=AS_OF, source=ws)
    for name in ("account_value", "account_family_value"):
        ctx.outputs[name] = pa.Table.from_pandas(data[name], preserve_index=False)
    with PeakRSS() as mem:
        t, c = time.perf_counter(), time.process_time()
        stage(ctx)
        seconds, cpu = time.perf_counter() - t, time.process_time() - c
    floor = floor_fit(data, cfg)
    acc = ctx.frame("potential_account").set_index("account_id")
    truth = data["truth"].set_index("account_id")["wallet"].loc[acc.index]
    ws.close()
    return {
        "accounts": n,
        "cells": int(ctx.outputs["potential"].num_rows),
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "peak_rss_mb": round((mem.peak - mem.base) / 2**20),
        "floor_one_fit_seconds": round(floor, 2),
        "ratio_to_floor": round(seconds / floor, 1),
        "spearman_vs_true_wallet": round(float(spearmanr(acc["potential"], truth).statistic), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gm-bench-") as tmp:
        for n in args.sizes:
            rows.append(bench(n, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    out = {"benchmark": "potential stage", "python": sys.version.split()[0],
           "machine": platform.machine(), "cpus": psutil.cpu_count(),
           "load_average_after": [round(x, 1) for x in os.getloadavg()],
           "lightgbm": lgb.__version__, "results": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "potential.json").write_text(json.dumps(out, indent=2) + "\n")
    cols = list(rows[0])
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c])
                             for c in cols) + " |" for r in rows]
    (RESULTS / "potential.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
