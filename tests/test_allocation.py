"""Headcount allocation: optimum equal to brute force; response curves recover the truth."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from growthmap.config._plan import PlanConfig
from growthmap.errors import ConfigError, InfeasibleError, NotFittedError, NotFoundError
from growthmap.plan import (
    PlanSource,
    SaturatingCurve,
    SaturatingResponse,
    allocate,
    fit_curves,
    region_allocation,
)
from growthmap.plan.allocation import role_allocations
from tests.test_rollups import plan_workspace


def _curves(rng: np.random.Generator, n: int) -> list[SaturatingCurve]:
    return [SaturatingCurve(float(rng.uniform(1e5, 5e6)), float(rng.uniform(0.05, 1.5)))
            for _ in range(n)]


def _value(curves, h) -> float:
    return float(sum(c.revenue(x) for c, x in zip(curves, h, strict=True)))


@pytest.mark.parametrize("seed", range(12))
def test_heads_allocation_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 5))
    curves = _curves(rng, n)
    total = int(rng.integers(0, 9))
    lo = rng.integers(0, 2, n) if total >= 4 else np.zeros(n, int)
    best = max(_value(curves, h) for h in itertools.product(range(total + 1), repeat=n)
               if sum(h) == total and all(x >= m for x, m in zip(h, lo, strict=True)))
    got = allocate(curves, [f"r{i}" for i in range(n)], heads=total, min_heads=lo)
    assert got.total_heads == total
    assert got.expected_revenue == pytest.approx(best, rel=1e-12)
    r = got.regions
    # optimality: no head is worth more elsewhere than where it sits
    if total > lo.sum():
        placed = r[r.heads > lo]
        assert r.marginal_next.max() <= placed.marginal_last.min() + 1e-6


@pytest.mark.parametrize("seed", range(10))
def test_budget_allocation_matches_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 4))
    curves = _curves(rng, n)
    cost = rng.choice([80_000.0, 100_000.0, 130_000.0], n)
    budget = float(rng.uniform(2e5, 9e5))
    best = max(_value(curves, h) for h in itertools.product(range(12), repeat=n)
               if float(np.dot(h, cost)) <= budget)
    got = allocate(curves, [f"r{i}" for i in range(n)], budget=budget, cost=cost)
    assert float(got.regions.heads @ cost) <= budget + 1e-6
    assert got.expected_revenue == pytest.approx(best, rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_bounded_moves_match_brute_force(seed):
    rng = np.random.default_rng(200 + seed)
    n = 3
    curves = _curves(rng, n)
    today = rng.integers(0, 4, n)
    total, change = int(today.sum()), int(rng.integers(0, 3))
    best = max(_value(curves, h) for h in itertools.product(range(total + 1), repeat=n)
               if sum(h) == total and all(abs(x - t) <= change
                                          for x, t in zip(h, today, strict=True)))
    got = allocate(curves, list("abc"), heads=total, heads_today=today, max_change=change)
    assert got.expected_revenue == pytest.approx(best, rel=1e-12)
    assert (got.regions.change.abs() <= change).all()


def test_equal_costs_use_marginal_analysis():
    curves = [SaturatingCurve(1e6, 0.3), SaturatingCurve(2e6, 0.1)]
    got = allocate(curves, ["a", "b"], budget=1_050_000, cost=[100_000, 100_000])
    assert got.total_heads == 10 and "marginal" in got.method


def test_errors_say_the_fix():
    curves = [SaturatingCurve(1e6, 0.3)] * 2
    with pytest.raises(ConfigError, match="exactly one"):
        allocate(curves, ["a", "b"])
    with pytest.raises(InfeasibleError, match="minimums need 4"):
        allocate(curves, ["a", "b"], heads=3, min_heads=2)


def test_curves_pass_through_today_and_pooled_k_recovers_truth():
    rng = np.random.default_rng(3)
    true_k = 0.35
    heads = rng.integers(1, 15, 40).astype(float)
    wallet = rng.uniform(1e6, 8e6, 40)
    revenue = wallet * (1 - np.exp(-true_k * heads)) * rng.normal(1, 0.02, 40)
    model = SaturatingResponse().fit(np.c_[heads, wallet], revenue)
    assert model.k_ == pytest.approx(true_k, rel=0.05)
    import pandas as pd

    regions = pd.DataFrame({"key": ["a", "b", "c"], "heads_today": [4, 2, 0],
                            "current": [1.2e6, 3e5, 0.0], "potential": [3e6, 2e6, 1e6]})
    fit = fit_curves(regions)
    for r in fit.itertuples():
        if r.heads_today > 0:
            assert SaturatingCurve(r.wallet, r.k).revenue(r.heads_today) == pytest.approx(
                r.current)
    assert fit.fitted_by.tolist() == ["own region", "own region", "pooled"]
    with pytest.raises(NotFittedError):
        SaturatingResponse().predict(np.c_[heads, wallet])


@parametrize_with_checks([SaturatingResponse()], expected_failed_checks=lambda est: {
    "check_regressors_train": "a one-parameter saturating curve cannot fit the arbitrary "
                              "regression data this check draws",
})
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_region_allocation_on_a_workspace(tmp_path):
    ws = plan_workspace(tmp_path)
    src = PlanSource.from_workspace(ws)
    today = region_allocation(src, PlanConfig())
    r = today.regions.set_index("key")
    assert today.total_heads == 6  # the selling reps; managers without a book are not heads
    assert set(r.index) == {"North", "South"}
    # revenue today reproduces current value where the region has heads
    for key in r.index:
        assert r.loc[key, "revenue_today"] == pytest.approx(r.loc[key, "current"], rel=1e-9)
    assert (r.heads - r.heads_today).abs().max() <= 2  # plan.allocation_max_change
    with pytest.raises(InfeasibleError, match="at most 10 of 12"):
        region_allocation(src, PlanConfig(), heads=12)
    more = region_allocation(src, PlanConfig(), heads=12, max_change=None)
    assert more.total_heads == 12 and more.expected_revenue > today.expected_revenue
    ws.close()


def test_allocation_by_role_and_warning_on_cuts(tmp_path):
    ws = plan_workspace(tmp_path)
    src = PlanSource.from_workspace(ws)
    frame = src.frame()
    by_role = role_allocations(src, PlanConfig())
    # each role's heads today are its selling reps; its curve fits its own accounts
    assert {k: v.total_heads for k, v in by_role.items()} == {
        "field": 2, "inside": 2, "key_account_manager": 2}
    field = by_role["field"].regions.set_index("key")
    mine = frame[frame.coverage_role == "field"].groupby("region").current.sum()
    for key in field.index[field.heads_today > 0]:
        assert field.loc[key, "revenue_today"] == pytest.approx(mine[key], rel=1e-9)
    # one field head for two regions cuts one of them by 100%: a note with the revenue
    # at stake
    src.notes.clear()
    one = region_allocation(src, PlanConfig(), role="field", heads=1, max_change=None)
    cut = one.regions[one.regions.heads < one.regions.heads_today]
    assert len(cut) == 1
    for r in cut.itertuples():
        assert any(f"cuts {r.key} from {int(r.heads_today)} to {int(r.heads)} field" in n
                   and f"{r.revenue - r.revenue_today:+,.0f} at stake" in n for n in src.notes)
    with pytest.raises(NotFoundError, match="no selling reps have the role"):
        region_allocation(src, PlanConfig(), role="astronaut")
    ws.close()
