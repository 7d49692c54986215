"""Calibration to vendor figures, and the intervals it gives cells and account totals.

Where the ``external_potential`` table holds a vendor's wallet figure ``V`` for an account
and family that the model also prices at ``M``, the log ratio ``r = log(V / M)`` says two
things.  Its median per family is how far the model's level sits below the wallet
(:func:`calibrate_to_external` rescales by it).  Its spread is how far a model wallet
can be from the truth -- but only partly: with ``W`` the true wallet,

    r = log(W / M) + log(V / W) = u + e      (u: the model's error, e: the vendor's)

so an interval sized on ``r`` alone also holds the vendor's own error and covers more
than its nominal level.

**Telling the two errors apart.**  What the account spends with us, ``S``, is a third
measurement of the same wallet: ``s = log(S / M) = u + log(S / W)``, the model's error
plus the log of our share of the wallet.  The vendor does not see our invoices, and the
model is fitted out of fold (an account's own spend never sets its own figure), so the
vendor's error is unrelated to our share and to the model's error, and over the cells
where both a vendor figure and spend exist

    cov(r, s) = var(u) + cov(u, log share)     var(e) = var(r) - cov(r, s).

The vendor's noise is thus measured from the data, without assuming how noisy the vendor
is (its stated low/high may be at any level, or missing).  The one assumption is that our
share of wallet is unrelated to the model's error once the model has seen the
firmographics (``cov(u, log share) = 0``): were accounts the model overrates also those
that give us more, ``var(e)`` would come out a little high and the interval a little
narrow.  The model's error variance is then ``var(r) - var(e)`` over every cell with a
vendor figure, customers and prospects alike (the vendor's noise does not depend on
whether the account buys from us), and the interval of a model cell is the quantiles of
``r`` shrunk by ``sqrt(var(u) / var(r))`` -- exact when both errors are normal on the log
scale, and the shape of ``r`` kept otherwise.

**Account totals** (:class:`FamilySum`).  An account's total is a sum over families, and
its interval is neither the sum of the families' bounds (that assumes every family errs
the same way at once) nor a ratio of vendor to model totals (which holds the vendor's
noise again, and fits accounts whose figures *are* vendor figures no better than the
others).  Each cell's interval says how uncertain the cell is; the model's errors in two
families of one account are correlated (a firm the model underrates in one family tends
to be underrated in the others), and that correlation is measured on the vendor
residuals: the vendor's errors in different families are independent, so the covariance
of ``r`` between two families of one account is the covariance of the model's errors.
The total is then a sum of correlated log-normal wallets, whose interval follows from
matching its mean and variance (Fenton-Wilkinson).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

__all__ = ["Calibration", "FamilySum", "calibrate_to_external", "vendor_noise"]


@dataclass
class Calibration:
    """How model wallets are rescaled to the vendor's level, and the interval around them.

    ``shift`` is the log-scale factor per family; ``bounds`` the log-scale interval of a
    model cell, the vendor's own noise taken out when it could be measured
    (``vendor_sd`` is then its standard deviation on the log scale, else ``None`` and the
    interval holds it, erring on the wide side).  ``spread`` is the standard deviation of
    the log ratio vendor / calibrated model, ``model_sd`` the part of it that is the
    model's error, ``spend_cells`` how many cells had both a vendor figure and spend to
    measure the vendor's noise by.  ``family_sum`` tells how an account's families add up to the
    total's interval (``None`` when too few accounts have two vendor figures to measure
    it).
    """

    shift: np.ndarray
    bounds: tuple[float, float]
    cells: int
    per_family: dict[str, int]
    spread: float
    model_sd: float
    vendor_sd: float | None
    spend_cells: int
    family_sum: FamilySum | None

    def apply(self, potential: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(low, potential, high) of model wallets after calibration."""
        pot = np.asarray(potential, dtype=float) * np.exp(self.shift)[None, :]
        return pot * np.exp(self.bounds[0]), pot, pot * np.exp(self.bounds[1])


def vendor_noise(ratio: np.ndarray, spend_ratio: np.ndarray, family: np.ndarray) -> float:
    """Variance of the vendor's log error: ``var(r) - cov(r, s)`` (see the module doc).

    ``ratio`` is log(vendor / model), ``spend_ratio`` log(spend / model), over cells that
    have both; ``family`` their family codes.  Both are centred per family, so that
    families where we hold a larger share of wallet on average do not count as
    agreement between vendor and spend.  May come out negative when the vendor's error is
    too small to see; the caller decides what to make of that.
    """
    r = np.asarray(ratio, dtype=float)
    s = np.asarray(spend_ratio, dtype=float)
    rc, sc = r.copy(), s.copy()
    for f in np.unique(family):
        m = family == f
        rc[m] -= r[m].mean()
        sc[m] -= s[m].mean()
    return float(np.mean(rc * (rc - sc)))


def _family_covariance(resid: np.ndarray) -> tuple[float, int]:
    """Mean product of residuals of two different families of one account, and the count.

    ``resid`` is (accounts x families), NaN where there is no residual; columns are
    centred first.  Per account the sum over ordered pairs f != g of r_f r_g is
    (sum r)^2 - sum r^2, over k (k - 1) pairs.
    """
    rc = resid - np.nanmean(resid, axis=0, keepdims=True)
    filled = np.nan_to_num(rc, nan=0.0)
    k = np.isfinite(rc).sum(axis=1)
    pairs = int((k * (k - 1)).sum())
    if pairs == 0:
        return 0.0, 0
    total = float((filled.sum(axis=1) ** 2 - (filled**2).sum(axis=1)).sum())
    return total / pairs, pairs // 2


def calibrate_to_external(
    model: np.ndarray,
    external: np.ndarray,
    families: Sequence[str],
    *,
    interval: float,
    min_cells: int,
    current: np.ndarray | None = None,
) -> Calibration | None:
    """Fit the level of model wallets to vendor figures where both exist.

    The model's quantile of buyers' spend ranks accounts well but sits below the full
    wallet wherever shares of wallet are low; a vendor's wallet figures, where some
    exist, say where the level is.  Per family, the median log ratio vendor / model sets
    the shift (families with fewer than ``min_cells`` vendor figures take the pooled
    median).  The spread of what remains, less the vendor's own noise measured against
    ``current`` spend (accounts x families; see the module doc), sets an interval of
    nominal coverage ``interval``.  Without ``current``, or with fewer than ``min_cells``
    cells holding vendor figure and spend, the vendor's noise stays in the interval.
    ``None`` when fewer than ``min_cells`` cells have both a vendor and a model figure.
    """
    model = np.asarray(model, dtype=float)
    external = np.asarray(external, dtype=float)
    both = np.isfinite(external) & (external > 0) & (model > 0)
    if both.sum() < min_cells:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(both, np.log(external) - np.log(model), np.nan)
    pooled = float(np.nanmedian(r))
    shift = np.full(model.shape[1], pooled)
    per_family = {}
    for j, fam in enumerate(families):
        k = int(both[:, j].sum())
        per_family[str(fam)] = k
        if k >= min_cells:
            shift[j] = float(np.nanmedian(r[:, j]))
    resid_m = r - shift[None, :]
    resid = resid_m[both]
    var_r = float(resid.var())

    var_e, n_spend = 0.0, 0
    if current is not None:
        cur = np.nan_to_num(np.asarray(current, dtype=float))
        buy = both & (cur > 0)
        n_spend = int(buy.sum())
        if n_spend >= min_cells:
            with np.errstate(divide="ignore"):
                s = np.log(cur[buy]) - np.log(model[buy]) - np.broadcast_to(shift, cur.shape)[buy]
            fam_code = np.broadcast_to(np.arange(model.shape[1]), model.shape)[buy]
            var_e = vendor_noise(resid_m[buy], s, fam_code)
    # a measured noise at or above the whole spread leaves nothing to tell the model's
    # error by: keep the (wide) spread rather than claim the model is exact
    separable = n_spend >= min_cells and var_e < var_r
    var_e = min(max(var_e, 0.0), var_r) if separable else 0.0
    var_u = var_r - var_e
    shrink = float(np.sqrt(var_u / var_r)) if var_r > 0 else 1.0
    a = (1.0 - interval) / 2.0
    lo, hi = np.quantile(resid, [a, 1.0 - a]) * shrink

    cov_u, n_pairs = _family_covariance(resid_m)
    fam_sum = None
    if n_pairs >= min_cells and var_u > 0:
        fam_sum = FamilySum(float(np.clip(cov_u / var_u, 0.0, 1.0)), interval)
    return Calibration(shift, (float(lo), float(hi)), int(both.sum()), per_family,
                       spread=float(np.sqrt(var_r)), model_sd=float(np.sqrt(var_u)),
                       vendor_sd=float(np.sqrt(var_e)) if separable else None,
                       spend_cells=n_spend, family_sum=fam_sum)


@dataclass(frozen=True)
class FamilySum:
    """The interval of an account's total from its families' intervals.

    Each cell's wallet is taken as ``potential x exp(eta)`` with ``eta`` normal; its
    standard deviation is read off the cell's own interval (above the potential from
    ``high``, below it from ``low``, so a low floored at current spend narrows only the
    lower side).  Model cells of one account are correlated with ``correlation``; vendor
    figures err independently of each other and of the model.  The total, a sum of
    log-normals, is matched in mean and variance by one log-normal (Fenton-Wilkinson),
    whose central ``interval`` gives the bounds.
    """

    correlation: float
    interval: float

    def log_bounds(self, potential: np.ndarray, low: np.ndarray, high: np.ndarray,
                   independent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per account, log(low / potential) <= 0 <= log(high / potential) of the total.

        All arrays are (accounts x families); ``independent`` marks cells whose error is
        unrelated to the account's other cells (vendor figures).  The total's potential
        always lies inside its interval.
        """
        pot = np.maximum(np.asarray(potential, dtype=float), 0.0)
        low = np.asarray(low, dtype=float)
        high = np.asarray(high, dtype=float)
        z = float(norm.ppf(0.5 + self.interval / 2.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            up = np.where(pot > 0, np.log(high / pot) / z, 0.0)
            down = np.where((pot > 0) & (low > 0), np.log(pot / low) / z, up)
        up, down = (np.maximum(np.nan_to_num(x, nan=0.0, posinf=0.0), 0.0) for x in (up, down))
        corr = ~np.asarray(independent, dtype=bool)
        lo_mu, lo_sd = self._lognormal_sum(pot, down, corr)
        hi_mu, hi_sd = self._lognormal_sum(pot, up, corr)
        return np.minimum(lo_mu - z * lo_sd, 0.0), np.maximum(hi_mu + z * hi_sd, 0.0)

    def _lognormal_sum(self, pot: np.ndarray, sd: np.ndarray, corr: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        """(mu, sd) of log(sum_f pot_f exp(eta_f) / sum_f pot_f), moment-matched.

        With weights w_f = pot_f / total and b_f = w_f exp(sd_f^2 / 2), the sum's mean
        is sum b_f and its second moment sum_f sum_g b_f b_g exp(cov_fg).
        """
        total = pot.sum(axis=1)
        w = np.divide(pot, total[:, None], out=np.zeros_like(pot), where=total[:, None] > 0)
        b = w * np.exp(sd**2 / 2.0)
        m1 = b.sum(axis=1)
        m2 = m1**2 + (b**2 * np.expm1(sd**2)).sum(axis=1)
        if self.correlation > 0:
            bc, sc = b * corr, sd * corr
            for f in range(pot.shape[1]):  # pairs f != g of correlated cells, each twice
                for g in range(f + 1, pot.shape[1]):
                    m2 += 2.0 * bc[:, f] * bc[:, g] * np.expm1(
                        self.correlation * sc[:, f] * sc[:, g])
        ok = m1 > 0
        var = np.zeros_like(m1)
        var[ok] = np.maximum(np.log(m2[ok] / m1[ok] ** 2), 0.0)
        mu = np.zeros_like(m1)
        mu[ok] = np.log(m1[ok]) - var[ok] / 2.0
        return mu, np.sqrt(var)
