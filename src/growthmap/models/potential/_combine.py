"""Turning model and vendor wallets into potential: interval, combination, cap, relevance.

The estimators (:mod:`._peer`, :mod:`._quantile_gbm`, :mod:`._external`) each give a
wallet per account and family.  This module holds the rules that are the same whatever
the estimator:

* how wide the interval is (:func:`upper_level`, :func:`mirror_low`): the potential is
  the ``quantile`` of what buying peers spend, taken as the typical (median) wallet of an
  account like this one.  Spend *above* that quantile comes from accounts where we are
  already the preferred supplier, so its tail has the shape of the wallet's tail: if
  ``P(spend > t) = p * P(wallet > t)`` there, the wallet's upper bound of an interval of
  coverage ``c`` is the spend quantile ``1 - (1 - quantile) * (1 - c)``.  Spend *below*
  the potential mixes small wallets with small shares and says nothing about how small
  the wallet could be, so the lower bound mirrors the upper one on the log scale;
* how vendor figures and model figures combine (:func:`combine`);
* the cap on the share one supplier can win and the floor at current spend;
* which industries carry potential in which family (:func:`relevance`).

Calibration to vendor figures, and the intervals it gives cells and account totals, are
in :mod:`._calibration`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "COMBINE_RULES",
    "combine",
    "fold_ids",
    "mirror_low",
    "relevance",
    "split_competitors",
    "upper_level",
]

COMBINE_RULES = ("external_first", "max", "model")


def upper_level(quantile: float, interval: float) -> float:
    """Spend quantile whose value is the wallet's upper interval bound (see module doc)."""
    return 1.0 - (1.0 - quantile) * (1.0 - interval)


def mirror_low(potential: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Lower bound mirrored on the log scale: ``potential / (high / potential)``."""
    potential = np.asarray(potential, dtype=float)
    high = np.maximum(np.asarray(high, dtype=float), potential)
    with np.errstate(divide="ignore", invalid="ignore"):
        low = np.where(high > 0, potential * potential / high, 0.0)
    return np.minimum(np.nan_to_num(low, nan=0.0), potential)  # rounding never crosses


def fold_ids(keys: pd.Series | Sequence[str], n_folds: int, seed: int) -> np.ndarray:
    """Cross-fitting fold of each key, from a seeded hash of the key alone.

    An account keeps its fold when other accounts are added or removed, so its
    potential never depends on where it happens to sit in the table.
    """
    keys = pd.Series(keys, dtype="string").fillna("")
    salted = (str(seed) + "\x1f") + keys
    h = pd.util.hash_pandas_object(salted, index=False).to_numpy()
    return (h % np.uint64(n_folds)).astype(np.int64)


def relevance(
    industry: pd.Series,
    buys: np.ndarray,
    families: Sequence[str],
    *,
    min_buyers: int = 1,
    always: Mapping[str, Sequence[str]] | None = None,
    never: Mapping[str, Sequence[str]] | None = None,
    vendor: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean (accounts x families): does the account's industry carry potential there?

    An industry is relevant to a family when at least ``min_buyers`` of its accounts buy
    the family (``buys`` is accounts x families, True where the account buys).  Accounts
    without an industry are judged on all accounts together.  A vendor figure
    (``vendor``, accounts x families) makes the cell relevant too.  ``always`` / ``never``
    map a family to industries (``"*"`` = all) that override the data, ``never`` last.
    """
    ind = pd.Series(industry).astype("string").fillna("\x00none").to_numpy()
    buys = np.asarray(buys, dtype=bool)
    codes, uniq = pd.factorize(ind)
    n_ind = len(uniq)
    counts = np.zeros((n_ind, buys.shape[1]), dtype=np.int64)
    np.add.at(counts, codes, buys.astype(np.int64))
    rel_ind = counts >= min_buyers
    none_ix = np.where(uniq == "\x00none")[0]
    if len(none_ix):
        rel_ind[none_ix[0]] = buys.sum(axis=0) >= min_buyers
    for rules, value in ((always or {}, True), (never or {}, False)):
        for fam, inds in rules.items():
            if fam not in families:
                continue
            j = list(families).index(fam)
            if "*" in inds:
                rel_ind[:, j] = value
            else:
                rel_ind[np.isin(uniq, list(inds)), j] = value
    out = rel_ind[codes]
    if vendor is not None:
        out = out | np.asarray(vendor, dtype=bool)
        for fam, inds in (never or {}).items():
            if fam in families:
                j = list(families).index(fam)
                out[:, j] &= ~(np.ones(len(ind), bool) if "*" in inds else np.isin(ind, inds))
    return out


def combine(
    model: tuple[np.ndarray, np.ndarray, np.ndarray],
    external: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    current: np.ndarray,
    *,
    rule: str = "external_first",
    cap: float = 1.0,
    relevant: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Combine model and vendor wallets into (low, potential, high, used_external).

    ``model`` and ``external`` are (low, potential, high) like every estimator's
    ``predict_interval``; ``external`` holds NaN where the vendor has no figure; a vendor
    figure without bounds borrows the model's relative interval.  Irrelevant cells get
    no wallet.  The cap scales the wallet to the share one supplier can win, and the
    result is never below current spend (a customer's spend proves that much wallet).
    """
    if rule not in COMBINE_RULES:
        raise ValueError(f"unknown combination rule {rule!r}; use one of {COMBINE_RULES}")
    low, pot, high = (np.asarray(a, dtype=float).copy() for a in model)
    used = np.zeros(pot.shape, dtype=bool)
    if external is not None and rule != "model":
        e_low, e_pot, e_high = (np.asarray(a, dtype=float) for a in external)
        have = np.isfinite(e_pot)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel_low = np.where(pot > 0, low / pot, 1.0)
            rel_high = np.where(pot > 0, high / pot, 1.0)
        e_low = np.where(np.isfinite(e_low), e_low, e_pot * rel_low)
        e_high = np.where(np.isfinite(e_high), e_high, e_pot * rel_high)
        take = have if rule == "external_first" else have & (e_pot >= pot)
        pot = np.where(take, e_pot, pot)
        low = np.where(take, np.minimum(e_low, e_pot), low)
        high = np.where(take, np.maximum(e_high, e_pot), high)
        used = take
    if relevant is not None:
        rel = np.asarray(relevant, dtype=bool)
        pot, low, high = (np.where(rel, a, 0.0) for a in (pot, low, high))
        used = used & rel
    pot, low, high = (np.nan_to_num(a * cap, nan=0.0) for a in (pot, low, high))
    cur = np.maximum(np.nan_to_num(np.asarray(current, dtype=float)), 0.0)
    return np.maximum(low, cur), np.maximum(pot, cur), np.maximum(high, cur), used


def split_competitors(
    potential: pd.DataFrame, competitors: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split whitespace into open and competitor-held parts.

    ``potential`` has account_id, family, potential (the wallet we could win),
    whitespace; ``competitors`` has account_id, family, competitor, share (of the
    account's wallet).  A competitor holds ``share x potential``; when the competitors
    together hold more than the whitespace (shares are estimates and need not add up),
    their holdings are scaled down in proportion so that held + open = whitespace.

    Returns (per-competitor rows: account_id, family, competitor, held; per cell:
    account_id, family, whitespace_competitor, whitespace_open).
    """
    comp = competitors[["account_id", "family", "competitor", "share"]].copy()
    comp["share"] = pd.to_numeric(comp["share"], errors="coerce").clip(0, 1).fillna(0.0)
    comp = comp.groupby(["account_id", "family", "competitor"], as_index=False)["share"].sum()
    cells = potential[["account_id", "family", "potential", "whitespace"]]
    m = comp.merge(cells, on=["account_id", "family"], how="inner")
    m["held"] = m["share"] * m["potential"]
    tot = m.groupby(["account_id", "family"])["held"].transform("sum")
    scale = np.where(tot > m["whitespace"], m["whitespace"] / tot.where(tot > 0, 1.0), 1.0)
    m["held"] = m["held"] * scale
    per = m[["account_id", "family", "competitor", "held"]].sort_values(
        ["account_id", "family", "competitor"], ignore_index=True)
    agg = m.groupby(["account_id", "family"], as_index=False)["held"].sum()
    out = cells[["account_id", "family", "whitespace"]].merge(
        agg, on=["account_id", "family"], how="left")
    out["whitespace_competitor"] = out["held"].fillna(0.0)
    out["whitespace_open"] = (out["whitespace"] - out["whitespace_competitor"]).clip(lower=0.0)
    return per, out[["account_id", "family", "whitespace_competitor", "whitespace_open"]]
