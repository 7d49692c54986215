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
    "split_competitor_cells",
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
    codes, uniq = pd.factorize(pd.Series(industry))  # missing: -1, judged on everyone
    uniq = np.asarray([str(u) for u in uniq], dtype=object)
    buys = np.asarray(buys, dtype=bool)
    n_ind = len(uniq)
    counts = np.zeros((n_ind + 1, buys.shape[1]), dtype=np.int64)
    np.add.at(counts, codes, buys.astype(np.int64))  # code -1 adds to the last row
    rel_ind = counts >= min_buyers
    rel_ind[n_ind] = buys.sum(axis=0) >= min_buyers

    def named(inds: Sequence[str]) -> np.ndarray:
        """Which industry codes (rows of rel_ind, 'none' last) the rule names."""
        if "*" in inds:
            return np.ones(n_ind + 1, dtype=bool)
        return np.append(np.isin(uniq, list(inds)), False)

    for rules, value in ((always or {}, True), (never or {}, False)):
        for fam, inds in rules.items():
            if fam not in families:
                continue
            rel_ind[named(inds), list(families).index(fam)] = value
    out = rel_ind[codes]
    if vendor is not None:
        out = out | np.asarray(vendor, dtype=bool)
        for fam, inds in (never or {}).items():
            if fam in families:
                out[:, list(families).index(fam)] &= ~named(inds)[codes]
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
    low, pot, high = (np.asarray(a, dtype=float) for a in model)  # never written in place
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
    pot, low, high = (np.nan_to_num(a * cap if cap != 1.0 else a, nan=0.0)
                      for a in (pot, low, high))
    cur = np.maximum(np.nan_to_num(np.asarray(current, dtype=float)), 0.0)
    return np.maximum(low, cur), np.maximum(pot, cur), np.maximum(high, cur), used


def split_competitor_cells(
    cell: np.ndarray, competitor: np.ndarray, share: np.ndarray, potential: np.ndarray,
    whitespace: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split whitespace into open and competitor-held parts, on cell positions.

    ``cell`` is each competitor row's position in the flat ``potential`` /
    ``whitespace`` arrays (-1: no such cell), ``competitor`` its competitor code (codes
    in the order the per-competitor rows should come out), ``share`` the competitor's
    share of the account's wallet.  A competitor holds ``share x potential``; when the
    competitors together hold more than the whitespace (shares are estimates and need
    not add up), their holdings are scaled down in proportion so that held + open =
    whitespace.  Rows naming the same cell and competitor add up.

    Returns (cell, competitor, held) of the per-competitor rows, sorted by cell then
    competitor, and the competitor-held whitespace of every cell.
    """
    cell = np.asarray(cell, dtype=np.int64)
    competitor = np.asarray(competitor, dtype=np.int64)
    share = np.nan_to_num(np.clip(np.asarray(share, dtype=float), 0.0, 1.0), nan=0.0)
    ok = (cell >= 0) & (competitor >= 0)
    cell, competitor, share = cell[ok], competitor[ok], share[ok]
    n_comp = int(competitor.max()) + 1 if len(competitor) else 1
    pair, inverse = np.unique(cell * n_comp + competitor, return_inverse=True)
    share = np.bincount(inverse, weights=share, minlength=len(pair))
    cell, competitor = pair // n_comp, pair % n_comp
    held = share * potential[cell]
    cells, start = np.unique(cell, return_index=True)
    tot = np.add.reduceat(held, start) if len(held) else np.zeros(0)
    ws = whitespace[cells]
    scale = np.where(tot > ws, ws / np.where(tot > 0, tot, 1.0), 1.0)
    held = held * np.repeat(scale, np.diff(np.append(start, len(held))))
    held_cell = np.zeros(len(whitespace))
    held_cell[cells] = np.add.reduceat(held, start) if len(held) else 0.0
    return cell, competitor, held, held_cell


def split_competitors(
    potential: pd.DataFrame, competitors: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`split_competitor_cells` on frames keyed by account_id and family.

    ``potential`` has account_id, family, potential (the wallet we could win),
    whitespace; ``competitors`` has account_id, family, competitor, share (of the
    account's wallet).  Returns (per-competitor rows: account_id, family, competitor,
    held; per cell: account_id, family, whitespace_competitor, whitespace_open).
    """
    keys = pd.MultiIndex.from_frame(potential[["account_id", "family"]].astype(object))
    cell = keys.get_indexer(pd.MultiIndex.from_frame(
        competitors[["account_id", "family"]].astype(object)))
    comp_codes, names = pd.factorize(competitors["competitor"].astype(object), sort=True)
    share = pd.to_numeric(competitors["share"], errors="coerce").to_numpy(dtype=float)
    ws = potential["whitespace"].to_numpy(dtype=float)
    c, k, held, held_cell = split_competitor_cells(
        cell, comp_codes, share, potential["potential"].to_numpy(dtype=float), ws)
    per = pd.DataFrame({"account_id": potential["account_id"].to_numpy()[c],
                        "family": potential["family"].to_numpy()[c],
                        "competitor": np.asarray(names, dtype=object)[k], "held": held})
    per = per.sort_values(["account_id", "family", "competitor"], ignore_index=True)
    out = potential[["account_id", "family"]].copy()
    out["whitespace_competitor"] = held_cell
    out["whitespace_open"] = np.maximum(ws - held_cell, 0.0)
    return per, out
