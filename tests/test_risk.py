"""Risk of decline or churn: labels, the customers-only rule, backtest and the true next year."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from dateutil.relativedelta import relativedelta
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from growthmap import errors
from growthmap.config import Config
from growthmap.models.risk import (
    REASON_NO_REVENUE,
    REASON_PROSPECT,
    RiskClassifier,
    risk_labels,
    risk_population,
)
from growthmap.scores.features import FeatureInputs
from growthmap.scores.stage import CutoffFeatures, score_risk
from tests.test_features import AS_OF, make_workspace, make_world


@parametrize_with_checks([RiskClassifier(n_estimators=20)])
def test_sklearn_common_checks(estimator, check):
    check(estimator)


def test_unfitted_use_raises_growthmap_not_fitted_error():
    with pytest.raises(errors.NotFittedError):
        RiskClassifier().predict(np.zeros((2, 3)))


def test_labels_and_population_match_a_brute_force_definition():
    wr = pd.DataFrame({
        "account_id": ["a", "a", "b", "c", "d", "e"],
        "family": ["x", "y", "x", "x", "x", "x"],
        "last": [60.0, 40.0, 100.0, 100.0, 0.0, -5.0],
        "next": [50.0, 30.0, 81.0, 0.0, 50.0, 0.0]})
    ids = pd.Series(["a", "b", "c", "d", "e", "f"])
    # a: 100 -> 80 (-20%, declines); b: -19%; c: churn; d, e, f: no positive revenue before
    assert list(risk_population(wr, ids)) == [True, True, True, False, False, False]
    assert list(risk_labels(wr, ids, 0.2)) == [1, 0, 1, 0, 0, 0]
    assert list(risk_labels(wr, ids, 1.0)) == [0, 0, 1, 0, 0, 0]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    world = make_world(seed=5, n=500, years=5)
    path = tmp_path_factory.mktemp("risk") / "ws.duckdb"
    cfg = Config.from_dict({"scores": {"n_estimators": 60, "learning_rate": 0.1}})
    with make_workspace(path, world) as ws:
        cf = CutoffFeatures(FeatureInputs.from_source(ws), AS_OF, cfg)
        out, ev = score_risk(cf, cfg)
    return world, out, ev


def _last_next(world: dict) -> pd.DataFrame:
    tx = world["transactions"]
    last = tx[tx.date > AS_OF - relativedelta(months=12)].groupby("account_id").amount.sum()
    nxt = world["truth_next_year"].groupby("account_id").amount.sum()
    return pd.DataFrame({"last": last, "next": nxt}).fillna(0.0)


def test_only_customers_carry_a_risk_and_prospects_say_why(scored):
    world, out, _ = scored
    ln = _last_next(world)
    customers = set(ln.index[ln["last"] > 0])
    has_risk = out.risk.notna()
    assert set(out.account_id[has_risk]) == customers
    assert out.risk[has_risk].between(0, 1).all() and out.reason[has_risk].isna().all()
    bought = set(world["transactions"].account_id)
    never = ~out.account_id.isin(bought)
    assert never.any() and (out.reason[never] == REASON_PROSPECT).all()
    lapsed = ~has_risk & ~never
    assert (out.reason[lapsed] == REASON_NO_REVENUE.format(months=12)).all()
    assert set(out.risk_decile.dropna()) == set(range(1, 11))
    assert json.loads(out.drivers[has_risk].iloc[0])


def test_backtest_and_the_true_next_year_rank_decliners(scored):
    world, out, ev = scored
    assert json.loads(json.dumps(ev)) == ev
    pooled = ev["backtest"]["pooled"]
    assert pooled["roc_auc"] > 0.6 and pooled["n"] > 0
    assert all(f["train_cutoffs"][-1] < f["cutoff"] for f in ev["backtest"]["folds"])
    ln = _last_next(world)
    cust = out[out.risk.notna()].set_index("account_id")
    y = (ln["next"] <= 0.8 * ln["last"]).reindex(cust.index).astype(int)
    assert roc_auc_score(y, cust.risk) > 0.6
    # the latent propensity drives growth and churn, so risk should run against it
    z = world["truth_accounts"].set_index("account_id").latent_propensity
    assert np.corrcoef(cust.risk, z.reindex(cust.index))[0, 1] < -0.2
