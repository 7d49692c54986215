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
    """Render :func:`growthmap.potential.evaluate.evaluate_snapshot` as rich tables."""
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
        from growthmap.potential.evaluate import evaluate_snapshot

        config = get_config(ctx)
        with open_workspace(ctx, read_only=True) as ws, progress("evaluating potential"):
            ev = evaluate_snapshot(ws, snapshot, backtest_run=backtest, config=config)
        print_potential_evaluation(ev)
