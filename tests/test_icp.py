"""ICP fit: positive-unlabelled learning recovers known positives; neighbours; the stage."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from growthmap import errors
from growthmap.config import Config
from growthmap.models.icp import LookalikeClassifier, similar_best
from growthmap.runner.duckdb_run import run
from growthmap.runner.pipeline import RunContext
from growthmap.scores.features import FeatureInputs
from growthmap.scores.stage import CutoffFeatures, best_customers, evaluate, score_icp
from growthmap.workspace import Workspace
from tests.test_features import AS_OF, make_workspace, make_world


@parametrize_with_checks([LookalikeClassifier(n_estimators=20)])
def test_sklearn_common_checks(estimator, check):
    check(estimator)


def test_unfitted_use_raises_growthmap_not_fitted_error():
    with pytest.raises(errors.NotFittedError):
        LookalikeClassifier().predict_proba(np.zeros((2, 3)))


def test_elkan_noto_recovers_hidden_positives():
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.normal(size=(n, 3))
    y = rng.random(n) < 1 / (1 + np.exp(-(3 * x[:, 0] - 1.5)))
    labelled = y & (rng.random(n) < 0.3)  # we only know 30% of the positives
    est = LookalikeClassifier(n_estimators=80, min_child_samples=20).fit(x, labelled.astype(int))
    # the hidden positives rank high although they were labelled like everyone else
    assert roc_auc_score(y, est.oof_proba_) > 0.85
    assert roc_auc_score(y[~labelled], est.oof_proba_[~labelled]) > 0.8
    # overlapping classes: mean g over positives understates c, so fits run high (documented)
    assert 0.1 < est.c_ < 0.3
    p = est.predict_proba(x[:10])
    assert p.shape == (10, 2) and np.allclose(p.sum(axis=1), 1)


def test_elkan_noto_recovers_the_label_frequency_when_classes_separate():
    rng = np.random.default_rng(1)
    n = 4000
    x = rng.normal(size=(n, 3))
    y = x[:, 0] > 0.5
    labelled = y & (rng.random(n) < 0.3)
    est = LookalikeClassifier(n_estimators=80, min_child_samples=20).fit(x, labelled.astype(int))
    assert est.c_ == pytest.approx(0.3, abs=0.05)
    assert est.oof_proba_.sum() == pytest.approx(y.sum(), rel=0.2)
    assert est.oof_proba_[y].mean() > 0.7 and est.oof_proba_[~y].mean() < 0.1


def test_similar_best_are_the_nearest_best_customers_never_oneself():
    rng = np.random.default_rng(1)
    n = 60
    frame = pd.DataFrame({"account_id": [f"A{i}" for i in range(n)],
                          "employees": rng.integers(1, 5000, n),
                          "industry": rng.choice(["a", "b", "c"], n)})
    best = rng.random(n) < 0.3
    got = [json.loads(s) for s in similar_best(frame, best, numeric=["employees"],
                                               categorical=["industry"], k=3)]
    v = np.log1p(frame.employees.to_numpy(float))
    v = (v - v.mean()) / v.std(ddof=1)
    for i in range(n):
        d = [((v[i] - v[j]) ** 2 + (frame.industry[i] != frame.industry[j]), j)
             for j in np.flatnonzero(best) if j != i]
        expected = [frame.account_id[j] for _, j in sorted(d)[:3]]
        assert got[i] == expected
        assert frame.account_id[i] not in got[i]


def test_similar_best_when_no_row_left_shares_a_block_with_a_best_customer():
    # the best customers find each other at once (same categories, same size); the rest
    # share no category with them, so a coarser block has no row left to match: this
    # crashed with "zip() argument 2 is longer than argument 1"
    frame = pd.DataFrame({"account_id": [f"a{i}" for i in range(9)],
                          "industry": ["Retail"] * 5 + ["Energy"] * 4,
                          "country": ["DE"] * 5 + ["FR"] * 4,
                          "employees": [100, 100, 100, 100, 100, 10, 1000, 5000, 20]})
    best = np.array([True] * 5 + [False] * 4)
    got = [json.loads(s) for s in similar_best(frame, best, numeric=["employees"],
                                               categorical=["industry", "country"], k=3)]
    for i, near in enumerate(got):
        assert len(near) == 3 and f"a{i}" not in near
        assert set(near) <= {f"a{j}" for j in range(5)}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    world = make_world(seed=3, n=400, years=5)
    path = tmp_path_factory.mktemp("icp") / "ws.duckdb"
    cfg = Config.from_dict({"scores": {"n_estimators": 40, "learning_rate": 0.1,
                                       "per_family": False, "icp_best_tiers": ["A", "B"]}})
    with make_workspace(path, world, truth=True) as ws:
        result = run(ws, cfg, as_of=AS_OF, only=["value", "models"])
    return path, world, result


def test_stage_scores_everyone_and_explains_with_best_customers(ran):
    _, world, result = ran
    icp = result.outputs["icp"].to_pandas()
    av = result.outputs["account_value"].to_pandas().set_index("account_id")
    assert len(icp) == len(world["accounts"])
    assert icp.icp_fit.between(0, 100).all() and icp.icp_percentile.between(0, 100).all()
    expected = av.is_customer & av.value_tier.isin(["A", "B"])
    assert (icp.set_index("account_id").is_best == expected.reindex(icp.account_id)).all()
    best_ids = set(icp.account_id[icp.is_best])
    for aid, s in zip(icp.account_id, icp.similar_best, strict=True):
        near = json.loads(s)
        assert len(near) == 3 and set(near) <= best_ids and aid not in near
    ev = result.evaluations["icp"]
    assert json.loads(json.dumps(ev)) == ev
    assert ev["best_customers"] == int(expected.sum()) and ev["pu_roc_auc"] > 0.7
    assert ev["mean_fit_best"] > ev["mean_fit_prospects"]


def test_icp_fit_ranks_prospects_by_their_true_wallet(ran):
    path, world, result = ran
    icp = result.outputs["icp"].to_pandas()
    av = result.outputs["account_value"].to_pandas()
    pros = icp[icp.account_id.isin(av.account_id[~av.is_customer])]
    truth = world["truth_accounts"].set_index("account_id")
    rho = spearmanr(pros.icp_fit, pros.account_id.map(truth.wallet_total))[0]
    assert rho > 0.3
    with Workspace.open(path, read_only=True) as ws:
        res = evaluate(ws, "icp")
    assert res.truth["spearman_wallet_total"] == pytest.approx(rho, abs=1e-4)
    assert res.truth["prospects"] == len(pros)
    assert res.truth["precision_top_decile_wallet_total"] > 0.1  # better than chance


def test_config_errors_name_the_key(ran, tmp_path):
    _, world, result = ran
    cfg = Config.from_dict({"scores": {"icp_features": ["industry", "headcount"]}})
    with make_workspace(tmp_path / "ws.duckdb", world) as ws:
        cf = CutoffFeatures(FeatureInputs.from_source(ws), AS_OF, cfg)
        ids = cf.frame(AS_OF)["account_id"]
        n = len(ids)
        with pytest.raises(errors.ConfigError, match=r"scores.icp_features.*headcount"):
            score_icp(cf, cfg, np.arange(n) < 20, np.ones(n, bool))
        wallet = Config.from_dict({"scores": {"icp_best": "wallet_growth"}})
        ctx = RunContext(config=wallet, as_of=AS_OF, source=ws,
                         outputs={"account_value": result.outputs["account_value"]})
        with pytest.raises(errors.ConfigError, match="wallet_growth"):
            best_customers(ctx, ids)
        pot = pa.table({"account_id": ids.to_numpy(), "share_of_wallet": np.linspace(0, 1, n)})
        ctx.outputs["potential_account"] = pot
        best = best_customers(ctx, ids)
        av = result.outputs["account_value"].to_pandas().set_index("account_id")
        growth_ok = (av.growth >= 0).reindex(ids).fillna(False).to_numpy()
        cust = av.is_customer.reindex(ids).to_numpy()
        assert (best == (cust & growth_ok & (np.linspace(0, 1, n) >= 0.5))).all()
