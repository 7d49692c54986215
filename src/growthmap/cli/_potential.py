"""``growthmap evaluate potential``: ground truth (demo workspaces) and the backtest."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from growthmap.cli._common import console, get_config, open_workspace, progress
from growthmap.cli._evaluate import evaluate_app

__all__ = ["print_potential_evaluation", "register"]


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if pct:
        return f"{v:.1%}"
    return f"{v:,.3f}" if isinstance(v, float) else f"{v:,}"


def print_potential_evaluation(ev: dict[str, Any]) -> None:
    """Render :func:`growthmap.potential.backtest.evaluate_snapshot` as rich tables."""
    title = f"potential — snapshot {ev.get('snapshot')}, as of {ev.get('as_of')}"
    truth = ev.get("truth")
    if truth:
        t = Table("level", "accounts", "n", "Spearman", "coverage", "nominal", "MdAPE",
                  title=f"{title}: against the true wallets")
        for level in ("account", "account_family"):
            for who, m in truth[level].items():
                t.add_row(level.replace("_", " x "), who, _fmt(m["n"]), _fmt(m["spearman"]),
                          _fmt(m["coverage"], True), _fmt(truth["nominal_coverage"], True),
                          _fmt(m["mdape"], True))
        console.print(t)
    for key, label in (("backtest", "backtest: whitespace at T vs growth T→T+12m"),
                       ("truth_next_year", "whitespace vs the true next year's growth")):
        block = ev.get(key)
        if not block:
            continue
        t = Table("level", "n", "top-decile lift", "share of growth in top decile",
                  "Spearman", title=f"{title}: {label}")
        for level, m in block.items():
            if isinstance(m, dict) and "lift" in m:
                t.add_row(level.replace("_", " x "), _fmt(m["n"]), _fmt(m["lift"]),
                          _fmt(m.get("share_of_positive_growth_in_top"), True),
                          _fmt(m["spearman"]))
        console.print(t)
    _print_baseline(ev, title)
    if not truth and not ev.get("backtest"):
        console.print("no ground truth in this workspace and no backtest stored: "
                      "run with --backtest")


def register(app: typer.Typer) -> None:
    @evaluate_app.command("potential")
    def potential(
        ctx: typer.Context,
        snapshot: Annotated[str, typer.Option(
            help="Snapshot id, or latest / previous.")] = "latest",
        backtest: Annotated[bool, typer.Option(
            "--backtest", help="Re-estimate as of 12 months before and measure the growth "
            "since (takes as long as a run).")] = False,
    ) -> None:
        """How good the potential is: true wallets (demo) and the temporal backtest.

        Example: [bold]growthmap evaluate potential --backtest[/]
        """
        from growthmap.potential.backtest import evaluate_snapshot

        config = get_config(ctx)
        with open_workspace(ctx, read_only=True) as ws, progress("evaluating potential"):
            ev = evaluate_snapshot(ws, snapshot, backtest_run=backtest, config=config)
        print_potential_evaluation(ev)


def _print_baseline(ev: dict[str, Any], title: str) -> None:
    """Model against the naive peer percentile: truth, backtest, and what was published."""
    base = (ev.get("truth") or {}).get("baseline")
    if base:
        t = Table("accounts", "level", "published", "baseline",
                  title=f"{title}: Spearman with the true wallets, published potential "
                  "vs peer percentile")
        for who, m in base.items():
            for level in ("account", "account_family"):
                t.add_row(who, level.replace("_", " x "),
                          _fmt(ev["truth"][level][who]["spearman"]), _fmt(m[level]))
        console.print(t)
    bt = (ev.get("backtest") or {}).get("baseline")
    if bt:
        t = Table("level", "n", "model", "baseline", "difference", "90% interval",
                  title=f"{title}: backtest, Spearman with {bt.get('label', 'the outcome')}")
        for level in ("account", "account_family", "whitespace_vs_growth"):
            m = bt.get(level) or {}
            if m.get("difference") is None:
                continue
            t.add_row(level.replace("_", " "), _fmt(m["n"]), _fmt(m["model"]),
                      _fmt(m["baseline"]), f"{m['difference']:+.3f}",
                      f"[{m['low']:+.3f}, {m['high']:+.3f}]")
        console.print(t)
    skipped = (ev.get("backtest") or {}).get("skipped")
    if skipped:
        console.print(f"backtest skipped: {skipped}")
    pub = ev.get("published")
    if pub and pub.get("model_vs_baseline") == "ties":
        console.print("published: the model, which ties the peer percentile in the backtest")
    if pub and pub.get("what") != "model":
        console.print(f"published: the {pub['what']} (model weight {pub['model_weight']}), "
                      "because the model did not beat the peer percentile in the backtest")
    level = ev.get("level")
    if level:
        lo, hi = level["best_share_range"]
        console.print(f"level: no vendor figures, so wallets assume the best-penetrated "
                      f"buyers give us {level['best_share']:.0%} of theirs (80% range "
                      f"{lo:.0%}-{hi:.0%}), and the intervals carry that uncertainty")
