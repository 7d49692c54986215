"""Per-family quotas keep the totals' caps and floors (a property test) and add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from growthmap.plan._family_quotas import split_within_units
from growthmap.plan.quotas import split_target

FLOOR, CAP, H = 0.9, 1.5, 0.5


@st.composite
def books(draw):
    n_units = draw(st.integers(1, 5))
    n_fams = draw(st.integers(1, 4))
    amounts = st.one_of(st.just(0.0), st.floats(1.0, 1e6, allow_nan=False))
    hist = np.array(draw(st.lists(amounts, min_size=n_units * n_fams,
                                  max_size=n_units * n_fams))).reshape(n_units, n_fams)
    ws = np.array(draw(st.lists(amounts, min_size=n_units * n_fams,
                                max_size=n_units * n_fams))).reshape(n_units, n_fams)
    growth = draw(st.floats(-0.05, 0.45))
    return hist, ws, growth


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books())
def test_family_parts_keep_caps_floors_and_totals(book):
    hist, ws, growth = book
    if hist.sum() <= 0:
        return
    units = [f"U{i}" for i in range(hist.shape[0])]
    fams = [f"F{j}" for j in range(hist.shape[1])]
    target = round(hist.sum() * (1 + growth), 2)
    unit_rows = pd.DataFrame({"key": units, "history": hist.sum(1), "whitespace": ws.sum(1)})
    totals = split_target(unit_rows, target, history_weight=H, floor_ratio=FLOOR,
                          cap_ratio=CAP)
    fam_rows = pd.DataFrame({"key": fams, "history": hist.sum(0), "whitespace": ws.sum(0)})
    families = split_target(fam_rows, target, history_weight=H)
    cells = pd.DataFrame({"key": np.repeat(units, len(fams)), "family": fams * len(units),
                          "history": hist.ravel(), "whitespace": ws.ravel()})
    out = split_within_units(cells, totals[["key", "quota_cents"]], families[["key", "quota"]],
                             history_weight=H, floor_ratio=FLOOR, cap_ratio=CAP)
    # each unit's families add up to its total to the cent, and so to the target
    got = out.groupby("key").quota_cents.sum().reindex(units, fill_value=0)
    assert got.tolist() == totals.quota_cents.tolist()
    assert int(out.quota_cents.sum()) == int(totals.quota_cents.sum())
    # every family part within the same ratios on its own history (cent rounding aside)
    assert (out.quota >= out.history * FLOOR - 0.01).all()
    capped = out[out.history > 0]
    assert (capped.quota <= capped.history * CAP + 0.01).all()
    # so no unit exceeds its cap across families either
    u_hist = pd.Series(hist.sum(1), index=units)
    growth_u = got / 100 / u_hist.where(u_hist > 0)
    assert (growth_u.dropna() <= CAP + 1e-6).all()
