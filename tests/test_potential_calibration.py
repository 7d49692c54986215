"""Calibration to vendor figures and the intervals it gives, on worlds with known errors.

Each world knows the true wallet, how far the model errs (with a part shared by the
families of one account) and how noisy the vendor is; the tests check that the
calibration recovers those and that the intervals cover the truth at their nominal level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.stats import norm

from growthmap.models.potential import (
    FamilySum,
    calibrate_to_external,
    combine,
    vendor_noise,
)

LEVEL = np.array([0.5, 0.25, 0.4])  # model level / true wallet, per family
ACCOUNT_SD, CELL_SD = 0.25, 0.3  # the model's log error: account part + cell part
MODEL_SD = float(np.hypot(ACCOUNT_SD, CELL_SD))
MODEL_CORR = ACCOUNT_SD**2 / MODEL_SD**2


@dataclass
class World:
    wallet: np.ndarray  # true wallets, accounts x families
    model: np.ndarray  # the model's figures (level below the wallet, with errors)
    vendor: np.ndarray  # vendor figures, NaN where the vendor has none
    spend: np.ndarray  # what the account buys from us (0 where it does not)


def _world(n: int = 6000, seed: int = 0, vendor_sd: float = 0.35) -> World:
    """Wallets, a model that errs by ``MODEL_SD`` (correlated within an account), vendor
    figures for 30% of cells with log error ``vendor_sd``, and spend at a share of wallet
    drawn independently of both errors (many small shares, a few large)."""
    rng = np.random.default_rng(seed)
    f = len(LEVEL)
    wallet = np.exp(rng.normal(9, 1, (n, 1)) + rng.normal(0, 0.5, (n, f)))
    u = rng.normal(0, ACCOUNT_SD, (n, 1)) + rng.normal(0, CELL_SD, (n, f))
    model = wallet * LEVEL * np.exp(u)
    vendor = np.where(rng.random((n, f)) < 0.3,
                      wallet * np.exp(rng.normal(0, vendor_sd, (n, f))), np.nan)
    share = np.clip(rng.beta(0.8, 1.8, (n, f)), 0.01, 1.0)
    spend = np.where(rng.random((n, f)) < 0.6, wallet * share, 0.0)
    return World(wallet, model, vendor, spend)


def _inside(low: np.ndarray, high: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean((truth >= low) & (truth <= high)))


def test_calibration_finds_the_level_of_vendor_wallets():
    w = _world()
    cal = calibrate_to_external(w.model, w.vendor, ["x", "y", "z"], interval=0.8,
                                min_cells=50, current=w.spend)
    np.testing.assert_allclose(np.exp(cal.shift), 1 / LEVEL, rtol=0.05)
    assert calibrate_to_external(w.model, np.full(w.model.shape, np.nan), ["x", "y", "z"],
                                 interval=0.8, min_cells=50) is None


def test_calibration_tells_the_vendors_noise_from_the_models_error():
    w = _world()
    cal = calibrate_to_external(w.model, w.vendor, ["x", "y", "z"], interval=0.8,
                                min_cells=50, current=w.spend)
    assert cal.vendor_sd == pytest.approx(0.35, abs=0.05)
    assert cal.model_sd == pytest.approx(MODEL_SD, abs=0.04)
    assert cal.spread == pytest.approx(np.hypot(MODEL_SD, 0.35), abs=0.03)
    assert cal.family_sum.correlation == pytest.approx(MODEL_CORR, abs=0.1)
    low, _, high = cal.apply(w.model)
    assert 0.77 <= _inside(low, high, w.wallet) <= 0.83  # every cell, not only the vendor's

    # sized on vendor / model alone, the interval also holds the vendor's noise
    wide = calibrate_to_external(w.model, w.vendor, ["x", "y", "z"], interval=0.8,
                                 min_cells=50)
    assert wide.vendor_sd is None
    low, _, high = wide.apply(w.model)
    assert _inside(low, high, w.wallet) > 0.86


def test_an_exact_vendor_has_no_noise_to_take_out():
    w = _world(vendor_sd=0.0)
    cal = calibrate_to_external(w.model, w.vendor, ["x", "y", "z"], interval=0.8,
                                min_cells=50, current=w.spend)
    assert cal.vendor_sd**2 < 0.025  # a variance measured to about +-0.01
    low, _, high = cal.apply(w.model)
    assert 0.77 <= _inside(low, high, w.wallet) <= 0.83


def test_too_few_buyers_with_vendor_figures_keep_the_wide_interval():
    w = _world(n=400)
    few = np.where(np.arange(400)[:, None] < 40, w.spend, 0.0)
    cal = calibrate_to_external(w.model, w.vendor, ["x", "y", "z"], interval=0.8,
                                min_cells=50, current=few)
    assert cal.vendor_sd is None
    assert cal.model_sd == pytest.approx(cal.spread)


def test_vendor_noise_is_variance_minus_covariance_within_families():
    r = np.array([0.1, -0.2, 0.3, 1.0, 1.4])
    s = np.array([0.0, -0.5, 0.2, 2.0, 2.6])
    fam = np.array([0, 0, 0, 1, 1])
    expect = 0.0
    for f in (0, 1):
        rc, sc = r[fam == f] - r[fam == f].mean(), s[fam == f] - s[fam == f].mean()
        expect += (rc * rc - rc * sc).sum()
    assert vendor_noise(r, s, fam) == pytest.approx(expect / len(r))


def test_family_sum_of_one_cell_or_of_identical_errors_is_the_cells_interval():
    z = norm.ppf(0.9)
    pot = np.array([[100.0, 0.0, 0.0], [100.0, 300.0, 50.0]])
    low, high = pot * np.exp(-0.4 * z), pot * np.exp(0.4 * z)
    vendor = np.zeros(pot.shape, dtype=bool)
    lo, hi = FamilySum(1.0, 0.8).log_bounds(pot, low, high, vendor)
    np.testing.assert_allclose(lo, -0.4 * z)  # one family, or all err alike
    np.testing.assert_allclose(hi, 0.4 * z)
    lo, hi = FamilySum(0.0, 0.8).log_bounds(pot, low, high, vendor)
    assert hi[1] < 0.4 * z and lo[1] > -0.4 * z  # independent errors partly cancel
    lo_v, hi_v = FamilySum(1.0, 0.8).log_bounds(pot, low, high, ~vendor)
    np.testing.assert_allclose([lo_v[1], hi_v[1]], [lo[1], hi[1]])  # vendor: independent
    # no potential: a zero-width interval; a low floored at the potential: none below
    lo, hi = FamilySum(0.5, 0.8).log_bounds(np.zeros((1, 3)), np.zeros((1, 3)),
                                            np.zeros((1, 3)), np.zeros((1, 3), bool))
    assert lo[0] == hi[0] == 0.0
    lo, hi = FamilySum(0.5, 0.8).log_bounds(pot[:1], pot[:1], high[:1], vendor[:1])
    assert lo[0] == 0.0 and hi[0] == pytest.approx(0.4 * z)


def test_account_totals_cover_the_true_total_at_the_nominal_level():
    w = _world()
    cal = calibrate_to_external(w.model, w.vendor, ["x", "y", "z"], interval=0.8,
                                min_cells=50, current=w.spend)
    e_pot = np.round(w.vendor, -1)
    ext = (np.round(e_pot * 0.65, -1), e_pot, np.round(e_pot * 1.5, -1))
    low, pot, high, used = combine(cal.apply(w.model), ext, np.zeros(w.model.shape))
    lo, hi = cal.family_sum.log_bounds(pot, low, high, used)
    total, truth = pot.sum(axis=1), w.wallet.sum(axis=1)
    assert 0.77 <= _inside(total * np.exp(lo), total * np.exp(hi), truth) <= 0.83
    # the families' bounds added up would cover far more than 80%
    assert _inside(low.sum(axis=1), high.sum(axis=1), truth) > 0.88
