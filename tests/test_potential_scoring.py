"""Scoring the potential's LightGBM models by their splits: the same figures as LightGBM.

QuickScorer must reach the leaf a traversal reaches for every value LightGBM can meet:
numbers either side of a threshold and on it, NaN under both missing-value rules,
infinities, categories that go left, right, were never seen, are negative or missing.
The reference is LightGBM's own ``predict`` and the traversal of ``CompiledTrees``.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from growthmap.models._trees import CompiledTrees
from growthmap.models.potential import QuantileGBMPotential
from growthmap.models.potential._quickscorer import QuickScorer, Unsupported


def _data(n: int = 6000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    emp = np.exp(rng.normal(4, 1.2, n))
    x = np.column_stack([emp, emp * np.exp(rng.normal(11, 0.5, n)),
                         rng.integers(0, 12, n), rng.integers(0, 4, n)]).astype(float)
    y = (0.8 * np.log(emp) + rng.normal(0, 0.6, 12)[x[:, 2].astype(int)]
         + 0.3 * (x[:, 3] == 2) + rng.normal(0, 0.5, n))
    x[rng.random(n) < 0.05, 0] = np.nan
    x[rng.random(n) < 0.05, 2] = np.nan
    return x, y


def _booster(x: np.ndarray, y: np.ndarray, **params) -> lgb.Booster:
    p = dict(objective="quantile", alpha=0.8, num_leaves=15, min_data_in_leaf=20,
             min_data_per_group=10, cat_smooth=10, num_threads=1, verbose=-1, seed=0)
    p.update(params)
    return lgb.train(p, lgb.Dataset(x, y, categorical_feature=[2, 3]), 60)


def _probe(x: np.ndarray, booster: lgb.Booster) -> np.ndarray:
    """Rows that sit on every threshold, and the odd values: NaN, inf, unseen, negative."""
    dump = booster.dump_model()
    thresholds = []

    def walk(node):
        if "split_feature" in node:
            if node["decision_type"] == "<=":
                thresholds.append((node["split_feature"], float(node["threshold"])))
            walk(node["left_child"])
            walk(node["right_child"])

    for t in dump["tree_info"]:
        walk(t["tree_structure"])
    rows = np.repeat(x[:1], len(thresholds) + 8, axis=0)
    for i, (f, thr) in enumerate(thresholds):
        rows[i, f] = thr
    odd = len(thresholds)
    rows[odd:, 0] = [np.inf, -np.inf, np.nan, 0.0, 1e-300, -5.0, np.nan, 3.0]
    rows[odd:, 2] = [99.0, -1.0, np.nan, 3.0, 11.0, 0.0, 2.7, np.nan]
    rows[odd:, 3] = [np.nan, 7.0, -3.0, 0.0, 1.0, 2.0, 3.0, 50.0]
    return np.vstack([x, rows])


@pytest.mark.parametrize("use_missing", [True, False])
def test_scores_and_drivers_are_lightgbms_and_the_traversals(use_missing):
    x, y = _data()
    booster = _booster(x, y, use_missing=use_missing)
    probe = _probe(x, booster)
    raw, idx, eff = QuickScorer(booster).predict(probe, top=3)
    np.testing.assert_array_equal(raw, booster.predict(probe))
    raw_t, idx_t, eff_t = CompiledTrees(booster).predict(probe, top=3)
    np.testing.assert_array_equal(raw, raw_t)
    np.testing.assert_array_equal(idx, idx_t)
    np.testing.assert_allclose(eff, eff_t, atol=1e-12)


def test_threads_do_not_change_a_figure():
    x, y = _data(n=20_000, seed=3)
    qs = QuickScorer(_booster(x, y))
    one = qs.predict(x, top=2, n_jobs=1)
    two = qs.predict(x, top=2, n_jobs=2)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


def test_wide_trees_are_refused_and_the_model_scores_them_by_traversal():
    x, y = _data(n=20_000, seed=4)
    with pytest.raises(Unsupported):
        QuickScorer(_booster(x, y, num_leaves=100, min_data_in_leaf=5))
    df = pd.DataFrame({"employees": x[:, 0], "industry": x[:, 2].astype(str)})
    spend = np.where(np.arange(len(y)) % 3 == 0, 0.0, np.exp(y))
    wide = QuantileGBMPotential(num_leaves=100, min_child_samples=5, n_estimators=20,
                                n_folds=2).fit(df, spend)
    assert isinstance(wide.compiled_[0][0], CompiledTrees)
    narrow = QuantileGBMPotential(n_estimators=20, n_folds=2).fit(df, spend)
    assert isinstance(narrow.compiled_[0][0], QuickScorer)
    logs = [m[0].predict(wide._matrix(df, fitting=False)) for m in wide.estimators_]
    np.testing.assert_allclose(wide.predict(df), np.exp(np.mean(logs, axis=0)), rtol=1e-12)
