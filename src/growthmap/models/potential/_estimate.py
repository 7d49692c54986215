"""Wallets of every account in every family, from the configured model, with drivers.

This is where the estimators meet the data: per family, the peer estimator runs (it is
cheap, and it names the peer group a rep can check), and the quantile GBM runs on top
when it is the configured method and the family has enough buyers.  The result is a
set of (accounts x families) matrices plus, per family, the method used, the peer
groups (categorical) and the drivers (as numbers: :mod:`._drivers` writes the text).

Two switches keep large runs lean: ``interval=False`` skips the upper-quantile models
when the interval will come from the calibration to vendor figures (or is not needed),
and ``explain=False`` skips drivers and peer groups (the backtest only needs the
wallets).  Neither changes the potential itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from growthmap.models.potential._combine import mirror_low
from growthmap.models.potential._drivers import Drivers, GBMDrivers, PeerDrivers
from growthmap.models.potential._peer import PeerPotential
from growthmap.models.potential._quantile_gbm import QuantileGBMPotential

__all__ = [
    "BASE_FEATURES",
    "SIZE_COLUMNS",
    "WalletEstimate",
    "estimate_wallets",
]

#: Size measures the GBM may use (and the peer method divides by).
SIZE_COLUMNS = ("employees", "annual_revenue")
#: Drivers kept per cell (largest effects first): a card shows three.
_TOP = 3
#: Firmographics the GBM uses when the accounts table has them.
BASE_FEATURES = ("employees", "annual_revenue", "industry", "region", "country")


@dataclass
class WalletEstimate:
    """Model wallets: every array is (accounts x families); ``low`` / ``high`` are
    ``None`` when the interval was not asked for, ``peer_group`` / ``drivers`` empty
    when drivers were not."""

    potential: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    method: list[str]  # per family: "quantile_gbm" or "peer"
    low_confidence: np.ndarray
    peer_group: list[pd.Categorical] = field(default_factory=list)
    drivers: list[Drivers] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def estimate_wallets(
    features: pd.DataFrame,
    current: np.ndarray,
    families: list[str],
    cfg: Any,
    seed: int,
    folds: np.ndarray,
    *,
    interval: bool = True,
    explain: bool = True,
) -> WalletEstimate:
    """Estimate every account's wallet in every family with the method of ``cfg``.

    ``features`` holds one row per account (firmographics; ``industry`` and the size
    driver when present; text columns best as categoricals, which every family then
    reads without converting text), ``current`` the accounts' current spend per family
    (the training target: buyers are the rows with positive spend), ``folds`` each
    account's cross-fitting fold.
    """
    n, n_fam = len(features), len(families)
    pot = np.zeros((n, n_fam))
    low = np.zeros((n, n_fam)) if interval else None
    high = np.zeros((n, n_fam)) if interval else None
    lowconf = np.zeros((n, n_fam), dtype=bool)
    out = WalletEstimate(pot, low, high, [], lowconf)

    size = cfg.size_driver if cfg.size_driver in features.columns else None
    groups = ("industry",) if "industry" in features.columns else ()
    split = cfg.peer_split if cfg.peer_split in features.columns else None
    peer_x = features
    if size is None:  # no size column at all: everyone falls back to spend quantiles
        peer_x = features.assign(_no_size=np.nan)
        size = "_no_size"
    gbm_cols = [c for c in features.columns if c in BASE_FEATURES or c in cfg.features]
    missing_firmo = peer_x[size].isna().to_numpy().copy()
    if groups:
        missing_firmo |= features["industry"].isna().to_numpy()
    x_gbm = features[gbm_cols] if gbm_cols else None

    for j, fam in enumerate(families):
        y = np.maximum(np.nan_to_num(current[:, j]), 0.0)
        n_buyers = int((y > 0).sum())
        use_gbm = (cfg.method == "quantile_gbm" and n_buyers >= cfg.gbm_min_buyers
                   and x_gbm is not None)
        pe = None
        if explain or not use_gbm:
            peer = PeerPotential(size=size, groups=groups, split=split, quantile=cfg.quantile,
                                 interval=cfg.interval, min_group_size=cfg.min_group_size,
                                 size_band_edges=cfg.size_band_edges,
                                 size_label=cfg.size_driver).fit(peer_x, y)
            pe = peer.estimate(peer_x)
            if explain:
                out.peer_group.append(pe["peer_group"].array)
        if use_gbm:
            gbm = QuantileGBMPotential(
                quantile=cfg.quantile, interval=cfg.interval, n_folds=cfg.folds,
                n_estimators=cfg.n_estimators, learning_rate=cfg.learning_rate,
                num_leaves=cfg.num_leaves, min_child_samples=cfg.min_child_samples,
                max_train_rows=cfg.max_train_rows, n_jobs=cfg.n_jobs, random_state=seed,
                upper=interval)
            gbm.fit(x_gbm, y, folds=folds)
            if explain:
                p, idx, eff = gbm.explain(x_gbm, folds=folds, top=_TOP)
                out.drivers.append(GBMDrivers(list(gbm.features_), idx, eff))
            else:
                p = gbm.predict(x_gbm, folds=folds)
            if interval:
                hi = np.maximum(gbm.predict_upper(x_gbm, folds=folds), p)
                high[:, j] = hi  # type: ignore[index]
                low[:, j] = mirror_low(p, hi)  # type: ignore[index]
            lowconf[:, j] = missing_firmo
        else:
            assert pe is not None
            p = pe["potential"].to_numpy()
            if interval:
                low[:, j] = pe["low"].to_numpy()  # type: ignore[index]
                high[:, j] = pe["high"].to_numpy()  # type: ignore[index]
            if explain:
                out.drivers.append(PeerDrivers(cfg.size_driver, pe["peer_group"].array,
                                               pe["size_ratio"].to_numpy(),
                                               pe["group_ratio"].to_numpy()))
            lowconf[:, j] = pe["low_confidence"].to_numpy() | missing_firmo
        pot[:, j] = p
        out.method.append("quantile_gbm" if use_gbm else "peer")
        out.info[fam] = {"method": out.method[-1], "buyers": n_buyers}
    return out
