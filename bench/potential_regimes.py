"""Potential against the truth and its baseline on every regime of the demo world.

Run ``python bench/potential_regimes.py`` (``--accounts 3000 --seed 7`` by default;
``--regimes static,retail`` for some).  Each regime is built into a temporary workspace,
loaded through the real loader, and the value and potential stages run with the in-run
backtest.  The table (markdown, as in ``docs/models.md``) gives per regime:

* Spearman of the published potential and of the naive peer percentile with the true
  wallets, per account and per account x family;
* coverage of the 80% interval per account and per account x family, and the median of
  potential / true wallet per account;
* the backtest: Spearman with the next 12 months' spend, model minus baseline, with its
  90% bootstrap interval, and what the run published.

Results also go to ``bench/results/potential_regimes.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from growthmap.config import Config
from growthmap.demo import DEMO_AS_OF, build_demo_workspace
from growthmap.runner.duckdb_run import run

RESULTS = Path(__file__).resolve().parent / "results"
REGIMES = ("default", "no-vendor", "static", "static+no-vendor", "engagement",
           "engagement+no-vendor", "tiny", "tiny+no-vendor", "retail")


def measure(regime: str, n_accounts: int, seed: int) -> dict:
    """One regime: build, run value + potential, return the figures of the table."""
    with tempfile.TemporaryDirectory(prefix="growthmap-regime-") as tmp:
        size = None if regime.startswith("tiny") else n_accounts
        with build_demo_workspace(Path(tmp) / "w.duckdb", n_accounts=size, seed=seed,
                                  regime=regime) as ws:
            res = run(ws, Config.from_dict({"potential": {"backtest": True}}),
                      as_of=DEMO_AS_OF, only=["value", "potential"])
    ev = res.evaluations["potential"]
    truth, bt = ev["truth"], ev.get("backtest", {})
    acc, cell = truth["account"]["all"], truth["account_family"]["all"]
    base = truth.get("baseline", {}).get("all", {})
    diff = bt.get("baseline", {}).get("account", {})
    return {
        "regime": regime, "accounts": acc["n"],
        "spearman_account": acc["spearman"], "baseline_account": base.get("account"),
        "spearman_cell": cell["spearman"], "baseline_cell": base.get("account_family"),
        "coverage_account": acc["coverage"], "coverage_cell": cell["coverage"],
        "median_ratio_account": acc["median_ratio"],
        "backtest": diff, "published": ev.get("published", {}).get("what", "model"),
        "level": ev.get("level"),
    }


def _f(x: float | None, pct: bool = False) -> str:
    if x is None:
        return "-"
    return f"{x:.1%}" if pct else f"{x:.3f}"


def table(rows: list[dict]) -> str:
    out = ["| regime | accounts | Spearman account: published / baseline | account x family: "
           "published / baseline | coverage account / cell | potential / true wallet | backtest "
           "model - baseline [90%] | published |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        d = r["backtest"]
        bt = (f"{d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"
              if d.get("difference") is not None else "-")
        out.append(
            f"| `{r['regime']}` | {r['accounts']:,} | {_f(r['spearman_account'])} / "
            f"{_f(r['baseline_account'])} | {_f(r['spearman_cell'])} / "
            f"{_f(r['baseline_cell'])} | {_f(r['coverage_account'], True)} / "
            f"{_f(r['coverage_cell'], True)} | {_f(r['median_ratio_account'])} | {bt} | "
            f"{r['published']} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--regimes", default=",".join(REGIMES))
    args = ap.parse_args(argv)
    rows = []
    for regime in args.regimes.split(","):
        rows.append(measure(regime, args.accounts, args.seed))
        print(f"measured {regime}", file=sys.stderr, flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "potential_regimes.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
