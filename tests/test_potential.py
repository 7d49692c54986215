"""The potential estimators and rules, on small worlds whose true wallets are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from growthmap.errors import NotFittedError
from growthmap.models import ExternalPotential, PeerPotential, QuantileGBMPotential
from growthmap.models.potential import (
    combine,
    fold_ids,
    relevance,
    split_competitors,
    upper_level,
)

INDUSTRIES = {"steel": 400.0, "food": 150.0, "pharma": 900.0}


def _world(n: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Accounts, their true wallet (intensity x employees) and what they spend with us.

    Three in five accounts buy, at a share of wallet uniform on [0.2, 1], so the 80th
    percentile of spend per employee in a group is 0.84 x the group's intensity.
    """
    rng = np.random.default_rng(seed)
    ind = rng.choice(list(INDUSTRIES), n)
    emp = np.round(np.exp(rng.normal(4, 1.2, n))) + 1
    x = pd.DataFrame({
        "employees": emp.astype(float),
        "industry": ind,
        "region": rng.choice(["north", "south"], n),
    })
    wallet = x["industry"].map(INDUSTRIES).to_numpy() * emp
    buys = rng.random(n) < 0.6
    spend = np.where(buys, wallet * rng.uniform(0.2, 1.0, n), 0.0)
    return x, wallet, spend


# -- scikit-learn contract (every common check applies: none is expected to fail) --------
@parametrize_with_checks(
    [PeerPotential(min_group_size=5),
     QuantileGBMPotential(n_estimators=20, n_folds=3, min_child_samples=5),
     ExternalPotential()],
)
def test_sklearn_contract(estimator, check):
    check(estimator)


@pytest.mark.parametrize("est", [PeerPotential(), QuantileGBMPotential(), ExternalPotential()])
def test_unfitted_use_raises_growthmap_error(est):
    with pytest.raises(NotFittedError, match="not fitted"):
        est.predict(pd.DataFrame({"a": [1.0]}))


# -- peer ---------------------------------------------------------------------------------
def test_peer_matches_group_quantiles_computed_by_hand():
    x, wallet, spend = _world()
    est = PeerPotential(size="employees", groups=("industry",), min_group_size=30,
                        size_band_edges=[50, 200]).fit(x, spend)
    e = est.estimate(x)
    # reference: quantile of spend per employee per industry x band, by pandas
    band = np.searchsorted([50, 200], x["employees"], side="right")
    ref = pd.DataFrame({"ind": x["industry"], "band": band, "int": spend / x["employees"]})
    q = ref[spend > 0].groupby(["ind", "band"])["int"].quantile(0.8)
    expect = np.array([q[(i, b)] for i, b in zip(x["industry"], band, strict=True)])
    np.testing.assert_allclose(e["potential"], expect * x["employees"], rtol=1e-9)
    assert (e["level"] == 0).all()
    # and it lands where the known truth says: 0.84 x wallet
    ratio = e["potential"] / wallet
    assert abs(np.median(ratio) - 0.84) < 0.04
    assert spearmanr(e["potential"], wallet).statistic > 0.97


def test_peer_interval_follows_the_tail_rule():
    x, _, spend = _world()
    est = PeerPotential(size="employees", groups=("industry",), size_band_edges=[]).fit(x, spend)
    e = est.estimate(x)
    buy = spend > 0
    intensity = spend[buy] / x["employees"][buy]
    steel = (x["industry"][buy] == "steel").to_numpy()
    hi_q = np.quantile(intensity[steel], upper_level(0.8, 0.8))
    row = np.flatnonzero((x["industry"] == "steel").to_numpy())[0]
    assert e["high"][row] == pytest.approx(hi_q * x["employees"][row])
    assert e["low"][row] == pytest.approx(e["potential"][row] ** 2 / e["high"][row])
    assert (e["low"] <= e["potential"]).all() and (e["potential"] <= e["high"]).all()


def test_peer_falls_back_to_coarser_groups_and_records_them():
    x, _, spend = _world(n=2000, seed=3)
    x.loc[x.index[:5], "industry"] = "rare"  # five accounts: too few for a group
    spend[:5] = 1000.0
    x.loc[5, "employees"] = np.nan  # no size: the coarsest estimate, low confidence
    x.loc[6, "industry"] = None  # no industry: size band only
    est = PeerPotential(size="employees", groups=("industry",), split="region",
                        min_group_size=30, size_label="employees").fit(x, spend)
    e = est.estimate(x)
    assert set(e["level"][:5]) <= {3, 4}  # size band or everyone, never 'rare'
    assert not e["peer_group"][:5].str.contains("rare").any()
    assert e["peer_group"][5] == "all buyers (no employees)"
    buy = spend > 0
    assert e["potential"][5] == pytest.approx(np.quantile(spend[buy], 0.8))
    assert bool(e["low_confidence"][5])
    assert "employees" in e["peer_group"][6] and e["level"][6] == 3
    # big groups split by region when each half is large enough
    assert (e["level"][10:] == 0).mean() > 0.8
    assert e["peer_group"][100].count(" x ") == 2


def test_peer_without_buyers_estimates_zero():
    x, _, _ = _world(n=50)
    e = PeerPotential(size="employees").fit(x, np.zeros(50)).estimate(x)
    assert (e["potential"] == 0).all()


# -- quantile GBM ---------------------------------------------------------------------------
def test_gbm_recovers_the_quantile_of_a_known_world():
    x, wallet, spend = _world(n=3000, seed=1)
    est = QuantileGBMPotential(n_estimators=150, n_folds=4, random_state=0)
    folds = np.arange(len(x)) % 4
    est.fit(x, spend, folds=folds)
    low, pot, high = est.predict_interval(x, folds=folds)
    ratio = pot / wallet
    assert abs(np.median(ratio) - 0.84) < 0.08
    assert spearmanr(pot, wallet).statistic > 0.95
    assert (low <= pot).all() and (pot <= high).all()
    # out of fold, about 80% of buyers spend below their potential
    buy = spend > 0
    assert 0.7 < np.mean(spend[buy] <= pot[buy]) < 0.9


def test_gbm_out_of_fold_one_accounts_spend_never_sets_its_own_potential():
    x, _, spend = _world(n=1500, seed=2)
    folds = fold_ids(pd.Series([f"A{i}" for i in range(len(x))]), 3, seed=7)
    base = QuantileGBMPotential(n_estimators=60, n_folds=3).fit(x, spend, folds=folds)
    p0 = base.predict(x, folds=folds)
    for i, new in ((int(np.flatnonzero(spend > 0)[0]), 1e7),  # a buyer spends far more
                   (int(np.flatnonzero(spend == 0)[0]), 5e6)):  # a non-buyer starts
        y = spend.copy()
        y[i] = new
        p1 = clone(base).fit(x, y, folds=folds).predict(x, folds=folds)
        assert p1[i] == p0[i]
        # the change is real: accounts of other folds see it
        other = folds != folds[i]
        assert not np.array_equal(p1[other], p0[other])


def test_gbm_new_rows_get_the_average_of_the_fold_models():
    x, _, spend = _world(n=800, seed=4)
    est = QuantileGBMPotential(n_estimators=30, n_folds=2).fit(x, spend)
    mat = est._matrix(x.iloc[:5], fitting=False)
    logs = [m[0].predict(mat) for m in est.estimators_]
    np.testing.assert_allclose(est.predict(x.iloc[:5]), np.exp(np.mean(logs, axis=0)))


def test_gbm_effects_name_the_feature_that_matters():
    x, _, spend = _world(n=2000, seed=5)
    x["noise"] = np.random.default_rng(0).normal(size=len(x))
    est = QuantileGBMPotential(n_estimators=80, n_folds=2).fit(x, spend)
    eff = est.effects(x)
    share = eff.abs().mean()
    assert share["employees"] > 3 * share["noise"]
    assert share["industry"] > share["region"]


def test_fold_ids_depend_on_the_key_alone():
    keys = pd.Series([f"A{i:04d}" for i in range(500)])
    f1 = fold_ids(keys, 5, seed=1)
    f2 = fold_ids(pd.concat([keys, pd.Series(["Z1", "Z2"])]).iloc[::-1], 5, seed=1)[::-1]
    np.testing.assert_array_equal(f1, f2[:500])
    assert set(f1) == set(range(5))
    assert not np.array_equal(f1, fold_ids(keys, 5, seed=2))


# -- external, combination, cap, relevance ------------------------------------------------------
def test_external_looks_up_vendor_figures():
    keys = pd.DataFrame({"account_id": ["a", "a", "b"], "family": ["x", "y", "x"]})
    est = ExternalPotential().fit(keys, [100.0, 50.0, 70.0], low=[80.0, np.nan, 60.0])
    q = pd.DataFrame({"account_id": ["b", "a", "c"], "family": ["x", "x", "x"]})
    low, pot, high = est.predict_interval(q)
    np.testing.assert_array_equal(pot[:2], [70.0, 100.0])
    assert np.isnan(pot[2]) and np.isnan(high).all()
    np.testing.assert_array_equal(low[:2], [60.0, 80.0])


def test_combine_rules_cap_and_floor():
    model = (np.array([[40.0, 50.0, 80.0]]), np.array([[100.0] * 3]), np.array([[200.0] * 3]))
    ext = (np.array([[np.nan] * 3]), np.array([[300.0, np.nan, 50.0]]),
           np.array([[np.nan] * 3]))
    cur = np.array([[0.0, 150.0, 10.0]])
    low, pot, high, used = combine(model, ext, cur, rule="external_first")
    np.testing.assert_allclose(pot, [[300.0, 150.0, 50.0]])  # vendor, floor, vendor
    np.testing.assert_array_equal(used, [[True, False, True]])
    np.testing.assert_allclose(low, [[120.0, 150.0, 40.0]])  # vendor borrows model ratios
    np.testing.assert_allclose(high, [[600.0, 200.0, 100.0]])
    _, pot, _, used = combine(model, ext, cur, rule="max")
    np.testing.assert_allclose(pot, [[300.0, 150.0, 100.0]])
    np.testing.assert_array_equal(used, [[True, False, False]])
    _, pot, _, _ = combine(model, ext, cur, rule="model")
    np.testing.assert_allclose(pot, [[100.0, 150.0, 100.0]])
    # the cap scales the wallet, but potential never drops below current spend
    low, pot, high, _ = combine(model, None, cur, cap=0.3)
    np.testing.assert_allclose(pot, [[30.0, 150.0, 30.0]])
    assert (low <= pot).all() and (pot <= high).all()
    with pytest.raises(ValueError, match="unknown combination rule"):
        combine(model, None, cur, rule="mean")


def test_relevance_from_buyers_and_overrides():
    ind = pd.Series(["a", "a", "b", "b", None])
    buys = np.array([[1, 0], [0, 0], [1, 1], [0, 0], [0, 0]], dtype=bool)
    rel = relevance(ind, buys, ["f1", "f2"])
    np.testing.assert_array_equal(rel[:, 1], [False, False, True, True, True])
    assert rel[:, 0].all()
    rel = relevance(ind, buys, ["f1", "f2"], always={"f2": ["a"]}, never={"f1": ["*"]})
    np.testing.assert_array_equal(rel[:, 1], [True, True, True, True, True])
    assert not rel[:, 0].any()
    vendor = np.zeros_like(buys)
    vendor[0, 1] = True
    rel = relevance(ind, buys, ["f1", "f2"], vendor=vendor, never={"f2": ["b"]})
    np.testing.assert_array_equal(rel[:, 1], [True, False, False, False, True])


def test_irrelevant_cells_get_no_potential_but_keep_current_spend():
    m = (np.array([[5.0, 5.0]]), np.array([[10.0, 10.0]]), np.array([[20.0, 20.0]]))
    _, pot, high, _ = combine(m, None, np.array([[0.0, 7.0]]),
                              relevant=np.array([[False, False]]))
    np.testing.assert_allclose(pot, [[0.0, 7.0]])
    np.testing.assert_allclose(high, [[0.0, 7.0]])


def test_competitor_split_adds_up_and_scales_down():
    pot = pd.DataFrame({"account_id": ["a", "a", "b"], "family": ["x", "y", "x"],
                        "potential": [100.0, 100.0, 100.0], "whitespace": [60.0, 20.0, 100.0]})
    comp = pd.DataFrame({"account_id": ["a", "a", "a", "b"], "family": ["x", "x", "y", "z"],
                         "competitor": ["c1", "c2", "c1", "c1"], "share": [0.3, 0.1, 0.5, 0.9]})
    per, cells = split_competitors(pot, comp)
    held = per.set_index(["account_id", "family", "competitor"])["held"]
    assert held[("a", "x", "c1")] == pytest.approx(30.0)
    assert held[("a", "x", "c2")] == pytest.approx(10.0)
    assert held[("a", "y", "c1")] == pytest.approx(20.0)  # 50 held > 20 whitespace: scaled
    assert ("b", "z", "c1") not in held.index  # no such cell
    c = cells.set_index(["account_id", "family"])
    np.testing.assert_allclose(c["whitespace_open"] + c["whitespace_competitor"],
                               c.index.map(pot.set_index(["account_id", "family"])
                                           ["whitespace"]))
    assert c.loc[("b", "x"), "whitespace_competitor"] == 0.0
