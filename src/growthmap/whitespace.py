"""The ``potential`` stage: wallets, whitespace, shares, competitor split and drivers.

For every account (prospects too) and every product family it estimates the wallet with
the configured method (:mod:`growthmap.models.potential`), calibrates its level to vendor
figures where there are any, combines with those figures, applies the relevance rules
and the cap, floors at current spend, and derives

* whitespace = max(potential - current, 0) and share of wallet = current / potential;
* the split of whitespace into open and competitor-held (``competitors`` table);
* the account totals, value and potential bands, the value x potential matrix, ROAD and
  the markets (:mod:`growthmap.matrix`);
* the evaluation stored in the snapshot (:mod:`growthmap.evaluate_potential`).

Models need the data in memory, so this stage works on pandas frames; the bands, matrix,
ROAD and markets that follow are Ibis expressions again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd

from growthmap.config._potential import PotentialConfig
from growthmap.contract import FAMILY_UNASSIGNED
from growthmap.matrix import account_bands, headline, markets, matrix, resolve_thresholds
from growthmap.models.potential import (
    FamilySum,
    calibrate_to_external,
    combine,
    fold_ids,
    relevance,
    split_competitors,
)
from growthmap.models.potential._estimate import BASE_FEATURES, WalletEstimate, estimate_wallets
from growthmap.pipeline import RunContext, register_stage

__all__ = ["POTENTIAL_COLUMNS", "PotentialResult", "compute_potential", "stage"]

#: Columns of the ``potential`` output, in order (agreed with the stages that read it).
POTENTIAL_COLUMNS = ("account_id", "family", "current", "potential", "low", "high",
                     "whitespace", "whitespace_open", "whitespace_competitor",
                     "share_of_wallet", "method", "peer_group", "low_confidence", "drivers")


@dataclass
class PotentialResult:
    """The stage's tables (pandas) and what it learnt along the way."""

    potential: pd.DataFrame
    account: pd.DataFrame
    competitor: pd.DataFrame
    info: dict[str, Any]


def _families(ctx: RunContext, afv: pd.DataFrame) -> list[str]:
    fams = set(afv["family"].dropna().astype(str))
    products = ctx.input("products")
    if products is not None and "family" in products.columns:
        p = ctx.source.backend.to_pandas(products.select("family").distinct())
        fams |= set(p["family"].dropna().astype(str))
    if not fams:
        fams = {FAMILY_UNASSIGNED}
    return sorted(fams)


def _features(ctx: RunContext, av: pd.DataFrame, cfg: PotentialConfig) -> pd.DataFrame:
    """Firmographics per account (account_value order) plus the columns the config names."""
    cols = [c for c in BASE_FEATURES if c in av.columns]
    if cfg.peer_split and cfg.peer_split in av.columns and cfg.peer_split not in cols:
        cols.append(cfg.peer_split)
    feats = av[["account_id", *cols]].copy()
    extra = [c for c in cfg.features if c not in feats.columns]
    if extra:
        acc = ctx.require("accounts", "potential features")
        missing = [c for c in extra if c not in acc.columns]
        for c in missing:
            ctx.note(f"potential.features names {c!r}, which the accounts table does not "
                     "have; the model goes on without it")
        have = [c for c in extra if c in acc.columns]
        if have:
            a = ctx.source.backend.to_pandas(acc.select("account_id", *have))
            feats = feats.merge(a.drop_duplicates("account_id"), on="account_id", how="left")
    for c in ("employees", "annual_revenue"):
        if c in feats.columns:
            feats[c] = pd.to_numeric(feats[c], errors="coerce").astype(float)
    return feats.drop(columns="account_id")


def _matrix(cells: pd.DataFrame, ids: pd.Series, families: list[str],
            value: str) -> np.ndarray:
    """Pivot account x family rows into a dense (accounts x families) array (NaN = none)."""
    out = np.full((len(ids), len(families)), np.nan)
    if cells.empty:
        return out
    row = pd.Index(ids).get_indexer(cells["account_id"])
    col = pd.Index(families).get_indexer(cells["family"].astype(str))
    ok = (row >= 0) & (col >= 0)
    out[row[ok], col[ok]] = pd.to_numeric(cells[value], errors="coerce").to_numpy()[ok]
    return out


def _external(ctx: RunContext, ids: pd.Series, families: list[str]
              ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray] | None, np.ndarray | None]:
    t = ctx.input("external_potential")
    if t is None:
        return None, None
    cols = [c for c in ("account_id", "family", "potential", "low", "high", "source")
            if c in t.columns]
    ext = ctx.source.backend.to_pandas(t.select(*cols))
    ext = ext[pd.to_numeric(ext["potential"], errors="coerce").notna()]
    if ext.empty:
        return None, None
    for c in ("low", "high"):
        ext[c] = pd.to_numeric(ext[c], errors="coerce") if c in ext else np.nan
    ext["source"] = ext["source"].astype("string") if "source" in ext else "vendor"
    ext = ext.groupby(["account_id", "family"], as_index=False).agg(
        potential=("potential", "mean"), low=("low", "mean"), high=("high", "mean"),
        source=("source", "first"))
    arrays = tuple(_matrix(ext, ids, families, c) for c in ("low", "potential", "high"))
    src = np.full((len(ids), len(families)), "vendor", dtype=object)
    row = pd.Index(ids).get_indexer(ext["account_id"])
    col = pd.Index(families).get_indexer(ext["family"].astype(str))
    ok = (row >= 0) & (col >= 0)
    src[row[ok], col[ok]] = ext["source"].fillna("vendor").astype(str).to_numpy()[ok]
    return arrays, src  # type: ignore[return-value]


def compute_potential(ctx: RunContext) -> PotentialResult:
    """Every account's potential per family and in total (see the module doc)."""
    cfg = ctx.config.potential
    seed = cfg.seed if cfg.seed is not None else ctx.config.run.seed
    av = ctx.frame("account_value").sort_values("account_id", ignore_index=True)
    afv = ctx.frame("account_family_value")
    ids = av["account_id"].astype(str)
    families = _families(ctx, afv)
    current = np.maximum(np.nan_to_num(_matrix(afv, ids, families, "revenue_t12m")), 0.0)
    feats = _features(ctx, av, cfg)
    if cfg.size_driver not in feats.columns or feats[cfg.size_driver].isna().all():
        ctx.note(f"accounts have no {cfg.size_driver}: peer groups compare spend alone "
                 "and every potential is flagged low-confidence")
    folds = fold_ids(ids, cfg.folds, seed)
    ctx.step("potential: models")
    est = estimate_wallets(feats, current, families, cfg, seed, folds)
    info: dict[str, Any] = {"families": est.info}

    external, sources = _external(ctx, ids, families)
    if external is None:
        ctx.note("no external_potential table: potential comes from the model alone")
    low, pot, high, family_sum = _calibrate(est, external, current, families, cfg, info)
    model_pot = pot
    # an industry is relevant to a family when its accounts ever bought it (up to as-of)
    ever = np.isfinite(_matrix(afv, ids, families, "revenue_t12m"))
    industry = feats["industry"] if "industry" in feats.columns else pd.Series([None] * len(ids))
    rel = relevance(industry, ever, families, min_buyers=cfg.relevance_min_buyers,
                    always=cfg.always_relevant, never=cfg.never_relevant,
                    vendor=None if external is None else np.isfinite(external[1]))
    low, pot, high, used_ext = combine((low, pot, high), external, current, rule=cfg.combine,
                                       cap=cfg.cap, relevant=rel)
    method = np.where(used_ext, "external", est.method)
    method = np.where(~rel & ~used_ext, "not_relevant", method)
    p = _cells(ids, families, current, low, pot, high, method, est, used_ext, rel,
               _external_drivers(used_ext, sources, external, model_pot))
    p, comp_rows = _competitor_split(ctx, p)
    acc = _account_totals(ids, current, pot, low, high, family_sum, used_ext,
                          est.low_confidence & ~used_ext & (pot > 0))
    acc["status"] = av["status"].to_numpy()
    info["model_check"] = _quantile_check(est.potential, current, rel, cfg.quantile)
    return PotentialResult(p, acc, comp_rows, info)


def _calibrate(est: WalletEstimate, external: tuple[np.ndarray, ...] | None,
               current: np.ndarray, families: list[str], cfg: PotentialConfig,
               info: dict[str, Any]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, FamilySum | None]:
    """Model wallets at the vendor's level (when configured and possible), and how the
    families add up to the interval of an account's total (None: add up their bounds).

    Current spend lets the calibration tell the vendor's own noise from the model's
    error (see :mod:`growthmap.models.potential._calibration`)."""
    if external is None or not cfg.calibrate:
        return est.low, est.potential, est.high, None
    cal = calibrate_to_external(est.potential, external[1], families, interval=cfg.interval,
                                min_cells=cfg.calibration_min_cells, current=current)
    if cal is None:
        return est.low, est.potential, est.high, None
    low, pot, high = cal.apply(est.potential)
    fam_sum = cal.family_sum
    info["calibration"] = {
        "cells": cal.cells, "per_family": cal.per_family,
        "factor": dict(zip(families, np.round(np.exp(cal.shift), 4).tolist(), strict=True)),
        "interval_factors": [round(float(np.exp(b)), 4) for b in cal.bounds],
        "log_sd_vendor_vs_model": round(cal.spread, 4), "log_sd_model": round(cal.model_sd, 4),
        "log_sd_vendor": None if cal.vendor_sd is None else round(cal.vendor_sd, 4),
        "vendor_noise_cells": cal.spend_cells,
        "family_correlation": None if fam_sum is None else round(fam_sum.correlation, 4)}
    return low, pot, high, fam_sum


def _competitor_split(ctx: RunContext, p: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add whitespace_open / whitespace_competitor; the per-competitor rows."""
    rows = pd.DataFrame({"account_id": pd.Series(dtype=str), "family": pd.Series(dtype=str),
                         "competitor": pd.Series(dtype=str), "held": pd.Series(dtype=float)})
    comp_t = ctx.input("competitors")
    if comp_t is None:
        ctx.note("no competitors table: whitespace is not split into open and "
                 "competitor-held")
        p["whitespace_open"] = p["whitespace"]
        p["whitespace_competitor"] = 0.0
    else:
        comp = ctx.source.backend.to_pandas(
            comp_t.select("account_id", "family", "competitor", "share"))
        rows, split = split_competitors(p, comp)
        p["whitespace_competitor"] = split["whitespace_competitor"].to_numpy()
        p["whitespace_open"] = split["whitespace_open"].to_numpy()
    return p[list(POTENTIAL_COLUMNS)], rows


def _account_totals(ids: pd.Series, current: np.ndarray, pot: np.ndarray, low: np.ndarray,
                    high: np.ndarray, family_sum: FamilySum | None, vendor: np.ndarray,
                    low_confidence: np.ndarray) -> pd.DataFrame:
    """Per account: sums over families, and an interval for the total.

    With ``family_sum`` the interval is that of a sum of the families' wallets, model
    cells correlated as measured, ``vendor`` cells (vendor figures) independent."""
    cur_t, pot_t = current.sum(axis=1), pot.sum(axis=1)
    if family_sum is not None:
        lo, hi = family_sum.log_bounds(pot, low, high, independent=vendor)
        low_t = np.minimum(np.maximum(pot_t * np.exp(lo), cur_t), pot_t)
        high_t = pot_t * np.exp(hi)
    else:  # the families' bounds added up: wide, since families rarely all err alike
        low_t, high_t = low.sum(axis=1), high.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sow = np.where(pot_t > 0, cur_t / pot_t, np.nan)
    return pd.DataFrame({
        "account_id": ids.to_numpy(dtype=object), "current": cur_t, "potential": pot_t,
        "low": low_t, "high": high_t, "whitespace": np.maximum(pot - current, 0).sum(axis=1),
        "low_confidence": low_confidence.any(axis=1), "share_of_wallet": sow,
    })


def _cells(ids: pd.Series, families: list[str], current: np.ndarray, low: np.ndarray,
           pot: np.ndarray, high: np.ndarray, method: np.ndarray, est: WalletEstimate,
           used_ext: np.ndarray, rel: np.ndarray, ext_drivers: pd.Series) -> pd.DataFrame:
    """The account x family table, account-major, text columns kept as Arrow strings."""
    n, nf = current.shape
    order = np.add.outer(np.arange(n), np.arange(nf) * n).ravel()

    def flat(per_family: list[pd.Series]) -> pd.Series:
        s = pd.concat(per_family, ignore_index=True).iloc[order].reset_index(drop=True)
        return s.astype("string[pyarrow]")

    drivers = flat(est.drivers)
    used = pd.Series(used_ext.ravel())
    drivers = drivers.mask(used, ext_drivers)
    drivers = drivers.mask(pd.Series((~rel & ~used_ext).ravel()),
                           '[{"feature": "industry does not buy this family", "effect": -1.0}]')
    ws = np.maximum(pot - current, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        sow = np.where(pot > 0, current / pot, np.nan)
    return pd.DataFrame({
        "account_id": pd.Series(ids.to_numpy(), dtype="string[pyarrow]").repeat(nf)
        .reset_index(drop=True),
        "family": pd.Series(np.tile(np.asarray(families, dtype=object), n),
                            dtype="string[pyarrow]"),
        "current": current.ravel(), "potential": pot.ravel(),
        "low": low.ravel(), "high": high.ravel(), "whitespace": ws.ravel(),
        "share_of_wallet": sow.ravel(),
        "method": pd.Series(method.ravel(), dtype="string[pyarrow]"),
        "peer_group": flat(est.peer_group),
        "low_confidence": (est.low_confidence & ~used_ext).ravel(),
        "drivers": drivers,
    })


def _external_drivers(used: np.ndarray, sources: np.ndarray | None,
                      external: tuple[np.ndarray, ...] | None,
                      model: np.ndarray) -> pd.Series:
    """Drivers of cells whose potential is the vendor's figure: source and vs the model."""
    out = pd.Series(pd.NA, index=range(used.size), dtype="string[pyarrow]")
    if external is None or sources is None or not used.any():
        return out
    idx = np.flatnonzero(used.ravel())
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = external[1].ravel()[idx] / model.ravel()[idx] - 1
    names = pd.Series(sources.ravel()[idx]).map(lambda s: json.dumps(f"vendor figure ({s})"))
    eff = pd.Series(np.round(np.nan_to_num(ratio, posinf=0.0), 3)).astype(str)
    out.iloc[idx] = ('[{"feature": ' + names + ', "effect": ' + eff + "}]").to_numpy()
    return out


def _quantile_check(model: np.ndarray, current: np.ndarray, rel: np.ndarray,
                    q: float) -> dict[str, Any]:
    """Out-of-fold check without any truth: share of buyers spending below their model
    wallet (before calibration it should be near the configured quantile)."""
    buy = (current > 0) & rel
    if not buy.any():
        return {}
    below = float((current[buy] <= model[buy]).mean())
    return {"buyers": int(buy.sum()), "share_of_buyers_below_potential": round(below, 4),
            "configured_quantile": q}


@register_stage("potential")
def stage(ctx: RunContext) -> None:
    """Potential (wallet), whitespace, the value x potential matrix, ROAD and markets."""
    cfg = ctx.config.potential
    res = compute_potential(ctx)
    ctx.put("potential", res.potential)
    ctx.put("whitespace_competitor", res.competitor)
    backend = ctx.source.backend
    acc = ibis.memtable(res.account)
    th = resolve_thresholds(acc, cfg, backend, ctx.config.run.currency)
    banded = account_bands(acc, th).order_by("account_id")
    banded_pa = banded.to_pyarrow() if backend is None else backend.to_pyarrow(banded)
    ctx.put("potential_account", banded_pa.drop_columns(["status"]))
    icp = ibis.memtable(ctx.arrow("icp")) if ctx.has("icp") else None
    if icp is None:
        ctx.note("markets: no ICP fit in this run, so 'obtainable' means potential of at "
                 "least the obtainable threshold")
    bt = ibis.memtable(banded_pa)
    ctx.put("matrix", matrix(bt))
    ctx.put("markets", markets(bt, th, icp, cfg.obtainable_min_fit))
    sentence = headline(bt, th, backend)
    from growthmap.evaluate_potential import stage_evaluation

    ctx.evaluations["potential"] = stage_evaluation(ctx, res, th, sentence)
