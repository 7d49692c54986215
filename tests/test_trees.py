"""The compiled trees give LightGBM's own raw scores, and drivers that add up."""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pytest

from growthmap.models._trees import CompiledTrees
from growthmap.models.propensity import drivers_json


def _world(seed: int, n: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Numbers with NaN and many exact zeros, and two categorical columns."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    x[:, 5] = rng.integers(0, 30, size=n)
    x[:, 6] = rng.integers(0, 6, size=n)
    x[rng.random(size=x.shape) < 0.1] = np.nan
    x[:, 7] = np.where(rng.random(n) < 0.4, 0.0, x[:, 7])
    y = (np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 1]) * np.nan_to_num(x[:, 2])
         + (x[:, 5] % 3 == 0) + (x[:, 7] == 0) + rng.normal(size=n) > 0.5)
    return x, y.astype(int)


@pytest.mark.parametrize("objective", ["binary", "quantile"])
def test_raw_scores_equal_lightgbm(objective):
    x, y = _world(0)
    target = y if objective == "binary" else y + np.nan_to_num(x[:, 1])
    params = {"objective": objective, "n_estimators": 40, "num_leaves": 15,
              "min_child_samples": 10, "verbose": -1}
    if objective == "quantile":
        params["alpha"] = 0.8
    model = lgb.LGBMModel(**params).fit(x, target, categorical_feature=[5, 6])
    test, _ = _world(1, 3000)
    test[:50, 5] = -2.0  # a negative category code goes right, like in LightGBM
    test[50:100, 5] = 99.0  # an unseen category
    compiled = CompiledTrees(model.booster_)
    raw, idx, eff = compiled.predict(test, top=3, n_jobs=2)
    np.testing.assert_allclose(raw, model.booster_.predict(test, raw_score=True),
                               rtol=0, atol=1e-9)
    assert idx.shape == eff.shape == (3000, 3)


def test_all_effects_add_up_to_the_raw_score():
    x, y = _world(2)
    model = lgb.LGBMClassifier(n_estimators=30, num_leaves=7, verbose=-1).fit(x, y)
    compiled = CompiledTrees(model.booster_)
    raw, idx, eff = compiled.predict(x[:500], top=x.shape[1])
    np.testing.assert_allclose(eff.sum(axis=1) + compiled.base, raw, rtol=0, atol=1e-9)
    # drivers come largest first; unused places say -1 / 0
    assert np.all(np.diff(np.abs(eff), axis=1) <= 1e-12)
    assert np.all((idx >= 0) | (eff == 0))


def test_drivers_json_is_valid_and_ordered():
    idx = np.array([[2, 0], [1, -1], [-1, -1]])
    eff = np.array([[0.5, -0.25], [-1.0, 0.0], [0.0, 0.0]])
    out = drivers_json(idx, eff, ["a", "b \"c\"", "d"], label=str.upper)
    rows = [json.loads(s) for s in out]
    assert rows[0] == [{"feature": "d", "label": "D", "effect": 0.5},
                       {"feature": "a", "label": "A", "effect": -0.25}]
    assert rows[1] == [{"feature": 'b "c"', "label": 'B "C"', "effect": -1.0}]
    assert rows[2] == []
