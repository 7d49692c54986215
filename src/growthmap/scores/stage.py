"""The ``models`` stage: propensity to buy, risk and ICP fit, fitted, backtested and scored.

Each model's story is told in its own module; this one wires them to the run:

1. features per cut-off (:mod:`growthmap.scores.features`), computed once and shared;
2. propensity and risk: rolling backtest (evaluation), then a final model trained on the
   latest cut-offs whose H-month outcome is known by the as-of date;
3. the per-family propensity (one pooled model, family as a feature), same procedure;
4. every account scored at as-of by the three models in one pass, where the features
   live -- in-process on DuckDB, on the executors on Spark
   (:mod:`growthmap.scores.batch`); deciles from the collected scores;
5. ICP fit from the best customers of the value stage (or potential stage), on the
   driver (its scores are out-of-fold training scores);
6. buying-centre coverage as an output of its own, for the behaviour score.

Outputs: ``propensity``, ``propensity_family``, ``risk``, ``icp``, ``buying_centre``;
evaluations ``propensity``, ``risk`` and ``icp``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta

from growthmap.config import Config
from growthmap.errors import ConfigError
from growthmap.models._backtest import CutoffPlan, plan_cutoffs, rolling_backtest
from growthmap.models.icp import LookalikeClassifier, icp_evaluation, similar_best
from growthmap.models.propensity import (
    PropensityClassifier,
    family_frame,
    family_labels,
    ptb_labels,
    window_revenue,
)
from growthmap.models.risk import RiskClassifier, risk_labels, risk_population
from growthmap.quality import not_informative_sentence
from growthmap.runner.pipeline import RunContext, register_stage
from growthmap.scores.baselines import RFM_COLUMNS
from growthmap.scores.batch import (
    REV_LAST,
    AccountScorer,
    family_table,
    propensity_table,
    risk_table,
    score_accounts,
)
from growthmap.scores.buying_centre import buying_centre
from growthmap.scores.compare import (
    PTB_SEGMENTS,
    Comparison,
    family_sublabels,
    ptb_sublabels,
    risk_sublabels,
)
from growthmap.scores.evaluate import (  # re-exported: read back by the CLI and tests
    MODELS,
    ModelEvaluation,
    describe_evaluation,
    evaluate,
    truth_check,
)
from growthmap.scores.features import (
    CATEGORICAL,
    FIRMOGRAPHICS,
    ID_COLUMNS,
    FeatureInputs,
    Vocabulary,
    account_features,
    encode,
    vocabulary,
)
from growthmap.scores.publish import EVER, Published, baseline_drivers, publish
from growthmap.value.stage import family_lines

__all__ = [
    "MODELS",
    "CutoffFeatures",
    "ModelEvaluation",
    "ModelSkipped",
    "best_customers",
    "describe_evaluation",
    "evaluate",
    "fit_family",
    "fit_propensity",
    "fit_risk",
    "score_all",
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
    scored for every account, by :meth:`score`, which leaves the as-of features on the
    engine (on Spark they never reach the driver).  With more accounts than a fit may
    take (``scores.max_train_rows`` over the stacked cut-offs), the past cut-offs are
    computed for a seeded sample of accounts only -- the same accounts at every cut-off,
    chosen by a hash of the account id, so an account's place in the sample never depends
    on the table's order -- and the transactions are cut to those accounts before
    aggregating.
    """

    def __init__(self, inputs: FeatureInputs, as_of: dt.date, config: Config) -> None:
        self.inputs, self.as_of, self.cfg = inputs, as_of, config.scores
        attrs = tuple(dict.fromkeys([*self.cfg.features, *self.cfg.baseline_columns]))
        missing = [c for c in attrs if c not in inputs.accounts.columns]
        if missing:
            raise ConfigError(
                f"scores.features / scores.baseline_columns name {missing}, which the accounts "
                "table does not have",
                hint=f"use columns of accounts: {', '.join(inputs.accounts.columns)}")
        self.vocab: Vocabulary = vocabulary(inputs, as_of, max_signal_kinds=self.cfg.signal_kinds,
                                            attributes=attrs)
        bad = [c for c in self.cfg.baseline_columns if c not in self.vocab.numeric
               and c not in ("employees", "annual_revenue")]
        if bad:
            raise ConfigError(f"scores.baseline_columns names {bad}, which are not numeric",
                              hint="name numeric account columns that already score accounts")
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
        #: every account id in the order of the as-of features (sorted)
        self.account_ids = pd.Series(np.sort(ids.to_numpy(dtype=object)), name="account_id",
                                     dtype=ids.dtype)
        self._as_of_features = account_features(
            inputs, as_of, self.vocab, role_weights=self.cfg.buying_role_weights,
            engagement_months=self.cfg.engagement_months)
        #: the model matrix columns (features without ids), known without running a query
        self.columns = [c for c in self._as_of_features.columns if c not in ID_COLUMNS]

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
            f = (self._as_of_features if cutoff == self.as_of else account_features(
                self.sample_inputs, cutoff, self.vocab,
                role_weights=self.cfg.buying_role_weights,
                engagement_months=self.cfg.engagement_months)).to_pandas()
            # float sums differ in the last bits between engines (summation order), which
            # can move LightGBM's bins; rounded, DuckDB and Spark train the same model (the
            # scorer rounds the as-of features the same way, wherever it runs)
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

    def scoring_table(self, *, rev_last: bool = False) -> ir.Table:
        """The as-of features of every account (an expression), with the net revenue of
        the last H months in ``REV_LAST`` when asked (who is in the risk population)."""
        # unsorted: the scores are sorted by account id after scoring (score_accounts)
        f = account_features(self.inputs, self.as_of, self.vocab,
                             role_weights=self.cfg.buying_role_weights,
                             engagement_months=self.cfg.engagement_months, ordered=False)
        if not rev_last:
            return f
        w = window_revenue(self.lines, self.as_of, self.cfg.horizon_months)
        per = w.group_by("account_id").aggregate(**{REV_LAST: w["last"].sum()})
        return f.left_join(per, f.account_id == per.account_id).drop("account_id_right")

    def score(self, scorer: AccountScorer) -> pd.DataFrame:
        """Every account scored as of the run, sorted by account id (see
        :func:`growthmap.scores.batch.score_accounts`: on Spark, on the executors)."""
        return score_accounts(self.scoring_table(rev_last=scorer.risk is not None), scorer)

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
               categorical_features=categorical, random_state=config.run.seed, n_jobs=s.n_jobs,
               early_stopping_rounds=s.early_stopping_rounds)


def _categorical(columns: list[str], extra: tuple[str, ...] = (),
                 vocab: Vocabulary | None = None) -> list[str]:
    cats = (vocab.categorical() if vocab is not None else ()) or CATEGORICAL
    return [c for c in cats if c in columns] + list(extra)


def _stack(data: Callable[[dt.date], Data], cutoffs: list[dt.date]) -> Data:
    parts = [data(c) for c in cutoffs]
    return (pd.concat([p[0] for p in parts], ignore_index=True),
            np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]))


class ModelSkipped(Exception):
    """A model cannot be trained on this data; the run notes why and goes on."""


def _fit_and_backtest(est: Any, data: Callable[[dt.date], Data], plan: CutoffPlan,
                      label: str, comparison: Comparison | None = None,
                      seed: int = 0) -> tuple[Any, dict[str, Any]]:
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
    backtest = rolling_backtest(est, data, plan,
                                on_fold=comparison.add if comparison is not None else None)
    if not plan.folds:
        backtest["skipped"] = (
            f"too little history: a test cut-off needs training cut-offs a horizon earlier, "
            f"each with enough history before it, and the earliest usable cut-off is "
            f"{plan.final[0].isoformat()}; {label} is compared with its baselines out of "
            "fold on its training cut-offs instead")
    model = est.fit(x, y, groups=g)
    evaluation: dict[str, Any] = {
        "backtest": backtest,
        "final_training": {"cutoffs": [c.isoformat() for c in plan.final], "rows": len(y),
                           "positives": int(y.sum()), "base_rate": round(float(y.mean()), 4)},
    }
    if comparison is not None:
        if not comparison.parts:
            comparison.add_out_of_fold(data, plan.final, model)
        published = comparison.choose()
        evaluation["comparison"] = comparison.result(published, seed)
        evaluation["published"] = published.to_json()
    return model, evaluation


def _sample_note(cf: CutoffFeatures, accounts: int) -> dict[str, Any]:
    return {"sampled_accounts": accounts if accounts < cf.n_accounts else None,
            "accounts": cf.n_accounts}


def fit_propensity(cf: CutoffFeatures, config: Config) -> tuple[PropensityClassifier,
                                                                 dict[str, Any]]:
    """Backtest and fit PtB on past cut-offs (the driver's sample); not yet scored."""
    s = config.scores

    def data(c: dt.date) -> Data:
        x, ids = cf.matrix(c)
        return x, ptb_labels(cf.window(c), ids, s.growth_threshold), ids.to_numpy()

    def sub(c: dt.date, ids: np.ndarray, x: pd.DataFrame, own: np.ndarray) -> Any:
        return ptb_sublabels(cf.window(c), ids, x, own)

    est = _estimator(PropensityClassifier, config, _categorical(cf.columns, vocab=cf.vocab))
    comp = Comparison(f"accounts that buy a family they did not buy in the last "
                      f"{s.horizon_months} months, or grow revenue by more than "
                      f"{s.growth_threshold:.0%}", tuple(s.baseline_columns), sub,
                      segments=PTB_SEGMENTS if s.guard_buys_again else
                      {**PTB_SEGMENTS, "customers": ("expansion",)})
    return _fit_and_backtest(est, data, cf.plan(), "propensity", comp, config.run.seed)


def fit_family(cf: CutoffFeatures, config: Config) -> tuple[PropensityClassifier,
                                                             dict[str, Any]]:
    """One pooled model over (account, family) rows, family as a feature."""
    s = config.scores
    slugs = cf.vocab.family_slugs()
    n_acc = cf.accounts_for(s.train_cutoffs * len(slugs))

    def data(c: dt.date) -> Data:
        x, acc = cf.matrix(c)
        keep = cf.sampled(acc, n_acc)
        xl, keys = family_frame(x[keep].reset_index(drop=True),
                                acc[keep].reset_index(drop=True), slugs)
        return xl, family_labels(cf.window(c), keys, s.growth_threshold), keys.account_id.to_numpy()

    est = _estimator(PropensityClassifier, config, _categorical(cf.columns, ("family",), cf.vocab))
    # one backtest fold is enough to report the per-family quality; it is the slow part
    plan = cf.plan()
    short = CutoffPlan(folds=dict(list(plan.folds.items())[-1:]), final=plan.final)
    fams = np.array(list(slugs), dtype=object)

    def sub(c: dt.date, ids: np.ndarray, x: pd.DataFrame, own: np.ndarray) -> Any:
        return family_sublabels(cf.window(c), ids, fams[x["family"].to_numpy(dtype=int)],
                                s.growth_threshold)

    comp = Comparison("account x family cells bought more than (1 + growth_threshold) "
                      "times the last H months", tuple(s.baseline_columns), sub)
    model, ev = _fit_and_backtest(est, data, short, "per-family propensity", comp,
                                  config.run.seed)
    # published like PtB and risk: the model, or the baseline / blend that ranked the
    # cells better in the backtest (applied to every account x family in score_all)
    return model, {**ev, "families": list(slugs), "training": _sample_note(cf, n_acc)}


def fit_risk(cf: CutoffFeatures, config: Config) -> tuple[RiskClassifier, dict[str, Any]]:
    """Backtest and fit the decline/churn risk on the customers of past cut-offs."""
    s = config.scores

    def data(c: dt.date) -> Data:
        x, ids = cf.matrix(c)
        w = cf.window(c)
        pop = risk_population(w, ids)
        return (x[pop].reset_index(drop=True), risk_labels(w, ids, s.decline_threshold)[pop],
                ids.to_numpy()[pop])

    def sub(c: dt.date, ids: np.ndarray, x: pd.DataFrame, own: np.ndarray) -> Any:
        return risk_sublabels(cf.window(c), ids)

    est = _estimator(RiskClassifier, config, _categorical(cf.columns, vocab=cf.vocab))
    comp = Comparison(f"customers whose revenue falls by at least {s.decline_threshold:.0%} "
                      "(churn included)", tuple(s.baseline_columns), sub, direction=-1)
    return _fit_and_backtest(est, data, cf.plan(), "risk", comp, config.run.seed)


Fits = dict[str, tuple[PropensityClassifier, dict[str, Any]]]


def score_all(cf: CutoffFeatures, config: Config, fits: Fits) -> dict[str, pd.DataFrame]:
    """Score every account with the fitted models (``propensity``, ``family``, ``risk``)
    in one pass where the features live; the output tables by name.  Each model's
    evaluation is completed in place (scored accounts, mean score, ...)."""
    s = config.scores
    models = {k: m for k, (m, _) in fits.items()}
    keep = [c for c in (*RFM_COLUMNS, EVER, *s.baseline_columns) if c in cf.columns]
    scorer = AccountScorer.pack(cf.vocab, cf.columns, drivers=s.drivers, keep=keep, **models)
    scores = cf.score(scorer)
    xb = pd.DataFrame({c: scores[f"x_{c}"].to_numpy() for c in keep})
    out: dict[str, pd.DataFrame] = {}
    if "propensity" in fits:
        ev = fits["propensity"][1]
        scores["ptb"] = publish(ev, scores["ptb"].to_numpy(), xb, "Propensity to buy")
        for seg, c in ev["published"]["segments"].items():
            if c["score"] == "baseline":  # the drivers of a baseline: the baseline
                rows = (scores[f"x_{EVER}"] > 0) == (seg == "customers") \
                    if seg != "all" else slice(None)
                scores.loc[rows, "ptb_drivers"] = baseline_drivers(c["baseline"])
        out["propensity"] = propensity_table(scores)
        p = out["propensity"]["ptb"].to_numpy()
        ev.update(_label_text(config), mean_ptb=round(float(p.mean()), 4), scored=len(p),
                  features=list(cf.columns), training=_sample_note(cf, cf.sample_size))
        if "family" in fits:
            ev["per_family"] = fits["family"][1]
            fam = family_table(scores, [f for f, _ in scorer.families])
            # cells are family-major (family_table): the account's baselines repeat per
            # family -- built only when a baseline is published (6M rows at a million)
            reps = len(scorer.families)
            xf = xb.iloc[:0] if Published.from_json(ev["per_family"]).score == "model" else \
                pd.DataFrame({c: np.tile(xb[c].to_numpy(), reps) for c in xb.columns})
            fam["ptb"] = publish(ev["per_family"], fam["ptb"].to_numpy(), xf,
                                 "Per-family propensity to buy")
            out["propensity_family"] = fam
    if "risk" in fits:
        pop = scores["risk_population"].to_numpy(bool)
        ev = fits["risk"][1]
        r = scores["risk"].to_numpy(dtype=float).copy()
        r[pop] = publish(ev, r[pop], xb[pop].reset_index(drop=True), "Risk")
        scores["risk"] = r
        if ev["published"]["score"] == "baseline":
            scores.loc[pop, "risk_drivers"] = baseline_drivers(
                ev["published"]["segments"]["all"]["baseline"])
        out["risk"] = risk_table(scores, s.horizon_months)
        risk = out["risk"]["risk"].to_numpy()
        fits["risk"][1].update(
            horizon_months=s.horizon_months, scored=int(pop.sum()),
            training=_sample_note(cf, cf.sample_size),
            mean_risk=round(float(np.nanmean(risk)), 4) if pop.any() else None,
            label=f"a customer's revenue in the next {s.horizon_months} months falls by at "
            f"least {s.decline_threshold:.0%} (churn included)")
    return out


def score_propensity(cf: CutoffFeatures, config: Config) -> tuple[pd.DataFrame,
                                                                   pd.DataFrame | None,
                                                                   dict[str, Any]]:
    """Backtest, fit and score PtB (and the per-family PtB when configured)."""
    fits = {"propensity": fit_propensity(cf, config)}
    if config.scores.per_family and cf.vocab.families:
        fits["family"] = fit_family(cf, config)
    out = score_all(cf, config, fits)
    return out["propensity"], out.get("propensity_family"), fits["propensity"][1]


def _label_text(config: Config) -> dict[str, Any]:
    s = config.scores
    return {"horizon_months": s.horizon_months, "label": (
        f"buys a product family it did not buy in the last {s.horizon_months} months, or "
        f"grows its revenue by more than {s.growth_threshold:.0%}, within the next "
        f"{s.horizon_months} months")}


def score_risk(cf: CutoffFeatures, config: Config) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Backtest, fit and score the decline/churn risk of customers."""
    fits = {"risk": fit_risk(cf, config)}
    return score_all(cf, config, fits)["risk"], fits["risk"][1]


def _account_columns(ctx: RunContext, columns: list[str]) -> pd.DataFrame:
    """Some columns of ``account_value`` by account_id (not the whole million-row table)."""
    t = ctx.arrow("account_value")
    return t.select(["account_id", *[c for c in columns if c in t.column_names]]) \
        .to_pandas().set_index("account_id")


def best_customers(ctx: RunContext, account_ids: pd.Series) -> np.ndarray:
    """The ICP's labelled positives, by the configured definition."""
    s = ctx.config.scores
    av = _account_columns(ctx, ["is_customer", "value_tier", "growth"])
    cust = av["is_customer"].astype(bool)
    if s.icp_best == "top_tier":
        best = cust & av["value_tier"].isin(s.icp_best_tiers)
    else:
        if not ctx.has("potential_account"):
            raise ConfigError(
                "scores.icp_best = 'wallet_growth' needs share of wallet from the potential "
                "stage, which this run did not produce",
                hint="set scores.icp_best = 'top_tier', or run with the potential stage")
        sow = ctx.arrow("potential_account").select(["account_id", "share_of_wallet"]) \
            .to_pandas().set_index("account_id")["share_of_wallet"]
        best = (cust & (sow.reindex(av.index) >= s.icp_min_share_of_wallet)
                & (av["growth"] >= s.icp_min_growth))
    return account_ids.map(best.fillna(False)).fillna(False).to_numpy(dtype=bool)


def score_icp(cf: CutoffFeatures, config: Config, is_best: np.ndarray, is_customer: np.ndarray
              ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """ICP fit 0-100 for every account (out-of-fold) and its most similar best customers."""
    s = config.scores
    cols = s.icp_features or [c for c in (*CATEGORICAL, *FIRMOGRAPHICS) if c in cf.columns]
    accounts = cf.inputs.accounts
    missing = [c for c in cols if c not in accounts.columns]
    if missing:
        raise ConfigError(f"scores.icp_features names {missing}, which the accounts table "
                          "does not have",
                          hint=f"use columns of accounts: {', '.join(accounts.columns)}")
    raw = accounts.select("account_id", *cols).to_pandas()
    raw = cf.account_ids.to_frame().merge(raw, on="account_id", how="left")
    categorical = [c for c in cols if not pd.api.types.is_numeric_dtype(raw[c])]
    numeric = [c for c in cols if c not in categorical]
    x = pd.DataFrame({c: pd.to_numeric(raw[c], errors="coerce") for c in numeric})
    for c in categorical:
        x[c] = raw[c].astype("string").astype("category").cat.codes.replace(-1, np.nan)
    ids = cf.account_ids
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


@register_stage("models",
                needs=("account_value", "accounts", "transactions"),
                optional=("potential_account", "products", "signals", "opportunities",
                          "contacts"),
                provides=("buying_centre", "propensity", "propensity_family", "risk", "icp"))
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
    fits: Fits = {}
    try:
        fits["propensity"] = fit_propensity(cf, ctx.config)
        if cfg.per_family and cf.vocab.families:
            fits["family"] = fit_family(cf, ctx.config)
        ctx.evaluations["propensity"] = fits["propensity"][1]
    except ModelSkipped as exc:
        fits.clear()  # without its per-family model, PtB is skipped as a whole (as ever)
        ctx.note(f"no propensity to buy: {exc}")
        ctx.evaluations["propensity"] = {"skipped": str(exc)}
    ctx.step("models: risk")
    try:
        fits["risk"] = fit_risk(cf, ctx.config)
        ctx.evaluations["risk"] = fits["risk"][1]
    except ModelSkipped as exc:
        ctx.note(f"no risk scores: {exc}")
        ctx.evaluations["risk"] = {"skipped": str(exc)}
    if fits:
        ctx.step("models: scoring every account")
        for name, table in score_all(cf, ctx.config, fits).items():
            ctx.put(name, table)
        for name, what in (("propensity", "Propensity to buy"), ("risk", "Risk"),
                           ("per_family", "Per-family propensity to buy")):
            ev = (ctx.evaluations.get(name) if name != "per_family" else
                  (ctx.evaluations.get("propensity") or {}).get("per_family")) or {}
            if (ev.get("backtest") or {}).get("skipped"):
                ctx.note(f"{what}: no backtest out of time, {ev['backtest']['skipped']}")
            if (ev.get("published") or {}).get("score", "model") != "model":
                ctx.note(ev["published"]["sentence"])
            if ev.get("not_informative"):
                ctx.note(not_informative_sentence(what, ev["not_informative"]))
    ctx.step("models: ICP fit")
    ids = cf.account_ids
    is_best = best_customers(ctx, ids)
    cust = ids.map(_account_columns(ctx, ["is_customer"])["is_customer"]
                   ).fillna(False).to_numpy(dtype=bool)
    icp, ev = score_icp(cf, ctx.config, is_best, cust)
    if "skipped" in ev:
        ctx.note(f"ICP fit not learned: {ev['skipped']} (see scores.icp_best)")
    ctx.put("icp", icp)
    ctx.evaluations["icp"] = ev
