"""Quotas: exact to the cent, floors and caps respected, monotone in potential."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from growthmap.config._plan import PlanConfig
from growthmap.errors import ConfigError, InfeasibleError, NotFoundError
from growthmap.plan import PlanSource, family_quotas, plan_quotas, save_quotas, saved_quotas
from growthmap.plan.quotas import largest_remainder, solve_split, split_target, to_cents
from tests.test_rollups import plan_workspace

money = st.floats(min_value=0, max_value=5e6, allow_nan=False).map(lambda x: round(x, 2))


def _units(hist, ws) -> pd.DataFrame:
    return pd.DataFrame({"key": [f"U{i}" for i in range(len(hist))], "history": hist,
                         "whitespace": ws})


@st.composite
def problems(draw):
    n = draw(st.integers(1, 8))
    hist = draw(st.lists(money, min_size=n, max_size=n))
    ws = draw(st.lists(money, min_size=n, max_size=n))
    growth = draw(st.floats(-0.3, 0.6))
    target = round(max(sum(hist), 1000.0) * (1 + growth), 2)
    return hist, ws, target, draw(st.floats(0, 1)), draw(st.sampled_from([0.0, 0.5, 0.9])), \
        draw(st.sampled_from([None, 1.2, 1.5, 3.0]))


def _split(hist, ws, target, h, floor, cap):
    try:
        return split_target(_units(hist, ws), target, history_weight=h, floor_ratio=floor,
                            cap_ratio=cap)
    except InfeasibleError:
        lo = sum(to_cents(x * floor) for x in hist)
        hi = sum(x * cap for x in hist if x > 0) if cap is not None and all(
            x > 0 for x in hist) else np.inf
        # infeasible only when the floors or caps truly cannot meet the target
        assert lo > to_cents(target) - len(hist) or hi * 100 < to_cents(target) + len(hist)
        assume(False)


@settings(max_examples=150, deadline=None)
@given(problems())
def test_sum_is_exact_and_bounds_hold(p):
    hist, ws, target, h, floor, cap = p
    q = _split(hist, ws, target, h, floor, cap)
    assert int(q.quota_cents.sum()) == to_cents(target)
    hist_c = np.array(hist) * 100
    assert (q.quota_cents >= np.ceil(hist_c * floor - 1e-6)).all()
    if cap is not None:
        capped = hist_c > 0
        assert (q.quota_cents[capped] <= np.floor(hist_c[capped] * cap + 1e-6)).all()
    np.testing.assert_allclose(q.quota, q.history_part + q.potential_part + q.adjustment)


@settings(max_examples=150, deadline=None)
@given(problems(), st.integers(0, 7), money)
def test_more_potential_never_less_quota(p, i, extra):
    hist, ws, target, h, floor, cap = p
    i = i % len(hist)
    more = list(ws)
    more[i] += extra + 1.0
    a = _split(hist, ws, target, h, floor, cap)
    b = _split(hist, more, target, h, floor, cap)
    # the exact split is monotone; rounding may move a part by at most one cent
    assert b.quota_cents[i] >= a.quota_cents[i] - 1
    assert b.uplift[i] >= a.uplift[i] - 0.01
    # so the other units together give up (or keep) what it gains
    others = np.arange(len(hist)) != i
    assert b.quota_cents[others].sum() <= a.quota_cents[others].sum() + 1


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 50), st.floats(0, 100)),
                min_size=1, max_size=8), st.floats(0, 1))
def test_exact_split_matches_bisection(rows, frac):
    w = np.array([r[0] for r in rows])
    lo = np.array([r[1] for r in rows])
    hi = lo + np.array([r[2] for r in rows])
    total = lo.sum() + frac * (hi.sum() - lo.sum())
    got = solve_split(w, total, lo, hi)
    assert got.sum() == pytest.approx(total, abs=1e-6)
    assert (got >= lo - 1e-9).all() and (got <= hi + 1e-9).all()
    if (w > 1e-3).all():  # independent reference: bisection on lambda
        a, b = 0.0, float(hi.max() / w.min()) + 1.0  # at b every part is at its cap
        for _ in range(200):
            m = (a + b) / 2
            a, b = (m, b) if np.clip(m * w, lo, hi).sum() < total else (a, m)
        np.testing.assert_allclose(got, np.clip(b * w, lo, hi), atol=1e-6)


@settings(max_examples=150, deadline=None)
@given(problems(), st.data())
def test_per_unit_floors_hold(p, data):
    # a key account manager's floor (1.0: never below last year) beside others' 0.9
    hist, ws, target, h, _, cap = p
    ratio = data.draw(st.lists(st.sampled_from([0.0, 0.9, 1.0]), min_size=len(hist),
                               max_size=len(hist)))
    floor_c = [to_cents(x * r) for x, r in zip(hist, ratio, strict=True)]
    try:
        q = split_target(_units(hist, ws), target, history_weight=h, floor_ratio=ratio,
                         cap_ratio=cap)
    except InfeasibleError:
        hi = sum(x * cap for x in hist) if cap is not None and all(x > 0 for x in hist) \
            else np.inf
        assert sum(floor_c) > to_cents(target) - len(hist) or hi * 100 < to_cents(target) \
            + len(hist)
        assume(False)
    assert int(q.quota_cents.sum()) == to_cents(target)
    assert (q.quota_cents >= np.array(floor_c) - 1).all()
    assert q.floor_ratio.tolist() == ratio
    grown = to_cents(target) >= to_cents(sum(hist))
    for i, r in enumerate(ratio):
        if r >= 1.0 and grown:  # a unit held at last year never sits below it
            assert q.quota_cents[i] >= round(hist[i] * 100) - 1


def test_small_case_by_hand():
    # weights .25/.25/.5 give 75/75/150; the 90 floors bind and the rest goes to U2
    q = split_target(_units([100, 100, 0], [0, 0, 1000]), 300, history_weight=0.5,
                     floor_ratio=0.9, cap_ratio=1.5)
    assert q.quota.tolist() == [90.0, 90.0, 120.0]
    assert "its floor adds +15" in q.explanation[0]
    assert "other units' floors and caps add -30" in q.explanation[2]
    # cap: 1.2 x 100 = 120 caps U0; U1 takes the rest
    q = split_target(_units([100, 10, 0], [1000, 0, 0]), 200, history_weight=0.0,
                     floor_ratio=0.0, cap_ratio=1.2)
    assert q.quota.tolist()[0] == 120.0 and q.quota.sum() == 200.0
    # three equal parts of one cent short: 100.00 / 3
    q = split_target(_units([1, 1, 1], [0, 0, 0]), 100.0)
    assert sorted(q.quota_cents.tolist()) == [3333, 3333, 3334]


def test_largest_remainder_gives_leftover_cents_to_largest_fractions():
    out = largest_remainder(np.array([1.6, 2.3, 3.1]), 7, np.zeros(3, int), np.full(3, 10))
    assert out.tolist() == [2, 2, 3]


def test_infeasible_and_bad_targets_say_the_fix():
    with pytest.raises(InfeasibleError, match="floors add up") as e:
        split_target(_units([100, 100], [0, 0]), 150, floor_ratio=0.9)
    assert "quota_floor_ratio" in e.value.hint
    with pytest.raises(InfeasibleError, match="caps add up"):
        split_target(_units([100, 100], [0, 0]), 500, cap_ratio=1.5)
    with pytest.raises(NotFoundError, match="unknown units: X"):
        split_target(_units([100], [0]), 100, floors={"X": 5})


def test_plan_quotas_on_a_workspace(tmp_path):
    ws = plan_workspace(tmp_path)
    src = PlanSource.from_workspace(ws)
    cfg = PlanConfig()
    total = src.frame().current.sum()
    q = plan_quotas(src, cfg, growth=0.08)
    assert int(q.quota_cents.sum()) == to_cents(round(total * 1.08, 2))
    assert set(q.key) == {f"R{i}" for i in range(1, 7)}  # managers without a book: none
    amount = round(total * 1.02, 0) + 0.07
    qt = plan_quotas(src, cfg, target=amount, by="territory")
    assert int(qt.quota_cents.sum()) == to_cents(amount)
    with pytest.raises(InfeasibleError, match="floors add up"):
        plan_quotas(src, cfg, target=total * 0.5, by="territory")
    assert set(qt.key) == {"N1", "N2", "S1", "S2"}
    with pytest.raises(ConfigError, match="exactly one"):
        plan_quotas(src, cfg, target=1.0, growth=0.1)
    # key account managers (R1, R4) never get less than last year; the others' floor is 0.9
    by_key = q.set_index("key")
    assert by_key.loc[["R1", "R4"], "floor_ratio"].tolist() == [1.0, 1.0]
    assert (by_key.loc[["R2", "R3", "R5", "R6"], "floor_ratio"] == 0.9).all()
    assert (by_key.loc[["R1", "R4"], "quota"] >= by_key.loc[["R1", "R4"], "history"]).all()
    low = plan_quotas(src, cfg, growth=-0.05)  # a shrinking target: key accounts still held
    low = low.set_index("key")
    assert (low.loc[["R1", "R4"], "quota"] >= low.loc[["R1", "R4"], "history"] - 0.01).all()
    loose = plan_quotas(src, cfg.model_copy(update={"quota_floor_by_role": {}}), growth=-0.05)
    assert (loose.floor_ratio == 0.9).all()

    # per family: each rep's families add up to the rep's total quota (its floors and
    # caps applied), the whole to the target; families near their company split
    fq = family_quotas(src, cfg, growth=0.08)
    per_rep = fq.groupby("key").quota_cents.sum()
    assert per_rep.to_dict() == q.set_index("key").quota_cents.to_dict()
    fam = fq.groupby("family").agg(q=("quota", "sum"), fq=("family_quota", "first"),
                                   t=("family_target", "first"))
    np.testing.assert_allclose(fam.q, fam.fq)
    assert (abs(fam.q / fam.t - 1) < 0.25).all()
    flat = family_quotas(src, cfg.model_copy(update={"quota_lifecycle_weights": {}}),
                         growth=0.08)
    share = fq.groupby("family").quota.sum() / flat.groupby("family").quota.sum()
    assert share["Service"] > 1 > share["Parts"]  # growth weighted up, decline down

    qs = save_quotas(ws, q, as_of=src.as_of, snapshot_id=src.snapshot_id)
    back = saved_quotas(ws)
    assert qs == 1 and int(back.quota_cents.sum()) == int(q.quota_cents.sum())
    assert save_quotas(ws, fq, as_of=src.as_of, snapshot_id=1) == 2
    with pytest.raises(NotFoundError):
        saved_quotas(ws, 9)
    ws.close()
