"""Wallets of every account in every family, from the configured model, with drivers.

This is where the estimators meet the data: per family, the peer estimator always runs
(it is cheap, and it names the peer group a rep can check), and the quantile GBM runs
on top when it is the configured method and the family has enough buyers.  The result
is a set of (accounts x families) matrices plus, per cell, the method used, the peer
group, a low-confidence flag and the top drivers as JSON text for the account card.

Drivers are built as vectorised string operations: at a million accounts and six
families a Python loop over cells would dominate the stage's time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from growthmap.models.potential._peer import PeerPotential
from growthmap.models.potential._quantile_gbm import QuantileGBMPotential

__all__ = [
    "BASE_FEATURES",
    "SIZE_COLUMNS",
    "WalletEstimate",
    "drivers_json",
    "estimate_wallets",
]

#: Size measures the GBM may use (and the peer method divides by).
SIZE_COLUMNS = ("employees", "annual_revenue")
#: Features whose effect is computed per cell (the most important ones): a card shows three.
_EXPLAINED = 4
#: Firmographics the GBM uses when the accounts table has them.
BASE_FEATURES = ("employees", "annual_revenue", "industry", "region", "country")


@dataclass
class WalletEstimate:
    """Model wallets: every array is (accounts x families)."""

    potential: np.ndarray
    low: np.ndarray
    high: np.ndarray
    method: np.ndarray
    low_confidence: np.ndarray
    peer_group: list[pd.Series]  # one string Series per family
    drivers: list[pd.Series]  # one JSON-text Series per family
    info: dict[str, Any] = field(default_factory=dict)


def _json_str(s: pd.Series) -> pd.Series:
    """JSON-quote each string (json.dumps per distinct value, mapped back)."""
    s = s.astype("string").fillna("")
    uniq = s.unique()
    return s.map({u: json.dumps(str(u)) for u in uniq}).astype("string")


def _effect(x: np.ndarray) -> pd.Series:
    v = np.round(np.nan_to_num(np.asarray(x, dtype=float), nan=0.0, posinf=0.0, neginf=0.0), 3)
    return pd.Series(v).astype("string")


def drivers_json(names: list[str], contrib: np.ndarray, top: int = 3) -> pd.Series:
    """``[{"feature": ..., "effect": ...}, ...]`` of the ``top`` largest contributions.

    ``contrib`` holds log-scale effects; the effect shown is ``exp(c) - 1``, the relative
    change the feature makes against a typical account.
    """
    n, m = contrib.shape
    if m == 0:
        return pd.Series(["[]"] * n, dtype="string")
    k = min(top, m)
    order = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :k]
    quoted = np.array([json.dumps(x) for x in names], dtype=object)
    rows = np.arange(n)
    parts = []
    for j in range(k):
        idx = order[:, j]
        part = ('{"feature": ' + pd.Series(quoted[idx], dtype="string") + ', "effect": '
                + _effect(np.expm1(contrib[rows, idx])) + "}")
        parts.append(part)
    out = "[" + parts[0]
    for p in parts[1:]:
        out = out + ", " + p
    return (out + "]").astype("string")


def _peer_drivers(size_label: str, est: pd.DataFrame) -> pd.Series:
    grp = _json_str("peer group: " + est["peer_group"].astype("string"))
    size = ('[{"feature": ' + json.dumps(f"{size_label} vs peers' median") + ', "effect": '
            + _effect(est["size_ratio"].to_numpy() - 1) + "}, ")
    return (size + '{"feature": ' + grp + ', "effect": '
            + _effect(est["group_ratio"].to_numpy() - 1) + "}]").astype("string")


def estimate_wallets(
    features: pd.DataFrame,
    current: np.ndarray,
    families: list[str],
    cfg: Any,
    seed: int,
    folds: np.ndarray,
) -> WalletEstimate:
    """Estimate every account's wallet in every family with the method of ``cfg``.

    ``features`` holds one row per account (firmographics; ``industry`` and the size
    driver when present), ``current`` the accounts' current spend per family (the
    training target: buyers are the rows with positive spend), ``folds`` each
    account's cross-fitting fold.
    """
    n, n_fam = len(features), len(families)
    pot = np.zeros((n, n_fam))
    low = np.zeros((n, n_fam))
    high = np.zeros((n, n_fam))
    method = np.empty((n, n_fam), dtype=object)
    lowconf = np.zeros((n, n_fam), dtype=bool)
    groups_out: list[pd.Series] = []
    drivers_out: list[pd.Series] = []
    info: dict[str, Any] = {}

    size = cfg.size_driver if cfg.size_driver in features.columns else None
    groups = ("industry",) if "industry" in features.columns else ()
    split = cfg.peer_split if cfg.peer_split in features.columns else None
    peer_x = features.copy()
    if size is None:  # no size column at all: everyone falls back to spend quantiles
        peer_x["_no_size"] = np.nan
        size = "_no_size"
    gbm_cols = [c for c in features.columns if c in BASE_FEATURES or c in cfg.features]
    missing_firmo = peer_x[size].isna().to_numpy().copy()
    if groups:
        missing_firmo |= features["industry"].isna().to_numpy()

    for j, fam in enumerate(families):
        y = np.maximum(np.nan_to_num(current[:, j]), 0.0)
        n_buyers = int((y > 0).sum())
        peer = PeerPotential(size=size, groups=groups, split=split, quantile=cfg.quantile,
                             interval=cfg.interval, min_group_size=cfg.min_group_size,
                             size_band_edges=cfg.size_band_edges,
                             size_label=cfg.size_driver).fit(peer_x, y)
        pe = peer.estimate(peer_x)
        groups_out.append(pe["peer_group"].astype("string"))
        use_gbm = (cfg.method == "quantile_gbm" and n_buyers >= cfg.gbm_min_buyers
                   and gbm_cols)
        if use_gbm:
            gbm = QuantileGBMPotential(
                quantile=cfg.quantile, interval=cfg.interval, n_folds=cfg.folds,
                n_estimators=cfg.n_estimators, learning_rate=cfg.learning_rate,
                num_leaves=cfg.num_leaves, min_child_samples=cfg.min_child_samples,
                max_train_rows=cfg.max_train_rows,
                n_jobs=cfg.n_jobs, random_state=seed)
            x = features[gbm_cols]
            gbm.fit(x, y, folds=folds)
            lo, p, hi = gbm.predict_interval(x, folds=folds)
            eff = gbm.effects(x, folds=folds, features=_EXPLAINED)
            drivers_out.append(drivers_json(list(eff.columns), eff.to_numpy()))
            method[:, j] = "quantile_gbm"
            lowconf[:, j] = missing_firmo
        else:
            lo, p, hi = pe["low"].to_numpy(), pe["potential"].to_numpy(), pe["high"].to_numpy()
            drivers_out.append(_peer_drivers(cfg.size_driver, pe))
            method[:, j] = "peer"
            lowconf[:, j] = pe["low_confidence"].to_numpy() | missing_firmo
        pot[:, j], low[:, j], high[:, j] = p, lo, hi
        info[fam] = {"method": "quantile_gbm" if use_gbm else "peer", "buyers": n_buyers}
    return WalletEstimate(pot, low, high, method, lowconf, groups_out, drivers_out, info)
