"""The scale issue's targets and the verdict on each: met, met the bound, or missed, and why.

Each target has a *goal* (what the issue aims at) and a *bound* (what this round must
reach at least).  A measured figure at or under the goal is ``met``; between goal and
bound ``met the bound``; over the bound ``missed``.  The reason is worked out from the
figures of the same call (which stages took the time, where the peak was, what the
floor was), so the table says why without anyone reading the JSON.

The targets are stated for 1,000,000 accounts (about 20M invoice lines) on 2 cores;
at smaller sizes the verdicts are for orientation only, and a run restricted to some
stages (``--stages``) has no whole-run verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["TARGETS", "Target", "render_verdicts", "verdicts"]

#: The size the targets are stated for.
TARGET_SIZE = 1_000_000


@dataclass(frozen=True)
class Target:
    """One target: the figure's key in the verdict, its label, goal and bound, unit."""

    key: str
    label: str
    goal: float
    bound: float
    unit: str


TARGETS = (
    Target("run_seconds", "whole run (all stages + snapshot write)", 60.0, 90.0, "s"),
    Target("peak_rss_mb", "peak resident memory of the run", 3 * 1024.0, 3.5 * 1024.0, "MB"),
    Target("value_vs_floor", "value stage ÷ its floor (same figures, one raw query)",
           2.0, 2.0, "×"),
    Target("load_vs_reader", "load ÷ DuckDB's own reader into tables (same files)",
           2.0, 2.0, "×"),
)


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "–"
    if unit == "MB":
        return f"{v:,.0f} MB"
    if unit == "×":
        return f"{v:.2f}×"
    return f"{v:.1f} s"


def _top(stages: dict[str, dict[str, Any]], key: str, n: int = 3) -> str:
    items = sorted(((s, m[key]) for s, m in stages.items() if m.get(key) is not None),
                   key=lambda kv: -kv[1])[:n]
    unit = "s" if key == "seconds" else "MB"
    return ", ".join(f"{s} {_fmt(v, unit)}" for s, v in items)


def _why(t: Target, size: dict[str, Any], value: float | None) -> str:
    tasks, stages = size["tasks"], size["stages"]
    if value is None:
        return "not measured in this call"
    if t.key == "run_seconds":
        return f"slowest stages: {_top(stages, 'seconds')}"
    if t.key == "peak_rss_mb":
        where = max(stages, key=lambda s: stages[s]["peak_rss_mb"]) if stages else "–"
        return (f"highest during stage {where}; per stage: {_top(stages, 'peak_rss_mb')}; "
                f"load peaks at {_fmt(tasks['load']['peak_rss_mb'], 'MB')}")
    if t.key == "value_vs_floor":
        v, f = stages.get("value", {}).get("seconds"), tasks.get("value_floor", {}).get("seconds")
        scan = tasks.get("floor", {}).get("seconds")
        return (f"value {_fmt(v, 's')} against {_fmt(f, 's')} for the raw query of the "
                f"same account x family figures (the one-sum scan floor: {_fmt(scan, 's')}); "
                "the rest is the account table, tiers, concentration and Pareto curve")
    load, reader = tasks["load"]["seconds"], tasks.get("load_floor", {}).get("seconds")
    return (f"load {_fmt(load, 's')} against {_fmt(reader, 's')} for DuckDB copying the "
            "same files; the difference is typing, the row checks, the duplicate-key "
            "check and the quarantine")


def verdicts(size: dict[str, Any]) -> list[dict[str, Any]]:
    """The verdict on each target for one size's measurements (a ``run_size`` result)."""
    partial = bool(size.get("only"))
    out = []
    for t in TARGETS:
        # the run's own peak: not the references' (the pandas one holds 3.7 GB at 1M)
        run = size["tasks"]["run"]
        value = size["ratios"].get(t.key) if t.key.endswith(("floor", "reader")) else (
            run["seconds"] if t.key == "run_seconds" else run["peak_rss_mb"])
        if partial and t.key in ("run_seconds", "peak_rss_mb"):
            verdict, why = "not judged", "a partial run (--stages): not the whole run"
        elif value is None:
            verdict, why = "not judged", _why(t, size, value)
        else:
            verdict = ("met" if value <= t.goal else
                       "met the bound" if value <= t.bound else "missed")
            why = _why(t, size, value)
        out.append({**asdict(t), "value": value, "verdict": verdict, "why": why,
                    "binding": size["n_accounts"] >= TARGET_SIZE})
    return out


def render_verdicts(sizes: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown lines: one table per size of target, goal, bound, figure, verdict, why."""
    lines: list[str] = []
    for k, size in sizes.items():
        note = "" if int(k) >= TARGET_SIZE else \
            " (the targets are stated for 1,000,000 accounts: for orientation only)"
        lines += [f"Targets at {int(k):,} accounts{note}:", "",
                  "| target | goal | at least | measured | verdict | why |",
                  "|---|---:|---:|---:|---|---|"]
        for v in size.get("verdicts") or verdicts(size):
            lines.append(f"| {v['label']} | {_fmt(v['goal'], v['unit'])} | "
                         f"{_fmt(v['bound'], v['unit'])} | {_fmt(v['value'], v['unit'])} | "
                         f"**{v['verdict']}** | {v['why']} |")
        lines.append("")
    return lines
