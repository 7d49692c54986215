"""``growthmap evaluate propensity | risk | icp``: how good each scoring model is.

Each command reads one library call, :func:`growthmap.scores.stage.evaluate`, and prints the
stored backtest (and, in demo workspaces, the check against the true next year).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from growthmap.cli._common import console, open_workspace
from growthmap.cli._evaluate import evaluate_app

__all__ = ["print_evaluation", "register"]

_METRICS = ("n", "base_rate", "mean_predicted", "roc_auc", "pr_auc", "top_decile_lift",
            "brier", "ece")


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def print_evaluation(result: Any) -> None:
    """Render a :class:`~growthmap.scoring.ModelEvaluation` as rich tables."""
    ev, title = result.evaluation, f"{result.model} — snapshot {result.snapshot_id}, " \
        f"as of {result.as_of}"
    if result.model == "icp":
        t = Table("measure", "value", title=title)
        for k, v in ev.items():
            if k != "features":
                t.add_row(k, _fmt(v))
        for k, v in (result.truth or {}).items():
            t.add_row(f"truth: {k}", _fmt(v))
        console.print(t)
    else:
        sets: dict[str, dict] = {}
        for f in (ev.get("backtest") or {}).get("folds", []):
            sets[f"backtest {f['cutoff']}"] = f
        pooled = (ev.get("backtest") or {}).get("pooled")
        if pooled and len(sets) > 1:
            sets["backtest, pooled"] = pooled
        fwd = (result.truth or {}).get("forward")
        if fwd:
            sets["truth: next year"] = fwd
        t = Table(title=title)
        t.add_column("measure", no_wrap=True)
        for name in sets:
            t.add_column(name, justify="right")
        for m in _METRICS:
            t.add_row(m, *[_fmt(v.get(m)) for v in sets.values()])
        console.print(t)
        if pooled:
            c = Table("predicted", "n", "mean predicted", "observed", title="Calibration "
                      "(backtest, pooled)")
            for r in pooled["calibration"]:
                c.add_row(f"{r['lower']:.1f}-{r['upper']:.1f}", str(r["n"]),
                          f"{r['mean_predicted']:.3f}", f"{r['observed_rate']:.3f}")
            console.print(c)
        print_comparison(ev, result.model, result.truth)
    for s in result.sentences:
        console.print(f"• {s}")


def _auc(a: dict[str, Any] | None) -> str:
    if not a or a.get("auc") is None:
        return "-"
    ci = f" [{a['lo']:.2f}, {a['hi']:.2f}]" if a.get("lo") is not None else ""
    return f"{a['auc']:.3f}{ci}"


def _diff(d: dict[str, Any] | None) -> str:
    if not d:
        return "-"
    ci = f" [{d['lo']:+.2f}, {d['hi']:+.2f}]" if d.get("lo") is not None else ""
    return f"{d['diff']:+.3f}{ci}"


def print_comparison(ev: dict[str, Any], model: str,
                     truth: dict[str, Any] | None = None) -> None:
    """Model vs baselines per decision label: AUC with 90% intervals, and the difference
    (``rfm`` = the recency / frequency / monetary rank; other names are account columns).
    Under each label: its rows and positives."""
    blocks = [("", ev.get("comparison") or {})]
    if (ev.get("per_family") or {}).get("comparison"):
        blocks.append(("per family, ", ev["per_family"]["comparison"]))
    if truth and truth.get("labels"):
        blocks.append(("published ", {"source": "truth: next year",
                                      "labels": truth["labels"]}))
    for prefix, comp in blocks:
        labels = comp.get("labels") or {}
        if not labels:
            continue
        t = Table(title=f"{model}, {prefix}model vs baselines ({comp.get('source')}; "
                  "ROC AUC, 90% interval)")
        for col in ("label (n / pos.)", "score", "AUC", "model minus it"):
            t.add_column(col, justify="left" if col != "AUC" and "minus" not in col
                         else "right", no_wrap=True)
        for name in ("own", *sorted(k for k in labels if k != "own")):
            lab = labels.get(name)
            if not lab:
                continue
            for k, (score, a) in enumerate(lab["auc"].items()):
                first = name if k == 0 else f"{lab['n']} / {lab['positives']}" if k == 1 else ""
                t.add_row(first, score, _auc(a), _diff((lab.get("vs") or {}).get(score)))
            t.add_section()
        console.print(t)


def _command(model: str, doc: str) -> Any:
    def cmd(
        ctx: typer.Context,
        snapshot: Annotated[str, typer.Option(help="Snapshot id, or latest / previous.")]
        = "latest",
    ) -> None:
        from growthmap.scores.stage import evaluate

        with open_workspace(ctx, read_only=True) as ws:
            print_evaluation(evaluate(ws, model, snapshot))

    cmd.__doc__ = doc
    cmd.__name__ = model
    return cmd


def register(app: typer.Typer) -> None:
    """Add the model commands to `growthmap evaluate` (the group itself is in _evaluate)."""
    evaluate_app.command("propensity")(_command("propensity", (
        "Backtest of the propensity to buy (and the true next year in demo workspaces).\n\n"
        "Example: [bold]growthmap evaluate propensity --snapshot latest[/]")))
    evaluate_app.command("risk")(_command("risk", (
        "Backtest of the decline/churn risk (and the true next year in demo workspaces).\n\n"
        "Example: [bold]growthmap evaluate risk[/]")))
    evaluate_app.command("icp")(_command("icp", (
        "How well the ICP fit separates the best customers (and the truth in demo "
        "workspaces).\n\nExample: [bold]growthmap evaluate icp[/]")))
