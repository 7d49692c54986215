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

import ibis
import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta

from growthmap import quality
from growthmap.config._scores import ScoresConfig
from growthmap.errors import ConfigError, WorkspaceError
from growthmap.models._backtest import binary_metrics
from growthmap.models.propensity import ptb_labels, window_revenue
from growthmap.models.risk import risk_labels
from growthmap.scores.baselines import apply_signs, baseline_frame, compare
from growthmap.value.stage import family_lines
from growthmap.workspace import Workspace

__all__ = ["MODELS", "ModelEvaluation", "baseline_name", "comparison_sentences",
           "describe_evaluation", "evaluate", "headline_sentences", "truth_check"]

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
        return {"forward": binary_metrics(y, out.ptb.to_numpy()),
                "labels": forward_labels(ws, as_of, cfg, w, out.account_id,
                                         out.ptb.to_numpy(), y, model)}
    scored = out.risk.notna().to_numpy()
    y = risk_labels(w, out.account_id, cfg.decline_threshold)[scored]
    res = {"forward": binary_metrics(y, out.risk.to_numpy()[scored]),
           "labels": forward_labels(ws, as_of, cfg, w, out.account_id[scored].reset_index(
               drop=True), out.risk.to_numpy()[scored], y, model)}
    ta = ws.table("accounts", "truth").to_pandas().set_index("account_id")
    if "churned_next_year" in ta.columns:
        churn = out.account_id.map(ta.churned_next_year).fillna(False).to_numpy()[scored]
        res["churn"] = binary_metrics(churn.astype(int), out.risk.to_numpy()[scored])
    return res


def forward_labels(ws: Workspace, as_of: dt.date, cfg: ScoresConfig, w: pd.DataFrame,
                   ids: pd.Series, published: np.ndarray, own: np.ndarray, model: str
                   ) -> dict[str, Any]:
    """The published score against the true next year, decision label by decision label,
    beside the baselines computed as of the run (same definitions as in the stage)."""
    lines = family_lines(ws.table("transactions"), ws.maybe_table("products"), as_of)
    since = as_of - relativedelta(months=12)
    pos = lines.amount > 0
    stats = lines.group_by("account_id").aggregate(
        last=ibis.cases((pos, lines.date), else_=ibis.null("date")).max(),
        lines_12m=ibis.cases((pos & (lines.date > since), 1), else_=0).sum(),
        rev_12m=ibis.cases((lines.date > since, lines.amount), else_=0.0).sum(),
        ever=ibis.cases((pos, 1), else_=0).sum()).to_pandas().set_index("account_id")
    x = stats.reindex(ids.to_numpy())
    x["recency_days"] = (pd.Timestamp(as_of) - pd.to_datetime(x["last"])).dt.days
    acc = ws.table("accounts")
    cols = [c for c in cfg.baseline_columns if c in acc.columns]
    if cols:
        a = acc.select("account_id", *cols).to_pandas().set_index("account_id")
        for c in cols:
            x[c] = pd.to_numeric(a[c], errors="coerce").reindex(ids.to_numpy()).to_numpy()
    b = baseline_frame(x.reset_index(drop=True).fillna({"lines_12m": 0, "rev_12m": 0}), cols)
    b = apply_signs(b, {c: 1 if model == "propensity" else -1 for c in b.columns})
    per = w.groupby("account_id")[["last", "next"]].sum().reindex(ids.to_numpy()).fillna(0.0)
    nxt = per["next"].to_numpy()
    ever = x["ever"].fillna(0).to_numpy() > 0
    rows = np.arange(len(ids))
    if model == "propensity":
        labels = {"own": ("the own label", rows, own),
                  "first_purchase": ("prospects that make a first purchase",
                                     rows[~ever], (nxt[~ever] > 0).astype(int)),
                  "expansion": ("customers that buy a new family or grow", rows[ever],
                                own[ever]),
                  "buys_again": ("customers that buy again at all", rows[ever],
                                 (nxt[ever] > 0).astype(int))}
    else:
        labels = {"own": ("customers whose revenue declines", rows, own),
                  "churn": ("customers that stop buying", rows, (nxt <= 0).astype(int))}
    scores = {"published": np.asarray(published, dtype=float),
              **{c: b[c].to_numpy() for c in b.columns}}
    return {name: {"label": text, **compare(y, {k: v[r] for k, v in scores.items()},
                                            model="published")}
            for name, (text, r, y) in labels.items()}


def _icp_truth(ws: Workspace, icp: pd.DataFrame, snapshot_id: int) -> dict[str, Any]:
    """Among prospects: rank agreement with the true fit and wallet, precision at the top,
    beside the same figures of the baseline, the potential rank (when the run has it).

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
    if ws.has_output("potential_account", snapshot_id):
        pot = ws.output("potential_account", snapshot_id).select(
            "account_id", "potential").to_pandas().rename(columns={"potential": "_baseline"})
        d = d.merge(pot, on="account_id", how="left")
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
            if "_baseline" in d.columns and d["_baseline"].notna().any():
                # ICP's baseline: the potential rank, on the same prospects
                b = d["_baseline"].fillna(d["_baseline"].min())
                res[f"baseline_spearman_{col}"] = round(float(spearmanr(b, d[col])[0]), 4)
                top_b = set(d.assign(_b=b).sort_values(["_b", "account_id"],
                                                        ascending=[False, True])
                            .account_id.head(k))
                res[f"baseline_precision_top_decile_{col}"] = round(len(top_b & top_true) / k, 4)
    return res


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


_BASELINE_NAMES = {"rfm": "the recency / frequency / monetary rank",
                   "published": "the published score"}


def baseline_name(name: str) -> str:
    """A baseline's name in words (a user column is named as such)."""
    return _BASELINE_NAMES.get(name, f"the account column {name!r}")


def comparison_sentences(what: str, ev: dict[str, Any]) -> list[str]:
    """Model vs baselines per decision label, in the words of :mod:`growthmap.quality`."""
    comp = ev.get("comparison") or {}
    labels = comp.get("labels") or {}
    if not labels:
        return []
    where = ("in the backtest (trained only on earlier outcomes)"
             if comp.get("source") == "backtest" else
             "out of fold on the training cut-offs (the history is too short for a backtest "
             "out of time)")
    out = [f"{what} is compared with its baselines on the same accounts, {where}."]
    for name in ("own", *sorted(k for k in labels if k != "own")):
        if name not in labels:
            continue
        lab = labels[name]
        m = lab["auc"].get("model") or {}
        out.append(quality.auc_sentence(
            f"The model ({name.replace('_', ' ')})", m.get("auc"), lo=m.get("lo"),
            hi=m.get("hi"), label=f"{lab['label']} ({lab['positives']} of {lab['n']} did)"))
        for base, d in (lab.get("vs") or {}).items():
            if base != "published":
                out.append(quality.difference_words("The model", baseline_name(base),
                                                    d["diff"], d["lo"], d["hi"]))
    return out


def headline_sentences(evaluations: dict[str, Any]) -> list[str]:
    """One or two sentences per scoring model for ``summary``: what was published, how
    well it ranks its own label beside its best baseline, or why it is not informative."""
    out = []
    for model, what in (("propensity", "Propensity to buy"), ("risk", "Risk")):
        ev = evaluations.get(model) or {}
        if not ev or "skipped" in ev:
            continue
        if ev.get("not_informative"):
            out.append(quality.not_informative_sentence(what, ev["not_informative"]))
        pub = ev.get("published") or {}
        if pub.get("score", "model") != "model":
            out.append(pub["sentence"])
        own = ((ev.get("comparison") or {}).get("labels") or {}).get("own")
        if own:
            key = "published" if "published" in own["auc"] else "model"
            a = own["auc"][key]
            out.append(quality.auc_sentence(f"{what} (as published)", a["auc"], lo=a["lo"],
                                            hi=a["hi"], label=own["label"]))
            for base, d in (own.get("vs") or {}).items():
                if base != "published":
                    out.append(quality.difference_words("The model", baseline_name(base),
                                                        d["diff"], d["lo"], d["hi"]))
    return out


def describe_evaluation(model: str, ev: dict[str, Any], truth: dict[str, Any] | None
                        ) -> list[str]:
    """How good the model is, in plain language (for the CLI and the report).

    Every judgement comes from :mod:`growthmap.quality`, so the words follow the numbers.
    """
    out = []
    if model == "icp":
        if "skipped" in ev:
            return [f"ICP fit was not learned: {ev['skipped']}."]
        auc = ev.get("pu_roc_auc")
        out.append(quality.auc_sentence(
            f"ICP fit (learned from {ev['best_customers']} best customers, "
            f"{ev.get('best_definition', '')})", auc,
            label="best customers above everyone else, out of fold (a lower bound: some "
                  "of the others are best-customer material too)"))
        if truth and "spearman_wallet_total" in truth:
            out.append(quality.spearman_sentence(
                f"Among {truth['prospects']} prospects, ICP fit", truth["spearman_wallet_total"],
                against="their true wallet"))
            if "baseline_spearman_wallet_total" in truth:
                out.append(quality.spearman_sentence(
                    "Its baseline, the potential rank,", truth["baseline_spearman_wallet_total"],
                    against="the true wallet"))
        return out
    if "skipped" in ev:
        return [f"The {model} model was not trained: {ev['skipped']}."]
    what = "Propensity to buy" if model == "propensity" else "Risk"
    pub = ev.get("published") or {}
    if pub.get("sentence"):
        out.append(pub["sentence"])
    if ev.get("not_informative"):
        out.append(quality.not_informative_sentence(what, ev["not_informative"]))
    folds = [f["cutoff"] for f in (ev.get("backtest") or {}).get("folds", []) if "roc_auc" in f]
    if not folds:
        why = (ev.get("backtest") or {}).get("skipped") or (
            "the history is too short for a cut-off with a known outcome and earlier "
            "training data")
        out.append(f"No backtest out of time was possible: {why}.")
    out.extend(comparison_sentences(what, ev))
    fwd = (truth or {}).get("forward")
    if fwd:
        label = ("accounts that bought (new family or growth) in the year after the as-of "
                 "date" if model == "propensity" else
                 "customers whose revenue declined in the year after the as-of date")
        out.append(quality.auc_sentence("Against the truth, the published score",
                                        fwd["roc_auc"], label=label))
    return out
