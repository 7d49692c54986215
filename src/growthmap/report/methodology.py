"""How the figures were made, in plain language, from the snapshot's own record.

The text is written from what the snapshot stored: its config (windows, tier rules)
and its models' evaluations (``gm.snapshots.evaluations``), so the report says how
accurate the models *measured* in that run — never a claim made in advance.
Evaluations are nested JSON whose shape each model owns; known metric names are
explained, anything else is listed as it is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from growthmap import quality

__all__ = ["METRICS", "Section", "flatten", "methodology", "metric_sentences"]

#: metric name -> (plain meaning, how to print it)
METRICS: dict[str, tuple[str, str]] = {
    "roc_auc": ("chance the model ranks a random buyer above a random non-buyer "
                "(0.5 = coin toss, 1 = perfect)", ".2f"),
    "auc": ("chance the model ranks a random positive above a random negative "
            "(0.5 = coin toss)", ".2f"),
    "pr_auc": ("precision-recall area: how clean the top of the list is", ".2f"),
    "top_decile_lift": ("how many times more often the top 10% of scores are right "
                        "than average", ".1f"),
    "brier": ("mean squared error of the probabilities (lower is better)", ".3f"),
    "ece": ("calibration error: average gap between predicted and observed rates", ".3f"),
    "base_rate": ("share of positives in the evaluation data", ".1%"),
    "coverage": ("share of true values inside the stated low-high range", ".0%"),
    "interval_coverage": ("share of true values inside the stated low-high range", ".0%"),
    "spearman": ("rank correlation with the truth (1 = same order)", ".2f"),
    "rank_correlation": ("rank correlation with the truth (1 = same order)", ".2f"),
    "r2": ("share of the variation explained", ".2f"),
    "wape": ("weighted absolute error: total error as a share of the total", ".0%"),
    "mape": ("mean absolute percentage error", ".0%"),
    "mae": ("mean absolute error", ",.0f"),
    "median_ape": ("median absolute percentage error", ".0%"),
    "bias": ("average over- (+) or under- (-) estimate", ".1%"),
    "n": ("accounts evaluated", ",.0f"),
    "positives": ("positives among them", ",.0f"),
}


@dataclass
class Section:
    """One part of the methodology: a title, paragraphs, and measured figures."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)


def flatten(obj: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, scalar) pairs of a nested evaluation; lists are summarised."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list):
        if obj and all(isinstance(x, int | float) for x in obj) and len(obj) <= 12:
            yield prefix, ", ".join(_fmt(x, ".3g") for x in obj)
        # lists of rows (calibration tables, folds) are too long for a report line
    elif isinstance(obj, int | float | str | bool) or obj is None:
        yield prefix, obj


def _fmt(v: Any, spec: str) -> str:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return str(v)
    if isinstance(v, float) and not math.isfinite(v):
        return "-"
    try:
        return format(v, spec)
    except ValueError:
        return str(v)


def _find(flat: list[tuple[str, Any]], key: str) -> Any:
    """The value of ``key`` at the shallowest path (pooled figures before per-fold ones)."""
    hits = [(p.count("."), p, v) for p, v in flat if p.split(".")[-1] == key
            and isinstance(v, int | float) and not isinstance(v, bool)]
    return min(hits)[2] if hits else None


def _at(evaluation: Any, path: str) -> Any:
    """The value at a dotted path of a nested evaluation (None when absent)."""
    v = evaluation
    for k in path.split("."):
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v


def _potential_sentences(ev: dict[str, Any]) -> list[str]:
    """Potential's figures, each read from its own path (never a figure of another
    measure that happens to share its name)."""
    out = []
    nominal = _at(ev, "truth.nominal_coverage")
    for level, what in (("account", "Potential per account"),
                        ("account_family", "Potential per account and family")):
        rho = _at(ev, f"truth.{level}.all.spearman")
        if rho is not None:
            out.append(quality.spearman_sentence(what, rho, against="the true wallet"))
        cov = _at(ev, f"truth.{level}.all.coverage")
        if cov is not None and nominal is not None:
            out.append(quality.coverage_sentence(f"the stated low-high range ({what.lower()})",
                                                 cov, nominal))
    for key, when in (("truth_next_year", "in the year after the as-of date"),
                      ("backtest", "in the backtest")):
        rho = _at(ev, f"{key}.account.spearman")
        if rho is not None:
            out.append(quality.spearman_sentence(
                "Whitespace", rho, against=f"the growth accounts showed {when}"))
        lift = _at(ev, f"{key}.account.lift")
        if lift is not None:
            out.append(f"The 10% of accounts with the most whitespace grew {lift:.1f} times "
                       f"as much as the average account {when}.")
    return out


def metric_sentences(model: str, evaluation: Any) -> list[str]:
    """Plain sentences about the measured accuracy of one model.

    The scoring models and potential say what each figure measures; every judgement of
    a figure comes from :mod:`growthmap.quality`.
    """
    if model in ("propensity", "risk", "icp") and isinstance(evaluation, dict):
        from growthmap.scores.evaluate import describe_evaluation

        return describe_evaluation(model, evaluation, None)
    if model == "potential" and isinstance(evaluation, dict):
        return _potential_sentences(evaluation)
    flat = list(flatten(evaluation))
    out = []
    auc = _find(flat, "roc_auc")
    if auc is None:
        auc = _find(flat, "auc")
    if auc is not None:
        out.append(quality.auc_sentence(f"The {model} model", auc,
                                        label="the outcome it predicts"))
    rho = _find(flat, "spearman")
    if rho is None:
        rho = _find(flat, "rank_correlation")
    if rho is not None:
        out.append(quality.spearman_sentence(f"The {model} model", rho, against="the truth"))
    return out


def _metric_rows(evaluation: Any, limit: int = 40) -> list[dict[str, Any]]:
    rows = []
    for path, value in flatten(evaluation):
        name = path.split(".")[-1]
        meaning, spec = METRICS.get(name, ("", ".4g"))
        rows.append({"figure": path, "value": _fmt(value, spec), "meaning": meaning})
        if len(rows) >= limit:
            break
    return rows


_MODEL_TITLES = {
    "potential": "Potential (wallet)",
    "propensity": "Propensity to buy",
    "icp": "ICP fit",
    "risk": "Risk of decline or churn",
}


def methodology(config: dict[str, Any] | None, evaluations: dict[str, Any] | None,
                tables: list[str] | None, notes: list[str] | None) -> list[Section]:
    """The methodology sections of a snapshot's report."""
    cfg = config or {}
    val = cfg.get("value", {})
    tables = list(tables or [])
    months = val.get("lookback_months", 12)
    measure = "gross margin" if val.get("measure") == "gross_margin" else "revenue"
    out = [Section("Current value", [
        f"Current value is the {measure} each account brought in the {months} months up to "
        "the as-of date (credit notes net against it); nothing after that date is read. "
        "An account with bookings in that window is a customer, any other a prospect.",
        "Concentration compares customers by that value: the Pareto curve shows how much "
        "of it the largest customers hold, the Gini coefficient summarises the inequality "
        "(0 = everyone equal, 1 = one customer holds everything), and the HHI is the sum of "
        "squared shares.",
        _tier_text(val),
    ])]
    pot = Section("Potential and whitespace")
    if "potential_account" in tables:
        pot.paragraphs = [
            "Potential is what an account could spend with us per year if we were its "
            "preferred supplier, estimated per product family from accounts that look like "
            "it (industry, size, behaviour) and capped by the largest share a customer "
            "gives one supplier. Each estimate comes with a low-high range. An account's "
            "own spending never sets its own estimate: the model scores it out-of-fold.",
            "Whitespace is potential minus current value (never below zero); share of "
            "wallet is current value over potential. ROAD places accounts by current value "
            "and whitespace: Retain (high now, little headroom), Develop (high now, much "
            "headroom), Acquire (low now, much headroom), Opportunistic (low and low).",
        ]
    else:
        pot.paragraphs = ["Potential was not computed in this snapshot."]
    out.append(pot)
    scores = Section("Scores")
    if any(t in tables for t in ("propensity", "icp", "risk")):
        scores.paragraphs.append(
            "Propensity to buy is the probability that an account buys (a new family, or "
            "more) in the coming months, learned from how similar accounts behaved after "
            "earlier dates. ICP fit (0-100) says how closely an account resembles the best "
            "customers. Risk is the probability of decline or churn.")
    else:
        scores.paragraphs.append("Propensity, ICP fit and risk were not computed in this "
                                 "snapshot.")
    out.append(scores)
    seg = Section("Tiers and segments")
    if "segments" in tables:
        seg.paragraphs = [
            "Each account gets need, value and behaviour scores (weighted criteria whose "
            "weights follow the product families' life-cycle stage). Tier 1 is roughly the "
            "top 10% on value and need together: 1a when the account's behaviour already "
            "fits how we work, 1b when it needs work; then Tier 2 and Tier 3. The tier sets "
            "the care model: who covers the account, how often, and for how long.",
        ]
    else:
        seg.paragraphs = ["Segments were not computed in this snapshot."]
    out.append(seg)
    for model, evaluation in sorted((evaluations or {}).items()):
        s = Section(f"How accurate: {_MODEL_TITLES.get(model, model)}")
        s.paragraphs = metric_sentences(model, evaluation) or [
            "The model stored an evaluation; its figures are listed below."]
        s.metrics = _metric_rows(evaluation)
        out.append(s)
    if not evaluations:
        out.append(Section("How accurate", [
            "No model evaluation was stored with this snapshot, so no accuracy is claimed."]))
    if notes:
        out.append(Section("What this run skipped or assumed", list(notes)))
    return out


def _tier_text(val: dict[str, Any]) -> str:
    if val.get("tier_method") == "absolute":
        bands = val.get("tier_bands", [1_000_000, 100_000, 10_000])
        return (f"Value tiers use fixed bands: A from {bands[0]:,.0f}, B from {bands[1]:,.0f}, "
                f"C from {bands[2]:,.0f}, D below.")
    shares = val.get("tier_cumulative_shares", [0.5, 0.8, 0.95])
    return (f"Value tiers follow the Pareto curve: ranked by value, the accounts that make "
            f"up the first {shares[0]:.0%} of value are tier A, the next up to {shares[1]:.0%} "
            f"tier B, up to {shares[2]:.0%} tier C, and the rest (with every prospect) tier D.")
