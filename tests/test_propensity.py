"""Propensity to buy: metrics vs scikit-learn, cut-off discipline, labels, the model itself."""

from __future__ import annotations

import datetime as dt
import json
import re

import numpy as np
import pandas as pd
import pytest
from dateutil.relativedelta import relativedelta
from scipy.stats import spearmanr
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from growthmap import errors
from growthmap.config import Config
from growthmap.models._backtest import (
    binary_metrics,
    brier,
    calibration_table,
    ece,
    plan_cutoffs,
    pr_auc,
    roc_auc,
    top_decile_lift,
)
from growthmap.models.propensity import PropensityClassifier, fold_of, ptb_labels
from growthmap.runner.duckdb_run import run
from growthmap.workspace import Workspace
from tests.test_features import AS_OF, make_workspace, make_world

FAST = {"n_estimators": 60, "learning_rate": 0.1, "min_child_samples": 20}


@parametrize_with_checks([PropensityClassifier(n_estimators=20)])
def test_sklearn_common_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n = 257
    y = (rng.random(n) < 0.3).astype(int)
    p = np.round(np.clip(0.3 + 0.25 * (y - 0.3) + rng.normal(0, 0.2, n), 0, 1), 2)  # ties
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p))
    assert pr_auc(y, p) == pytest.approx(average_precision_score(y, p))
    assert brier(y, p) == pytest.approx(brier_score_loss(y, p))
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    table = calibration_table(y, p, 10)
    assert np.allclose([r["observed_rate"] for r in table], observed)
    assert np.allclose([r["mean_predicted"] for r in table], predicted)
    counts = np.array([r["n"] for r in table])
    assert ece(y, p) == pytest.approx(np.sum(counts / n * np.abs(observed - predicted)))
    order = sorted(range(n), key=lambda i: -p[i])  # stable: ties keep row order
    top = order[: int(np.ceil(n / 10))]
    assert top_decile_lift(y, p) == pytest.approx(y[top].mean() / y.mean())
    m = binary_metrics(y, p)
    assert json.loads(json.dumps(m)) == m
    assert roc_auc(np.ones(5), np.arange(5)) is None


def test_cutoffs_never_train_on_outcomes_after_the_test_date():
    plan = plan_cutoffs(AS_OF, horizon=12, step=3, n_test=4, n_train=3,
                        data_start=dt.date(2021, 1, 1), min_history=6)
    assert plan.folds
    earliest = dt.date(2021, 1, 1) + relativedelta(months=12) - dt.timedelta(days=1)
    for test, train in plan.folds.items():
        assert test + relativedelta(months=12) <= AS_OF
        assert all(c + relativedelta(months=12) <= test for c in train)
        assert all(c >= earliest for c in train) and len(train) <= 3
    assert max(plan.final) == AS_OF - relativedelta(months=12)
    assert all(c + relativedelta(months=12) <= AS_OF for c in plan.final)
    short = plan_cutoffs(AS_OF, horizon=12, step=12, n_test=3, n_train=4,
                         data_start=dt.date(2023, 1, 1), min_history=0)
    assert short.final == [dt.date(2023, 12, 31), dt.date(2024, 12, 31)]
    assert short.folds == {dt.date(2024, 12, 31): [dt.date(2023, 12, 31)]}


def test_labels_match_a_brute_force_definition():
    wr = pd.DataFrame({
        "account_id": ["a", "a", "b", "c", "c", "d", "e"],
        "family": ["x", "y", "x", "x", "y", "x", "x"],
        "last": [100.0, 0.0, 100.0, 100.0, 50.0, 0.0, 100.0],
        "next": [100.0, 5.0, 111.0, 90.0, 50.0, 0.0, -20.0]})
    ids = pd.Series(["a", "b", "c", "d", "e", "f"])
    # a: new family y; b: +11% > 10%; c: -7%; d: nothing; e: credit only; f: no rows
    assert list(ptb_labels(wr, ids, 0.10)) == [1, 1, 0, 0, 0, 0]
    assert list(ptb_labels(wr, ids, 0.12)) == [1, 0, 0, 0, 0, 0]


def test_calibration_brings_probabilities_to_observed_rates():
    rng = np.random.default_rng(3)
    n = 6000
    x = rng.normal(size=(n, 4))
    p_true = 1 / (1 + np.exp(-(2.5 * x[:, 0] - 1.5)))
    y = (rng.random(n) < p_true).astype(int)
    tr, te = slice(0, 4000), slice(4000, None)
    cal = PropensityClassifier(**FAST, calibration="isotonic").fit(x[tr], y[tr])
    p = cal.predict_proba(x[te])[:, 1]
    assert ece(y[te], p) < 0.04
    assert roc_auc(y[te], p) > 0.85
    # the calibrator learnt only on out-of-fold scores: every training row once
    assert cal.n_calibration_rows_ == 4000
    sig = PropensityClassifier(**FAST, calibration="sigmoid").fit(x[tr], y[tr])
    assert ece(y[te], sig.predict_proba(x[te])[:, 1]) < 0.04
    p, idx, eff = cal.explain(x[te][:200], top=2)
    np.testing.assert_allclose(p, cal.predict_proba(x[te][:200])[:, 1], rtol=0, atol=1e-12)
    assert idx.shape == eff.shape == (200, 2)
    # the one feature that matters is the first driver of nearly every row
    assert (idx[:, 0] == 0).mean() > 0.9
    assert np.all(np.abs(eff[:, 0]) >= np.abs(eff[:, 1]))


def test_unfitted_use_raises_growthmap_not_fitted_error():
    with pytest.raises(errors.NotFittedError):
        PropensityClassifier().predict_proba(np.zeros((2, 3)))


def test_groups_keep_an_account_in_one_fold():
    rng = np.random.default_rng(0)
    x, groups = rng.normal(size=(400, 3)), np.repeat(np.arange(100), 4)
    y = (x[:, 0] + rng.normal(0, 1, 400) > 0).astype(int)
    est = PropensityClassifier(n_estimators=10, cv=4).fit(x, y, groups=groups)
    assert est.n_calibration_rows_ == 400
    fold = fold_of(pd.Series(groups).astype(str), 4, 0)
    # every group sits in one fold, and the folds are not empty
    assert pd.Series(fold).groupby(groups).nunique().max() == 1
    assert len(np.unique(fold)) == 4


def test_early_stopping_grows_the_folds_mean_best_round():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 4))
    y = (x[:, 0] + rng.normal(0, 2, 3000) > 0).astype(int)  # one weak signal: few trees do
    stopped = PropensityClassifier(n_estimators=400, early_stopping_rounds=10).fit(x, y)
    full = PropensityClassifier(n_estimators=400).fit(x, y)
    assert full.n_trees_ == full.booster_.num_trees() == 400
    assert 1 <= stopped.n_trees_ == stopped.booster_.num_trees() < 200
    # stopping where the held-out loss stopped improving costs no ranking
    xt = rng.normal(size=(3000, 4))
    yt = (xt[:, 0] + rng.normal(0, 2, 3000) > 0).astype(int)
    assert (roc_auc_score(yt, stopped.predict_proba(xt)[:, 1])
            >= roc_auc_score(yt, full.predict_proba(xt)[:, 1]) - 0.01)


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """One run of the value and models stages on a synthetic world with known truth."""
    world = make_world(seed=11, n=500, years=5)
    path = tmp_path_factory.mktemp("ptb") / "ws.duckdb"
    cfg = Config.from_dict({"scores": FAST, "run": {"as_of": AS_OF.isoformat()}})
    with make_workspace(path, world, truth=True) as ws:
        result = run(ws, cfg, only=["value", "models"])
    return path, world, result


def test_stage_scores_every_account_with_drivers(ran):
    _, world, result = ran
    ptb = result.outputs["propensity"].to_pandas()
    assert len(ptb) == len(world["accounts"]) and ptb.account_id.is_unique
    assert ptb.ptb.between(0, 1).all()
    assert set(ptb.ptb_decile) == set(range(1, 11))
    assert ptb.groupby("ptb_decile").ptb.min().is_monotonic_decreasing
    d = json.loads(ptb.drivers.iloc[0])
    assert 1 <= len(d) <= 3 and {"feature", "label", "effect"} <= set(d[0])
    fam = result.outputs["propensity_family"].to_pandas()
    assert len(fam) == 3 * len(ptb) and fam.ptb.between(0, 1).all()
    ev = result.evaluations["propensity"]
    assert json.loads(json.dumps(ev)) == ev
    fold = ev["backtest"]["folds"][-1]
    assert fold["cutoff"] == "2024-12-31" and fold["train_cutoffs"][-1] <= "2023-12-31"
    assert ev["final_training"]["cutoffs"][-1] == "2024-12-31"
    assert ev["per_family"]["backtest"]["pooled"]["roc_auc"] > 0.6
    # published by the same rule as PtB and risk, and said so
    assert ev["per_family"]["published"]["sentence"].startswith("Per-family propensity")


def test_backtest_and_true_next_year_show_a_useful_model(ran):
    from growthmap.scores.stage import evaluate

    path, world, result = ran
    pooled = result.evaluations["propensity"]["backtest"]["pooled"]
    assert pooled["roc_auc"] > 0.7 and pooled["top_decile_lift"] > 1.3
    ptb = result.outputs["propensity"].to_pandas()
    z = world["truth_accounts"].set_index("account_id").latent_propensity
    assert spearmanr(ptb.ptb, ptb.account_id.map(z))[0] > 0.3
    # the forward check, computed here independently of the library's truth_check
    tx = world["transactions"].merge(world["products"], on="product_id")
    last = tx[tx.date > AS_OF - relativedelta(months=12)].groupby(["account_id", "family"],
                                                                  as_index=False).amount.sum()
    w = last.rename(columns={"amount": "last"}).merge(
        world["truth_next_year"].rename(columns={"amount": "next"}),
        on=["account_id", "family"], how="outer").fillna(0.0)
    per = w.groupby("account_id")[["last", "next"]].sum()
    new = w[(w["next"] > 0) & (w["last"] <= 0)].account_id.unique()
    label = ((per["next"] > 1.1 * per["last"]) & (per["last"] > 0)) | per.index.isin(new)
    y = ptb.account_id.map(label).fillna(False).astype(int)
    auc = roc_auc_score(y, ptb.ptb)
    with Workspace.open(path, read_only=True) as ws:
        res = evaluate(ws, "propensity")
    assert res.truth["forward"]["roc_auc"] == pytest.approx(auc, abs=1e-4)
    assert auc > 0.7
    assert any("ROC AUC" in s for s in res.sentences)


def test_cli_prints_the_evaluation(ran):
    from typer.testing import CliRunner

    from growthmap.cli import app

    path, _, result = ran
    out = CliRunner().invoke(app, ["--workspace", str(path), "evaluate", "propensity"])
    assert out.exit_code == 0, out.output
    auc = result.evaluations["propensity"]["backtest"]["pooled"]["roc_auc"]
    assert f"{auc:.4f}" in out.output
    assert "mean_predicted" in out.output and "truth: next" in out.output
    assert re.search(r"Against\s+the\s+truth", out.output)
    # model vs baselines per decision label, with intervals
    assert re.search(r"model\s+vs\s+baselines", out.output)
    assert re.search(r"first_purc", out.output) and re.search(r"\brfm\b", out.output)
    assert re.search(r"0\.\d{3} \[0\.\d{2}, 0\.\d{2}\]", out.output)
    bad = CliRunner().invoke(app, ["--workspace", str(path), "evaluate", "risk",
                                   "--snapshot", "9"])
    assert bad.exit_code == errors.NotFoundError.exit_code


def test_too_short_a_history_skips_the_models_with_a_note(tmp_path):
    from growthmap.scores.stage import evaluate

    world = make_world(seed=2, n=150, years=2)
    as_of = dt.date(2023, 6, 30)  # 18 months of history: no cut-off with a known outcome
    with make_workspace(tmp_path / "ws.duckdb", world) as ws:
        result = run(ws, Config.from_dict({"scores": FAST}), as_of=as_of,
                     only=["value", "models"])
        res = evaluate(ws, "propensity")
    assert "propensity" not in result.outputs and "risk" not in result.outputs
    assert "skipped" in result.evaluations["propensity"]
    assert any(n.startswith("no propensity to buy") for n in result.notes)
    assert any(n.startswith("no risk scores") for n in result.notes)
    assert "icp" in result.outputs and "buying_centre" in result.outputs
    assert res.truth is None and "not trained" in res.sentences[0]


def test_per_family_publishes_the_baseline_where_the_backtest_chose_it(ran, monkeypatch,
                                                                      tmp_path):
    """Where the per-family comparison chooses the RFM rank, every account x family cell
    gets it (ranked like the account's RFM), and the run notes say so."""
    from growthmap.scores import compare
    from growthmap.scores.publish import Choice

    choose = compare.Comparison._choose

    def rfm_for_families(self, seg, names, labels, scores, bases):
        if "cross_sell" in labels:
            return Choice("baseline", "rfm", 0.0, (4.0, -3.0), "forced by the test")
        return choose(self, seg, names, labels, scores, bases)

    monkeypatch.setattr(compare.Comparison, "_choose", rfm_for_families)
    _, world, _ = ran
    cfg = Config.from_dict({"scores": FAST, "run": {"as_of": AS_OF.isoformat()}})
    with make_workspace(tmp_path / "ws.duckdb", world, truth=True) as ws:
        result = run(ws, cfg, only=["value", "models"])
    pf = result.evaluations["propensity"]["per_family"]["published"]
    assert pf["score"] == "baseline" and pf["segments"]["all"]["baseline"] == "rfm"
    assert any(n.startswith("Per-family propensity to buy: the run publishes")
               for n in result.notes)
    fam = result.outputs["propensity_family"].to_pandas()
    # the same account has the same published score in every family (RFM is per account),
    # a logistic of its rank: 1 / (1 + exp(-(4 r - 3)))
    assert (fam.groupby("account_id").ptb.nunique() == 1).all()
    r = fam.ptb.to_numpy()
    assert r.min() >= 1 / (1 + np.exp(3)) - 1e-9 and r.max() <= 1 / (1 + np.exp(-1)) + 1e-9
