"""The ``models`` stage: propensity to buy, risk and ICP fit, fitted, backtested and scored.

Each model's story is told in its own module; this one wires them to the run:

1. features per cut-off (:mod:`growthmap.features`), computed once and shared;
2. propensity and risk: rolling backtest (evaluation), then a final model trained on the
   latest cut-offs whose H-month outcome is known by the as-of date, scored at as-of;
3. the per-family propensity (one pooled model, family as a feature), same procedure;
4. ICP fit from the best customers of the value stage (or potential stage);
5. buying-centre coverage as an output of its own, for the behaviour score.

Outputs: ``propensity``, ``propensity_family``, ``risk``, ``icp``, ``buying_centre``;
evaluations ``propensity``, ``risk`` and ``icp``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ibis
import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta

from growthmap.buying_centre import buying_centre
from growthmap.config import Config
from growthmap.config._scores import ScoresConfig
from growthmap.errors import ConfigError, WorkspaceError
from growthmap.features import (
    CATEGORICAL,
    FIRMOGRAPHICS,
    FeatureInputs,
    Vocabulary,
    account_features,
    describe,
    encode,
    vocabulary,
)
from growthmap.models._backtest import CutoffPlan, binary_metrics, plan_cutoffs, rolling_backtest
from growthmap.models.icp import LookalikeClassifier, icp_evaluation, similar_best
from growthmap.models.propensity import (
    PropensityClassifier,
    drivers_json,
    family_block,
    family_frame,
    family_labels,
    ptb_labels,
    window_revenue,
)
from growthmap.models.risk import (
    REASON_NO_REVENUE,
    REASON_PROSPECT,
    RiskClassifier,
    risk_labels,
    risk_population,
)
from growthmap.pipeline import RunContext, register_stage
from growthmap.value import family_lines
from growthmap.workspace import Workspace

__all__ = [
    "MODELS",
    "CutoffFeatures",
    "ModelEvaluation",
    "ModelSkipped",
    "best_customers",
    "describe_evaluation",
    "evaluate",
    "score_icp",
    "score_propensity",
    "score_risk",
    "stage",
    "truth_check",
]

Data = tuple[pd.DataFrame, np.ndarray, np.ndarray]


class CutoffFeatures:
    """Features and outcome windows per cut-off, computed once per run and cached.

    Every query reads transactions only up to the run's as-of date; an outcome window
    ``(T, T+H]`` is asked for only when it ends by then.

    Models train on past cut-offs and are backtested there; only the as-of date is
    scored for every account.  With more accounts than a fit may take
    (``scores.max_train_rows`` over the stacked cut-offs), the past cut-offs are computed
    for a seeded sample of accounts only -- the same accounts at every cut-off, chosen by
    a hash of the account id, so an account's place in the sample never depends on the
    table's order -- and the transactions are cut to those accounts before aggregating.
    """

    def __init__(self, inputs: FeatureInputs, as_of: dt.date, config: Config) -> None:
        self.inputs, self.as_of, self.cfg = inputs, as_of, config.scores
        self.vocab: Vocabulary = vocabulary(inputs, as_of, max_signal_kinds=self.cfg.signal_kinds)
        self.lines = family_lines(inputs.transactions, inputs.products, as_of)
        ids = inputs.accounts.select("account_id").to_pandas()["account_id"].astype(str)
        #: each account's place in the seeded sampling order (0 = first taken)
        self.rank = pd.Series(_sample_order(ids, config.run.seed), index=ids.to_numpy())
        self.n_accounts = len(ids)
        self.sample_size = min(self.n_accounts, self.accounts_for(self.cfg.train_cutoffs))
        self.sample_inputs = inputs
        self.sample_lines = self.lines
        if self.sample_size < self.n_accounts:
            keep = ibis.memtable(pd.DataFrame(
                {"account_id": self.rank.index[self.rank.to_numpy() < self.sample_size]}))
            self.sample_inputs = inputs.restrict(keep)
            self.sample_lines = family_lines(self.sample_inputs.transactions,
                                             inputs.products, as_of)
        self._features: dict[dt.date, pd.DataFrame] = {}
        self._windows: dict[dt.date, pd.DataFrame] = {}

    def accounts_for(self, rows_per_account: int) -> int:
        """How many accounts one fit may take when each brings ``rows_per_account`` rows."""
        return max(1, self.cfg.max_train_rows // max(1, rows_per_account))

    def sampled(self, ids: pd.Series, n: int) -> np.ndarray:
        """Mask of the rows whose account is among the first ``n`` of the sample order."""
        if n >= self.n_accounts:
            return np.ones(len(ids), dtype=bool)
        return (ids.astype(str).map(self.rank).to_numpy() < n)

    def data_start(self) -> dt.date | None:
        first = self.lines.date.min().to_pandas()
        return None if first is None or pd.isna(first) else pd.Timestamp(first).date()

    def frame(self, cutoff: dt.date) -> pd.DataFrame:
        """Features at ``cutoff``: every account at the as-of date, the sample before."""
        if cutoff not in self._features:
            inputs = self.inputs if cutoff == self.as_of else self.sample_inputs
            f = account_features(
                inputs, cutoff, self.vocab, role_weights=self.cfg.buying_role_weights,
                engagement_months=self.cfg.engagement_months).to_pandas()
            # float sums differ in the last bits between engines (summation order), which
            # can move LightGBM's bins; rounded, DuckDB and Spark train the same model
            floats = f.select_dtypes("float").columns
            f[floats] = f[floats].round(6)
            self._features[cutoff] = f
        return self._features[cutoff]

    def matrix(self, cutoff: dt.date) -> tuple[pd.DataFrame, pd.Series]:
        f = self.frame(cutoff)
        return encode(f, self.vocab), f["account_id"]

    def window(self, cutoff: dt.date) -> pd.DataFrame:
        if cutoff + relativedelta(months=self.cfg.horizon_months) > self.as_of:
            raise AssertionError(f"outcome window after {cutoff} ends past the as-of date")
        if cutoff not in self._windows:
            self._windows[cutoff] = window_revenue(self.sample_lines, cutoff,
                                                   self.cfg.horizon_months).to_pandas()
        return self._windows[cutoff]

    def plan(self) -> CutoffPlan:
        c = self.cfg
        return plan_cutoffs(self.as_of, horizon=c.horizon_months, step=c.cutoff_step_months,
                            n_test=c.backtest_cutoffs, n_train=c.train_cutoffs,
                            data_start=self.data_start(), min_history=c.min_history_months)


def _sample_order(ids: pd.Series, seed: int) -> np.ndarray:
    """Each id's rank in a seeded pseudo-random order that depends on the id alone."""
    salted = (f"sample:{seed}\x1f") + ids.astype("string").fillna("")
    h = pd.util.hash_pandas_object(salted, index=False).to_numpy()
    order = np.lexsort((ids.to_numpy(dtype=str), h))  # ties (never, in practice) by id
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    return rank


def _estimator(cls: type, config: Config, categorical: list[str]) -> Any:
    s = config.scores
    return cls(n_estimators=s.n_estimators, learning_rate=s.learning_rate,
               num_leaves=s.num_leaves, min_child_samples=s.min_child_samples,
               calibration=s.calibration, cv=s.calibration_folds,
               categorical_features=categorical, random_state=config.run.seed, n_jobs=s.n_jobs)


def _categorical(x: pd.DataFrame, extra: tuple[str, ...] = ()) -> list[str]:
    return [c for c in (*CATEGORICAL, *extra) if c in x.columns]


def _stack(data: Callable[[dt.date], Data], cutoffs: list[dt.date]) -> Data:
    parts = [data(c) for c in cutoffs]
    return (pd.concat([p[0] for p in parts], ignore_index=True),
            np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))


def _deciles(p: np.ndarray) -> np.ndarray:
    """1 = the 10% most likely, 10 = the least (ties share the better decile)."""
    ranks = pd.Series(-p).rank(method="min").to_numpy()
    return np.minimum(10, np.ceil(ranks / len(p) * 10)).astype(int) if len(p) else ranks


class ModelSkipped(Exception):
    """A model cannot be trained on this data; the run notes why and goes on."""


def _fit_and_backtest(est: Any, data: Callable[[dt.date], Data], plan: CutoffPlan,
                      label: str) -> tuple[Any, dict[str, Any]]:
    if not plan.final:
        raise ModelSkipped(
            f"{label} needs a cut-off whose outcome is known by the as-of date and that has "
            "enough history before it (scores.horizon_months + max(horizon_months, "
            "min_history_months) months of transactions); load a longer history or lower "
            "scores.horizon_months")
    x, y, g = _stack(data, plan.final)
    if len(np.unique(y)) < 2:
        raise ModelSkipped(f"every account has the same {label} outcome at the training "
                           "cut-offs, so there is nothing to learn; check "
                           "scores.growth_threshold / decline_threshold")
    backtest = rolling_backtest(est, data, plan)
    model = est.fit(x, y, groups=g)
    evaluation = {
        "backtest": backtest,
        "final_training": {"cutoffs": [c.isoformat() for c in plan.final], "rows": len(y),
                           "base_rate": round(float(y.mean()), 4)},
    }
    return model, evaluation


def _sample_note(cf: CutoffFeatures, accounts: int) -> dict[str, Any]:
    return {"sampled_accounts": accounts if accounts < cf.n_accounts else None,
            "accounts": cf.n_accounts}


def score_propensity(cf: CutoffFeatures, config: Config) -> tuple[pd.DataFrame,
                                                                   pd.DataFrame | None,
                                                                   dict[str, Any]]:
    """Backtest, fit and score PtB (and the per-family PtB when configured)."""
    s = config.scores
    plan = cf.plan()

    def data(c: dt.date) -> Data:
        x, ids = cf.matrix(c)
        return x, ptb_labels(cf.window(c), ids, s.growth_threshold), ids.to_numpy()

    x_now, ids = cf.matrix(cf.as_of)
    est = _estimator(PropensityClassifier, config, _categorical(x_now))
    model, ev = _fit_and_backtest(est, data, plan, "propensity")
    p, idx, eff = model.explain(x_now, top=s.drivers)
    drivers = drivers_json(idx, eff, list(x_now.columns), lambda n: describe(n, cf.vocab))
    out = pd.DataFrame({"account_id": ids.to_numpy(), "ptb": p, "ptb_decile": _deciles(p),
                        "drivers": drivers})
    ev.update(_label_text(config), mean_ptb=round(float(p.mean()), 4), scored=len(p),
              features=list(x_now.columns), training=_sample_note(cf, cf.sample_size))
    fam_out = None
    if s.per_family and cf.vocab.families:
        fam_out, ev["per_family"] = _score_family(cf, config, plan, x_now, ids)
    return out, fam_out, ev


def _score_family(cf: CutoffFeatures, config: Config, plan: CutoffPlan, x_now: pd.DataFrame,
                  ids: pd.Series) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One pooled model over (account, family) rows; scored one family at a time, so the
    accounts x families matrix is never held whole."""
    s = config.scores
    slugs = cf.vocab.family_slugs()
    n_acc = cf.accounts_for(s.train_cutoffs * len(slugs))

    def data(c: dt.date) -> Data:
        x, acc = cf.matrix(c)
        keep = cf.sampled(acc, n_acc)
        xl, keys = family_frame(x[keep].reset_index(drop=True),
                                acc[keep].reset_index(drop=True), slugs)
        return xl, family_labels(cf.window(c), keys, s.growth_threshold), keys.account_id.to_numpy()

    head, _ = family_frame(x_now.head(1), ids.head(1), slugs)
    est = _estimator(PropensityClassifier, config, _categorical(head, ("family",)))
    # one backtest fold is enough to report the per-family quality; it is the slow part
    short = CutoffPlan(folds=dict(list(plan.folds.items())[-1:]), final=plan.final)
    model, ev = _fit_and_backtest(est, data, short, "per-family propensity")
    parts = []
    for code, (fam, slug) in enumerate(slugs.items()):
        xf = family_block(x_now, code, slug)
        parts.append(pd.DataFrame({
            "account_id": ids.to_numpy(), "family": fam,
            "ptb": model.predict_proba(xf)[:, 1],
            "new_family": xf["fam_rev_12m"].to_numpy() <= 0 if "fam_rev_12m" in xf else True}))
        del xf
    keys = pd.concat(parts, ignore_index=True)
    return keys, {**ev, "families": list(slugs), "training": _sample_note(cf, n_acc)}


def _label_text(config: Config) -> dict[str, Any]:
    s = config.scores
    return {"horizon_months": s.horizon_months, "label": (
        f"buys a product family it did not buy in the last {s.horizon_months} months, or "
        f"grows its revenue by more than {s.growth_threshold:.0%}, within the next "
        f"{s.horizon_months} months")}


def score_risk(cf: CutoffFeatures, config: Config) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Backtest, fit and score the decline/churn risk of customers."""
    s = config.scores
    plan = cf.plan()

    def data(c: dt.date) -> Data:
        x, ids = cf.matrix(c)
        w = cf.window(c)
        pop = risk_population(w, ids)
        return (x[pop].reset_index(drop=True), risk_labels(w, ids, s.decline_threshold)[pop],
                ids.to_numpy()[pop])

    x_now, ids = cf.matrix(cf.as_of)
    est = _estimator(RiskClassifier, config, _categorical(x_now))
    model, ev = _fit_and_backtest(est, data, plan, "risk")
    last = window_revenue(cf.lines, cf.as_of, s.horizon_months).to_pandas()
    rev_last = ids.map(last.groupby("account_id")["last"].sum()).fillna(0).to_numpy()
    ever = cf.frame(cf.as_of)["families_ever"].to_numpy() > 0
    pop = rev_last > 0
    risk = np.full(len(ids), np.nan)
    decile = np.full(len(ids), np.nan)
    drivers = np.array(["[]"] * len(ids), dtype=object)
    if pop.any():
        p, idx, eff = model.explain(x_now[pop], top=s.drivers)
        risk[pop] = p
        decile[pop] = _deciles(p)
        drivers[pop] = drivers_json(idx, eff, list(x_now.columns),
                                    lambda n: describe(n, cf.vocab))
    lapsed = REASON_NO_REVENUE.format(months=s.horizon_months)
    reason = np.where(pop, None, np.where(ever, lapsed, REASON_PROSPECT))
    out = pd.DataFrame({"account_id": ids.to_numpy(), "risk": risk,
                        "risk_decile": pd.array(decile, dtype="Int64"), "reason": reason,
                        "drivers": drivers})
    ev.update(horizon_months=s.horizon_months, scored=int(pop.sum()),
              training=_sample_note(cf, cf.sample_size),
              mean_risk=round(float(np.nanmean(risk)), 4) if pop.any() else None,
              label=f"a customer's revenue in the next {s.horizon_months} months falls by at "
              f"least {s.decline_threshold:.0%} (churn included)")
    return out, ev


def best_customers(ctx: RunContext, account_ids: pd.Series) -> np.ndarray:
    """The ICP's labelled positives, by the configured definition."""
    s = ctx.config.scores
    av = ctx.frame("account_value").set_index("account_id")
    cust = av["is_customer"].astype(bool)
    if s.icp_best == "top_tier":
        best = cust & av["value_tier"].isin(s.icp_best_tiers)
    else:
        if not ctx.has("potential_account"):
            raise ConfigError(
                "scores.icp_best = 'wallet_growth' needs share of wallet from the potential "
                "stage, which this run did not produce",
                hint="set scores.icp_best = 'top_tier', or run with the potential stage")
        sow = ctx.frame("potential_account").set_index("account_id")["share_of_wallet"]
        best = (cust & (sow.reindex(av.index) >= s.icp_min_share_of_wallet)
                & (av["growth"] >= s.icp_min_growth))
    return account_ids.map(best.fillna(False)).fillna(False).to_numpy(dtype=bool)


def score_icp(cf: CutoffFeatures, config: Config, is_best: np.ndarray, is_customer: np.ndarray
              ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """ICP fit 0-100 for every account (out-of-fold) and its most similar best customers."""
    s = config.scores
    frame = cf.frame(cf.as_of)
    cols = s.icp_features or [c for c in (*CATEGORICAL, *FIRMOGRAPHICS) if c in frame.columns]
    accounts = cf.inputs.accounts
    missing = [c for c in cols if c not in accounts.columns]
    if missing:
        raise ConfigError(f"scores.icp_features names {missing}, which the accounts table "
                          "does not have",
                          hint=f"use columns of accounts: {', '.join(accounts.columns)}")
    raw = accounts.select("account_id", *cols).to_pandas()
    raw = frame[["account_id"]].merge(raw, on="account_id", how="left")
    categorical = [c for c in cols if not pd.api.types.is_numeric_dtype(raw[c])]
    numeric = [c for c in cols if c not in categorical]
    x = pd.DataFrame({c: pd.to_numeric(raw[c], errors="coerce") for c in numeric})
    for c in categorical:
        x[c] = raw[c].astype("string").astype("category").cat.codes.replace(-1, np.nan)
    ids = frame["account_id"]
    n_best = int(is_best.sum())
    if n_best < 2 * 2:
        out = pd.DataFrame({"account_id": ids, "icp_fit": np.nan, "icp_percentile": np.nan,
                            "similar_best": "[]",
                            "is_best": is_best})
        return out, {"skipped": f"only {n_best} best customers; at least 4 are needed"}
    est = LookalikeClassifier(n_estimators=150, num_leaves=7, min_child_samples=10,
                              cv=5, categorical_features=categorical,
                              max_train_rows=s.max_train_rows,
                              random_state=config.run.seed, n_jobs=s.n_jobs)
    model = est.fit(x.astype(float), is_best.astype(int))
    fit = np.round(100 * model.oof_proba_, 1)
    pct = np.round(100 * pd.Series(fit).rank(method="max", pct=True).to_numpy(), 1)
    out = pd.DataFrame({"account_id": ids, "icp_fit": fit, "icp_percentile": pct,
                        "similar_best": similar_best(raw, is_best, numeric=numeric,
                                                     categorical=categorical,
                                                     k=s.icp_neighbours),
                        "is_best": is_best})
    ev = icp_evaluation(model, is_best, fit, is_customer)
    ev.update(best_definition=(f"customers in value tier(s) {', '.join(s.icp_best_tiers)}"
                               if s.icp_best == "top_tier" else
                               f"customers with share of wallet >= {s.icp_min_share_of_wallet:.0%}"
                               f" and growth >= {s.icp_min_growth:.0%}"), features=cols)
    return out, ev


@register_stage("models")
def stage(ctx: RunContext) -> None:
    """Propensity to buy, risk and ICP fit: backtested, fitted and scored as of the run."""
    cfg = ctx.config.scores
    inputs = FeatureInputs.from_source(ctx.source)
    for name in inputs.missing():
        if name != "products":
            ctx.note(f"no {name} table: propensity and risk run without {name} features")
    if inputs.contacts is None:
        ctx.note("no contacts table: buying-centre coverage is unknown (null) for every account")
    cf = CutoffFeatures(inputs, ctx.as_of, ctx.config)
    ctx.step("models: buying centre")
    ctx.put("buying_centre", buying_centre(inputs.accounts, inputs.contacts, ctx.as_of,
                                           weights=cfg.buying_role_weights,
                                           engagement_months=cfg.engagement_months))
    ctx.step("models: propensity")
    try:
        ptb, fam, ev = score_propensity(cf, ctx.config)
        ctx.put("propensity", ptb)
        if fam is not None:
            ctx.put("propensity_family", fam)
    except ModelSkipped as exc:
        ctx.note(f"no propensity to buy: {exc}")
        ev = {"skipped": str(exc)}
    ctx.evaluations["propensity"] = ev
    ctx.step("models: risk")
    try:
        risk, ev = score_risk(cf, ctx.config)
        ctx.put("risk", risk)
    except ModelSkipped as exc:
        ctx.note(f"no risk scores: {exc}")
        ev = {"skipped": str(exc)}
    ctx.evaluations["risk"] = ev
    ctx.step("models: ICP fit")
    ids = cf.frame(ctx.as_of)["account_id"]
    is_best = best_customers(ctx, ids)
    cust = ids.map(ctx.frame("account_value").set_index("account_id")["is_customer"]
                   ).fillna(False).to_numpy(dtype=bool)
    icp, ev = score_icp(cf, ctx.config, is_best, cust)
    if "skipped" in ev:
        ctx.note(f"ICP fit not learned: {ev['skipped']} (see scores.icp_best)")
    ctx.put("icp", icp)
    ctx.evaluations["icp"] = ev



# -- reading a snapshot's evaluation back (``growthmap evaluate ...``) ----------------------
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
