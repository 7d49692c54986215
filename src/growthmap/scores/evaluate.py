"""Reading a snapshot's model evaluation back: ``growthmap evaluate propensity | risk | icp``.

The models stage stores each model's evaluation (backtest, training, sample) in the
snapshot; this reads it back, adds a check against the demo world's ground truth when
the workspace holds one (the year after the as-of date), and says in plain words how
good the model is, for the CLI and the report.  Apart from the stage because it reads
snapshots, not inputs, and runs long after the run.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from growthmap.config._scores import ScoresConfig
from growthmap.errors import ConfigError, WorkspaceError
from growthmap.models._backtest import binary_metrics
from growthmap.models.propensity import ptb_labels, window_revenue
from growthmap.models.risk import risk_labels
from growthmap.value.stage import family_lines
from growthmap.workspace import Workspace

__all__ = ["MODELS", "ModelEvaluation", "describe_evaluation", "evaluate", "truth_check"]

MODELS = ("propensity", "risk", "icp")


@dataclass
class ModelEvaluation:
    """A model's evaluation as stored in a snapshot, its truth check, and plain words."""

    model: str
    snapshot_id: int
    as_of: dt.date
    evaluation: dict[str, Any]
    truth: dict[str, Any] | None
    sentences: list[str] = field(default_factory=list)


def evaluate(ws: Workspace, model: str, snapshot: int | str | None = "latest"
             ) -> ModelEvaluation:
    """The stored evaluation of ``model`` in a snapshot, plus the ground-truth check when
    the workspace holds one (demo workspaces: the year after the as-of date)."""
    if model not in MODELS:
        raise ConfigError(f"unknown model {model!r}", hint=f"use one of: {', '.join(MODELS)}")
    info = ws.snapshot_info(snapshot)
    evaluations = json.loads(info["evaluations"] or "{}")
    if model not in evaluations:
        raise WorkspaceError(
            f"snapshot {info['snapshot_id']} has no {model} evaluation",
            hint="run `growthmap run` with the models stage to produce one")
    ev = evaluations[model]
    # only the [scores] section matters here; read it alone so that another section's
    # schema change cannot make an old snapshot unreadable
    stored = json.loads(info["config_json"] or "{}").get("scores") or {}
    truth = None if "skipped" in ev else truth_check(
        ws, model, info["snapshot_id"], info["as_of"], ScoresConfig.model_validate(stored))
    return ModelEvaluation(model, info["snapshot_id"], info["as_of"], ev, truth,
                           describe_evaluation(model, ev, truth))


def _truth_windows(ws: Workspace, as_of: dt.date, cfg: ScoresConfig) -> pd.DataFrame:
    lines = family_lines(ws.table("transactions"), ws.maybe_table("products"), as_of)
    last = window_revenue(lines, as_of, cfg.horizon_months).to_pandas()[
        ["account_id", "family", "last"]]
    nxt = ws.table("next_year", "truth").to_pandas().rename(columns={"amount": "next"})
    w = last.merge(nxt[["account_id", "family", "next"]], on=["account_id", "family"],
                   how="outer")
    return w.fillna({"last": 0.0, "next": 0.0})


def truth_check(ws: Workspace, model: str, snapshot_id: int, as_of: dt.date,
                cfg: ScoresConfig) -> dict[str, Any] | None:
    """Score a snapshot's model against the demo world's truth; None without truth."""
    if not ws.has_table("accounts", "truth"):
        return None
    out = ws.output(model, snapshot_id).to_pandas()
    if model == "icp":
        return _icp_truth(ws, out, snapshot_id)
    if cfg.horizon_months != 12:
        return {"skipped": "the truth covers the 12 months after the as-of date; the "
                           f"horizon is {cfg.horizon_months} months"}
    w = _truth_windows(ws, as_of, cfg)
    if model == "propensity":
        y = ptb_labels(w, out.account_id, cfg.growth_threshold)
        return {"forward": binary_metrics(y, out.ptb.to_numpy())}
    scored = out.risk.notna().to_numpy()
    y = risk_labels(w, out.account_id, cfg.decline_threshold)[scored]
    res = {"forward": binary_metrics(y, out.risk.to_numpy()[scored])}
    ta = ws.table("accounts", "truth").to_pandas().set_index("account_id")
    if "churned_next_year" in ta.columns:
        churn = out.account_id.map(ta.churned_next_year).fillna(False).to_numpy()[scored]
        res["churn"] = binary_metrics(churn.astype(int), out.risk.to_numpy()[scored])
    return res


def _icp_truth(ws: Workspace, icp: pd.DataFrame, snapshot_id: int) -> dict[str, Any]:
    """Among prospects: rank agreement with the true fit and wallet, precision at the top.

    "True best prospects" = the 10% of prospects with the largest true total wallet: the
    ones that could become the biggest customers if won.
    """
    from scipy.stats import spearmanr

    av = ws.output("account_value", snapshot_id).select("account_id", "is_customer").to_pandas()
    ta = ws.table("accounts", "truth").to_pandas()
    d = icp.merge(av, on="account_id").merge(ta, on="account_id", suffixes=("", "_truth"))
    d = d[~d.is_customer.astype(bool) & d.icp_fit.notna()]
    if len(d) < 10:
        return {"skipped": f"only {len(d)} scored prospects"}
    k = int(np.ceil(0.1 * len(d)))
    top_pred = set(d.sort_values(["icp_fit", "account_id"], ascending=[False, True])
                   .account_id.head(k))
    res: dict[str, Any] = {"prospects": len(d), "top_decile": k}
    for col in ("latent_fit", "wallet_total"):
        if col in d.columns:
            res[f"spearman_{col}"] = round(float(spearmanr(d.icp_fit, d[col])[0]), 4)
            top_true = set(d.sort_values([col, "account_id"], ascending=[False, True])
                           .account_id.head(k))
            res[f"precision_top_decile_{col}"] = round(len(top_pred & top_true) / k, 4)
    return res


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def describe_evaluation(model: str, ev: dict[str, Any], truth: dict[str, Any] | None
                        ) -> list[str]:
    """How good the model is, in plain language (for the CLI and the report)."""
    out = []
    if model == "icp":
        if "skipped" in ev:
            return [f"ICP fit was not learned: {ev['skipped']}."]
        out.append(f"ICP fit learned from {ev['best_customers']} best customers "
                   f"({ev.get('best_definition', '')}); out of fold it tells them apart from "
                   f"everyone else with ROC AUC {ev['pu_roc_auc']} (a lower bound, since some "
                   "of the others are best-customer material too).")
        if truth and "spearman_wallet_total" in truth:
            out.append(f"Against the truth: among {truth['prospects']} prospects, "
                       f"{_pct(truth['precision_top_decile_wallet_total'])} of the top-10% by "
                       "ICP fit are among the 10% with the largest true wallet (chance: 10%).")
        return out
    if "skipped" in ev:
        return [f"The {model} model was not trained: {ev['skipped']}."]
    pooled = (ev.get("backtest") or {}).get("pooled")
    what = "buyers" if model == "propensity" else "decliners"
    if pooled:
        folds = [f["cutoff"] for f in ev["backtest"]["folds"] if "roc_auc" in f]
        out.append(
            f"Backtest at {', '.join(folds)} (trained only on earlier outcomes): a random "
            f"{what[:-1]} outscored a random other account {_pct(pooled['roc_auc'])} of the "
            f"time (ROC AUC {pooled['roc_auc']:.2f}); the top 10% by score held "
            f"{pooled['top_decile_lift']:.1f}x as many {what} as average; probabilities were "
            f"off by {pooled['ece']:.3f} on average (ECE).")
    else:
        out.append("No backtest was possible: the history is too short for a cut-off "
                   "with a known outcome and earlier training data.")
    fwd = (truth or {}).get("forward")
    if fwd:
        out.append(f"Out of time, against what happened in the year after the as-of date: "
                   f"ROC AUC {fwd['roc_auc']:.2f}, top-decile lift "
                   f"{fwd['top_decile_lift']:.1f}x, "
                   f"ECE {fwd['ece']:.3f} (observed rate {_pct(fwd['base_rate'])}, predicted "
                   f"{_pct(fwd['mean_predicted'])}).")
    return out
