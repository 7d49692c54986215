"""The level of a wallet without vendor figures, graded relevance, and the intervals of both.

**Level.**  The model prices a wallet at what the best-penetrated buyers (the
``quantile`` of spend) give *us*.  Where vendor figures exist, the calibration measures
how far that sits below the wallet (:mod:`._calibration`).  Without them, nothing in our
own data can tell: the level is an assumption, ``best_share`` -- the share of its
wallet a best-penetrated buyer gives us -- and the model's figures are divided by it.
Its uncertainty (``best_share_range``, an 80% range) is one error common to every
account, so it widens every cell's interval (in quadrature with the model's own error on
the log scale) and does not average out in an account's total.

**Graded relevance.**  A family an account does not need has no wallet at all.  With
``need`` the probability that it needs the family (:func:`._baseline.need_share`), the
cell's wallet is a mixture: 0 with probability ``1 - need``, else log-normal around the
model's wallet.  The published potential is its expectation (``need x wallet``), so cells
an account will likely never buy stop ranking with the ones it will, and account totals
stop counting wallets that are not there.  The interval is the mixture's central
quantiles: its low is 0 once ``1 - need`` exceeds the lower tail.

**Account totals.**  The sum over families of such cells is matched in mean and variance
by one log-normal (Fenton-Wilkinson, as :class:`._calibration.FamilySum` does): model
cells of one account correlated with ``correlation``, the level error common to all of
them, vendor cells independent, and the Bernoulli of need in the second moment.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from scipy.stats import norm

__all__ = ["ASSUMED_CORRELATION", "account_log_bounds", "cell_sd", "level_sd",
           "mixture_bounds", "z_of"]

#: Correlation of the model's errors across one account's families when no vendor
#: figures measure it (where they do, the demo world measures about 0.2).
ASSUMED_CORRELATION = 0.3


def z_of(interval: float) -> float:
    """The standard normal quantile that bounds a central ``interval``."""
    return float(norm.ppf(0.5 + interval / 2.0))


def level_sd(share_range: tuple[float, float] | list[float], interval: float = 0.8) -> float:
    """Log-scale sd of the level assumption whose ``interval`` range is ``share_range``."""
    lo, hi = share_range
    return float(np.log(hi / lo) / (2.0 * z_of(interval)))


def cell_sd(pot: np.ndarray, low: np.ndarray, high: np.ndarray, interval: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """Log-scale sd above and below each cell's potential, read off its interval.

    A low of 0 (or floored at spend) borrows the upper side's sd.  float32: these are
    widths, and a million accounts' six families stay small.
    """
    z = z_of(interval)
    with np.errstate(divide="ignore", invalid="ignore"):
        up = np.where(pot > 0, np.log(high / pot) / z, 0.0)
        down = np.where((pot > 0) & (low > 0), np.log(pot / low) / z, up)
    up, down = (np.maximum(np.nan_to_num(x, nan=0.0, posinf=0.0), 0.0).astype(np.float32)
                for x in (up, down))
    return up, down


def mixture_bounds(wallet: np.ndarray, up: np.ndarray, down: np.ndarray, need: np.ndarray,
                   interval: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, potential, high) of a cell that is 0 with probability ``1 - need`` and
    else log-normal around ``wallet`` (sd ``up`` above it, ``down`` below).

    The potential is the expectation's median-based stand-in ``need x wallet``; the
    bounds are the mixture's ``(1 -+ interval) / 2`` quantiles, and the potential is kept
    inside them.
    """
    p = np.clip(np.asarray(need, dtype=float), 1e-6, 1.0)
    tail = (1.0 - interval) / 2.0
    q_hi = (1.0 - tail - (1.0 - p)) / p
    q_lo = (tail - (1.0 - p)) / p
    with np.errstate(invalid="ignore", divide="ignore"):
        # the standard normal quantile itself (norm.ppf checks and broadcasts its
        # arguments first, which cost more than the quantile over millions of cells)
        z_hi = ndtri(np.clip(q_hi, 1e-9, 1 - 1e-9))
        z_lo = ndtri(np.clip(q_lo, 1e-9, 1 - 1e-9))
        high = np.where(q_hi > 0, wallet * np.exp(np.where(z_hi >= 0, up, down) * z_hi), 0.0)
        low = np.where(q_lo > 0, wallet * np.exp(np.where(z_lo >= 0, up, down) * z_lo), 0.0)
    pot = wallet * p
    pot = np.where(np.asarray(need) >= 1.0, wallet, pot)
    return np.minimum(np.nan_to_num(low), pot), pot, np.maximum(np.nan_to_num(high), pot)


def account_log_bounds(pot: np.ndarray, up: np.ndarray, down: np.ndarray,
                       need: np.ndarray | None, correlated: np.ndarray, correlation: float,
                       common_sd: float, interval: float) -> tuple[np.ndarray, np.ndarray]:
    """Per account, log(low / total) <= 0 <= log(high / total) of the sum of its cells.

    ``pot`` are the published cells (need x wallet), ``up``/``down`` the log sd of a
    cell's wallet when needed (the level's share included), ``correlated`` marks model
    cells (vendor cells err on their own), ``common_sd`` the level's sd, shared by every
    model cell.
    """
    z = z_of(interval)
    lo_mu, lo_sd = _sum(pot, down, need, correlated, correlation, common_sd)
    hi_mu, hi_sd = _sum(pot, up, need, correlated, correlation, common_sd)
    return np.minimum(lo_mu - z * lo_sd, 0.0), np.maximum(hi_mu + z * hi_sd, 0.0)


def _sum(pot: np.ndarray, sd: np.ndarray, need: np.ndarray | None, corr: np.ndarray,
         rho: float, common: float) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sd) of log(sum_f X_f / sum_f pot_f), moment-matched.

    X_f = B_f W_f exp(eta_f) with B_f ~ Bernoulli(need_f), E[X_f] = pot_f exp(sd_f^2/2);
    cov(eta_f, eta_g) = rho s_f s_g + common^2 for two model cells (s: the sd without
    the common part), 0 otherwise; E[X_f^2] carries 1 / need_f.
    """
    pot = np.maximum(np.asarray(pot, dtype=float), 0.0)
    sd = np.asarray(sd, dtype=float)
    total = pot.sum(axis=1)
    w = np.divide(pot, total[:, None], out=np.zeros_like(pot), where=total[:, None] > 0)
    b = w * np.exp(sd**2 / 2.0)
    m1 = b.sum(axis=1)
    inv_p = 1.0 if need is None else 1.0 / np.clip(np.asarray(need, dtype=float), 1e-6, 1.0)
    m2 = m1**2 + (b**2 * (np.exp(sd**2) * inv_p - 1.0)).sum(axis=1)
    c = np.asarray(corr, dtype=bool)
    own = np.sqrt(np.maximum(sd**2 - common**2 * c, 0.0)) * c
    bc = b * c
    if rho > 0 or common > 0:
        for f in range(pot.shape[1]):  # pairs f != g of model cells, each twice
            for g in range(f + 1, pot.shape[1]):
                m2 += 2.0 * bc[:, f] * bc[:, g] * np.expm1(
                    rho * own[:, f] * own[:, g] + common**2)
    ok = m1 > 0
    var = np.zeros_like(m1)
    var[ok] = np.maximum(np.log(m2[ok] / m1[ok] ** 2), 0.0)
    mu = np.zeros_like(m1)
    mu[ok] = np.log(m1[ok]) - var[ok] / 2.0
    return mu, np.sqrt(var)
