"""The ``potential`` stage: wallets, whitespace, shares, competitor split and drivers.

For every account (prospects too) and every product family it estimates the wallet with
the configured method (:mod:`growthmap.models.potential`), calibrates its level to vendor
figures where there are any, combines with those figures, applies the relevance rules
and the cap, floors at current spend, and derives

* whitespace = max(potential - current, 0) and share of wallet = current / potential;
* the split of whitespace into open and competitor-held (``competitors`` table);
* the account totals, value and potential bands, the value x potential matrix and ROAD
  (:mod:`growthmap.potential.matrix`);
* the evaluation stored in the snapshot (:mod:`growthmap.potential.evaluate`); the
  backtest (:mod:`growthmap.potential.backtest`) is run by the runner before the stage.

The markets need the ICP fit of the later models stage: they are the ``markets`` stage
(:mod:`growthmap.segments.markets`).

Models need the data in memory: the figures are dense (accounts x families) numpy
arrays, inputs are read as Arrow and matched to accounts by position, and the cell
table is written as Arrow (:mod:`growthmap.models.potential._cells`), so a million
accounts never become six million pandas rows of Python strings.  The bands, matrix and
ROAD that follow are Ibis expressions again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from growthmap.config._potential import PotentialConfig
from growthmap.contract.inputs import FAMILY_UNASSIGNED
from growthmap.models.potential import (
    FamilySum,
    calibrate_to_external,
    combine,
    fold_ids,
    relevance,
    split_competitor_cells,
)
from growthmap.models.potential._baseline import blend, need_share, peer_percentile
from growthmap.models.potential._cells import (
    METHODS,
    CellText,
    cell_table,
    competitor_rows,
    drivers_column,
)
from growthmap.models.potential._estimate import BASE_FEATURES, WalletEstimate, estimate_wallets
from growthmap.models.potential._level import (
    ASSUMED_CORRELATION,
    account_log_bounds,
    cell_sd,
    level_sd,
    mixture_bounds,
    z_of,
)
from growthmap.potential.evaluate import has_truth, stage_evaluation
from growthmap.potential.matrix import account_bands, headline, matrix, resolve_thresholds
from growthmap.runner.pipeline import RunContext, register_stage

__all__ = ["POTENTIAL_COLUMNS", "PotentialResult", "Wallets", "cell_matrix",
           "compute_potential", "compute_wallets", "stage"]

#: Columns of the ``potential`` output, in order (agreed with the stages that read it).
POTENTIAL_COLUMNS = ("account_id", "family", "current", "potential", "low", "high",
                     "whitespace", "whitespace_open", "whitespace_competitor",
                     "share_of_wallet", "method", "peer_group", "low_confidence", "drivers")


@dataclass
class Vendor:
    """Vendor figures per cell (NaN where none) and each cell's source (code, names)."""

    low: np.ndarray
    potential: np.ndarray
    high: np.ndarray
    source: np.ndarray
    names: list[str]


@dataclass
class Wallets:
    """Every figure of the stage as (accounts x families) arrays, accounts by id.

    ``vendor_ratio`` is vendor / model - 1 where a cell's potential is the vendor's
    figure (NaN elsewhere), ``vendor_source`` the code of its source in
    ``vendor_names``; both ``None`` without vendor figures.  ``baseline`` is the naive
    peer percentile at the published level; ``sd_up`` / ``sd_down`` / ``need`` /
    ``level_sd`` describe each cell's wallet for the interval of account totals
    (``None`` when no interval was asked for)."""

    ids: pa.Array
    families: list[str]
    status: np.ndarray
    current: np.ndarray
    low: np.ndarray
    potential: np.ndarray
    high: np.ndarray
    method: np.ndarray  # codes into METHODS
    low_confidence: np.ndarray
    family_sum: FamilySum | None
    vendor_ratio: np.ndarray | None
    vendor_source: np.ndarray | None
    vendor_names: list[str]
    estimate: WalletEstimate | None
    info: dict[str, Any]
    baseline: np.ndarray | None = None
    sd_up: np.ndarray | None = None
    sd_down: np.ndarray | None = None
    need: np.ndarray | None = None
    level_sd: float = 0.0

    @property
    def whitespace(self) -> np.ndarray:
        return np.maximum(self.potential - self.current, 0.0)


@dataclass
class PotentialResult:
    """The stage's tables and what it learnt along the way."""

    potential: pa.Table
    account: pd.DataFrame
    competitor: pa.Table
    info: dict[str, Any]
    baseline: np.ndarray | None = None  # (accounts x families) naive peer percentile


def _families(ctx: RunContext, afv: pa.Table) -> list[str]:
    fams = {str(f) for f in pc.unique(afv["family"]).to_pylist() if f is not None}
    products = ctx.input("products")
    if products is not None and "family" in products.columns:
        p = ctx.source.backend.to_pandas(products.select("family").distinct())
        fams |= set(p["family"].dropna().astype(str))
    if not fams:
        fams = {FAMILY_UNASSIGNED}
    return sorted(fams)


def _positions(keys: pa.ChunkedArray | pa.Array, values: pa.Array | list[str]) -> np.ndarray:
    """Position of each key in ``values`` (first occurrence), -1 where absent."""
    pos = pc.index_in(keys, value_set=pa.array(values, pa.string())
                      if isinstance(values, list) else values)
    return pc.fill_null(pos, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _accounts(ctx: RunContext, cfg: PotentialConfig) -> tuple[pa.Array, np.ndarray,
                                                                pd.DataFrame]:
    """Account ids (sorted), status and firmographics, text columns as categoricals."""
    av = ctx.arrow("account_value")
    ids = av["account_id"].combine_chunks().cast(pa.string())
    if len(ids) > 1 and pc.any(pc.less(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py():
        order = pc.sort_indices(ids)
        av, ids = av.take(order), ids.take(order)
    cols = [c for c in BASE_FEATURES if c in av.column_names]
    if cfg.peer_split and cfg.peer_split in av.column_names and cfg.peer_split not in cols:
        cols.append(cfg.peer_split)
    feats = pd.DataFrame({c: _column(av[c]) for c in cols}, index=pd.RangeIndex(len(ids)))
    extra = [c for c in cfg.features if c not in feats.columns]
    if extra:
        acc = ctx.require("accounts", "potential features")
        for c in extra:
            if c not in acc.columns:
                ctx.note(f"potential.features names {c!r}, which the accounts table does "
                         "not have; the model goes on without it")
        have = [c for c in extra if c in acc.columns]
        if have:
            a = ctx.source.backend.to_pyarrow(acc.select("account_id", *have))
            pos = _positions(ids, a["account_id"].combine_chunks().cast(pa.string()))
            for c in have:
                feats[c] = _column(a[c].take(pa.array(pos, mask=pos < 0)))
    for c in ("employees", "annual_revenue"):
        if c in feats.columns:
            feats[c] = pd.to_numeric(feats[c], errors="coerce").astype(float)
    status = av["status"].to_numpy(zero_copy_only=False).astype(object)
    return ids, status, feats


def _column(col: pa.ChunkedArray | pa.Array) -> Any:
    """A column for the models: numbers as numpy, text as a pandas categorical."""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return pd.Series(col.dictionary_encode().to_pandas()).array
    return col.to_pandas()


def cell_matrix(t: pa.Table, ids: pa.Array, families: list[str], value: str) -> np.ndarray:
    """Pivot account x family rows into a dense (accounts x families) array (NaN = none)."""
    out = np.full((len(ids), len(families)), np.nan)
    if t.num_rows == 0:
        return out
    row, col = _positions(t["account_id"], ids), _positions(t["family"], families)
    ok = (row >= 0) & (col >= 0)
    v = pc.cast(t[value], pa.float64()).to_numpy(zero_copy_only=False)
    out[row[ok], col[ok]] = v[ok]
    return out


def _external(ctx: RunContext, ids: pa.Array, families: list[str]) -> Vendor | None:
    """Vendor figures per cell: the mean of the rows naming a cell, the first source."""
    t = ctx.input("external_potential")
    if t is None:
        return None
    cols = [c for c in ("account_id", "family", "potential", "low", "high", "source")
            if c in t.columns]
    ext = ctx.source.backend.to_pyarrow(t.select(*cols))
    row, col = _positions(ext["account_id"], ids), _positions(ext["family"], families)

    def num(c: str) -> np.ndarray:
        if c not in ext.column_names:
            return np.full(ext.num_rows, np.nan)
        v = pd.to_numeric(ext[c].to_pandas(), errors="coerce")
        return v.to_numpy(dtype=float, na_value=np.nan)

    pot = num("potential")
    ok = (row >= 0) & (col >= 0) & np.isfinite(pot)
    if not ok.any():
        return None
    n_fam = len(families)
    cell = row[ok] * n_fam + col[ok]
    shape = (len(ids), n_fam)
    figures = []
    for v in (num("low")[ok], pot[ok], num("high")[ok]):
        have = np.isfinite(v)
        tot = np.bincount(cell[have], weights=v[have], minlength=shape[0] * n_fam)
        cnt = np.bincount(cell[have], minlength=shape[0] * n_fam)
        with np.errstate(invalid="ignore"):
            figures.append(np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan).reshape(shape))
    if "source" in ext.column_names:
        src = pd.Series(ext["source"].to_pandas(), dtype="string")[ok]
    else:
        src = pd.Series(pd.NA, index=range(int(ok.sum())), dtype="string")
    first = src.reset_index(drop=True).groupby(cell).first().fillna("vendor")
    codes, uniq = pd.factorize(first)
    names = [str(x) for x in uniq] + ([] if "vendor" in set(uniq) else ["vendor"])
    source = np.full(shape[0] * n_fam, names.index("vendor"), dtype=np.int32)
    source[first.index.to_numpy()] = codes
    return Vendor(*figures, source.reshape(shape), names)


def _interval_from_vendor(vendor: Vendor | None, cfg: PotentialConfig) -> bool:
    """Will the calibration to vendor figures set the interval?  Then the model's own
    upper-quantile models are not trained (half the training)."""
    if vendor is None or not cfg.calibrate:
        return False
    v = vendor.potential
    return int((np.isfinite(v) & (v > 0)).sum()) >= cfg.calibration_min_cells


def compute_wallets(ctx: RunContext, *, explain: bool = True,
                    model_weight: float = 1.0, baseline: bool = True) -> Wallets:
    """Every account's potential per family, as arrays (see the module doc).

    ``explain=False`` gives the figures alone: no drivers, no peer groups, and no
    interval (``low`` and ``high`` are the potential) -- what the backtest needs.
    ``model_weight`` < 1 publishes a geometric blend of the model with the naive peer
    percentile (0: the baseline alone), as the backtest chose when the model did not
    beat it.  ``baseline=False`` leaves the naive peer percentile out of the result
    (``Wallets.baseline`` is ``None``) when nothing will read it: it is computed all the
    same when the blend needs it.
    """
    cfg = ctx.config.potential
    seed = cfg.seed if cfg.seed is not None else ctx.config.run.seed
    ids, status, feats = _accounts(ctx, cfg)
    afv = ctx.arrow("account_family_value")
    families = _families(ctx, afv)
    spend = cell_matrix(afv, ids, families, "revenue_t12m")
    current = np.maximum(np.nan_to_num(spend), 0.0)
    ever = np.isfinite(spend)  # an industry is relevant to a family its accounts bought
    del spend
    if cfg.size_driver not in feats.columns or feats[cfg.size_driver].isna().all():
        ctx.note(f"accounts have no {cfg.size_driver}: peer groups compare spend alone "
                 "and every potential is flagged low-confidence")
    folds = fold_ids(ids.to_pandas(), cfg.folds, seed)
    vendor = _external(ctx, ids, families)
    if vendor is None:
        ctx.note("no external_potential table: potential comes from the model alone")
    from_vendor = _interval_from_vendor(vendor, cfg)
    ctx.step("potential: models")
    industry = (feats["industry"] if "industry" in feats.columns
                else pd.Series([None] * len(ids), dtype=object))
    size = feats["employees"] if "employees" in feats.columns else feats.get(cfg.size_driver)
    size = (np.full(len(ids), np.nan) if size is None
            else pd.to_numeric(size, errors="coerce").to_numpy(dtype=float))
    base = (peer_percentile(size, industry, current, cfg.quantile)
            if baseline or model_weight < 1.0 else None)

    def estimate(interval: bool) -> WalletEstimate:
        e = estimate_wallets(feats, current, families, cfg, seed, folds,
                             interval=interval, explain=explain)
        if model_weight < 1.0:
            assert base is not None
            _blend_into(e, base, model_weight)
        return e

    est = estimate(explain and not from_vendor)
    info: dict[str, Any] = {"families": est.info}
    if model_weight < 1.0:
        info["published"] = {"model_weight": model_weight}
    low, pot, high, family_sum = _calibrate(est, vendor, current, families, cfg, info)
    if explain and low is None:  # the calibration could not be made after all (rare)
        est = estimate(True)
        low, pot, high = est.low, est.potential, est.high
    if low is None or high is None:
        low = high = pot
    l_sd = 0.0
    if family_sum is None:  # no calibration: the level is the stated assumption
        share = cfg.best_share
        l_sd = level_sd(cfg.best_share_range, cfg.interval)
        low, pot, high = (a / share for a in (low, pot, high))
        if base is not None:
            base = base / share
        info["level"] = {"best_share": share, "best_share_range": cfg.best_share_range,
                         "log_sd": round(l_sd, 4)}
        if explain:
            lo, hi = cfg.best_share_range
            ctx.note(f"potential: no vendor figures to calibrate to, so every wallet "
                     f"assumes the best-penetrated buyers give us {share:.0%} of theirs "
                     f"(potential.best_share; 80% range {lo:.0%}-{hi:.0%}, carried in "
                     "the intervals)")
    model_pot = pot
    rel = relevance(industry, ever, families, min_buyers=cfg.relevance_min_buyers,
                    always=cfg.always_relevant, never=cfg.never_relevant,
                    vendor=None if vendor is None else np.isfinite(vendor.potential))
    del ever
    need = up = down = None
    if explain:
        up, down = cell_sd(pot, low, high, cfg.interval)
        if l_sd > 0:
            up, down = (np.sqrt(x**2 + np.float32(l_sd**2)) for x in (up, down))
    if cfg.graded_relevance:
        need = need_share(_need_groups(industry, size), current > 0,
                          current.sum(axis=1) > 0).astype(np.float32)
        if up is not None and down is not None:
            low, pot, high = mixture_bounds(pot, up, down, need, cfg.interval)
        else:
            pot = pot * need
            low = high = pot
        info["graded_relevance"] = {"mean_need_of_cells_not_bought": _r4(
            need[current <= 0].mean()) if (current <= 0).any() else None}
    elif up is not None and l_sd > 0:  # widen by the level's uncertainty
        z = z_of(cfg.interval)
        low, high = pot * np.exp(-z * down), pot * np.exp(z * up)
    external = None if vendor is None else (vendor.low, vendor.potential, vendor.high)
    low, pot, high, used = combine((low, pot, high), external, current, rule=cfg.combine,
                                   cap=cfg.cap, relevant=rel)
    del external
    if vendor is not None:  # only the figures' level and source are read from here on
        vendor.low = vendor.high = None  # type: ignore[assignment]
    method = np.empty(pot.shape, dtype=np.int8)
    method[:] = [METHODS.index(m) for m in est.method]
    method[used] = METHODS.index("external")
    method[~rel & ~used] = METHODS.index("not_relevant")
    info["model_check"] = _quantile_check(est.potential, current, rel, cfg.quantile)
    ratio = source = None
    if vendor is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(used, vendor.potential / model_pot - 1, np.nan)
        source = vendor.source
    if need is not None:
        need[used | (current > 0)] = 1.0
    est.potential = est.low = est.high = None  # type: ignore[assignment]
    w = Wallets(ids, families, status, current, low, pot, high, method,
                est.low_confidence & ~used, family_sum, ratio, source,
                [] if vendor is None else vendor.names, est, info)
    w.baseline = base if baseline else None
    w.sd_up, w.sd_down, w.need, w.level_sd = up, down, need, l_sd
    return w


def _r4(x: float) -> float:
    return round(float(x), 4)


def _need_groups(industry: pd.Series, size: np.ndarray) -> np.ndarray:
    """Similar accounts for graded relevance: industry x size quartile (-1: no industry)."""
    codes, _ = pd.factorize(pd.Series(industry).astype(object))
    ok = np.isfinite(size)
    band = np.full(len(size), 4, dtype=np.int64)
    if ok.sum() >= 4:
        edges = np.quantile(size[ok], [0.25, 0.5, 0.75])
        band[ok] = np.searchsorted(edges, size[ok], side="right")
    return np.where(codes >= 0, codes * 5 + band, -1)


def _blend_into(est: WalletEstimate, base: np.ndarray, weight: float) -> None:
    """Replace the model's wallets by their blend with the baseline; bounds follow."""
    new = blend(est.potential, base, weight)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(est.potential > 0, new / est.potential, 1.0)
    if est.low is not None and est.high is not None:
        est.low = np.where(est.potential > 0, est.low * ratio, new)
        est.high = np.where(est.potential > 0, est.high * ratio, new)
    est.potential = new


def _calibrate(est: WalletEstimate, vendor: Vendor | None, current: np.ndarray,
               families: list[str], cfg: PotentialConfig, info: dict[str, Any]
               ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray | None,
                          FamilySum | None]:
    """Model wallets at the vendor's level (when configured and possible), and how the
    families add up to the interval of an account's total (None: add up their bounds).

    Current spend lets the calibration tell the vendor's own noise from the model's
    error (see :mod:`growthmap.models.potential._calibration`)."""
    if vendor is None or not cfg.calibrate:
        return est.low, est.potential, est.high, None
    cal = calibrate_to_external(est.potential, vendor.potential, families,
                                interval=cfg.interval, min_cells=cfg.calibration_min_cells,
                                current=current)
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


def compute_potential(ctx: RunContext, model_weight: float = 1.0) -> PotentialResult:
    """Every account's potential per family and in total, as the stage's tables.

    The drivers, the largest column, are written first, and the arrays they are
    written from let go before the other columns are built (a lower peak of memory)."""
    # the baseline beside the published figures is read by the check against true
    # wallets alone (the backtest computes its own)
    w = compute_wallets(ctx, model_weight=model_weight, baseline=has_truth(ctx.source))
    est, w.estimate = w.estimate, None
    assert est is not None
    n_jobs = ctx.config.potential.n_jobs
    text = CellText(w.method, est.drivers, w.vendor_source, w.vendor_names, w.vendor_ratio)
    drivers = drivers_column(text, len(w.ids), len(w.families), n_jobs)
    groups = est.peer_group
    del text, est
    w.vendor_ratio = w.vendor_source = None
    ws = w.whitespace
    held, comp_rows = _competitors(ctx, w, ws)
    acc = _account_totals(w, ctx.config.potential.interval)
    with np.errstate(divide="ignore", invalid="ignore"):
        sow = np.where(w.potential > 0, w.current / w.potential, np.nan)
    numbers = {"current": w.current, "potential": w.potential, "low": w.low,
               "high": w.high, "whitespace": ws, "whitespace_open": np.maximum(ws - held, 0.0),
               "whitespace_competitor": held, "share_of_wallet": sow}
    p = cell_table(w.ids, w.families, numbers, {"low_confidence": w.low_confidence},
                   w.method, groups, drivers, POTENTIAL_COLUMNS)
    return PotentialResult(p, acc, comp_rows, w.info, w.baseline)


def _competitors(ctx: RunContext, w: Wallets, ws: np.ndarray
                 ) -> tuple[np.ndarray, pa.Table]:
    """Competitor-held whitespace per cell, and the per-competitor rows."""
    comp_t = ctx.input("competitors")
    if comp_t is None:
        ctx.note("no competitors table: whitespace is not split into open and "
                 "competitor-held")
        return np.zeros_like(ws), competitor_rows(w.ids, w.families, np.zeros(0, np.int64),
                                                  np.zeros(0, np.int64), [], np.zeros(0))
    comp = ctx.source.backend.to_pyarrow(
        comp_t.select("account_id", "family", "competitor", "share"))
    row, col = _positions(comp["account_id"], w.ids), _positions(comp["family"], w.families)
    cell = np.where((row >= 0) & (col >= 0), row * len(w.families) + col, -1)
    codes, names = _sorted_codes(comp["competitor"])
    share = pd.to_numeric(comp["share"].to_pandas(), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan)
    c, k, held, held_cell = split_competitor_cells(cell, codes, share, w.potential.ravel(),
                                                   ws.ravel())
    rows = competitor_rows(w.ids, w.families, c, k, names, held)
    return held_cell.reshape(ws.shape), rows


def _sorted_codes(col: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Codes of a text column in the sorted order of its values (-1 for missing)."""
    enc = pc.cast(col, pa.string()).combine_chunks().dictionary_encode()
    names = [str(x) for x in enc.dictionary.to_pylist()]
    if not names:
        return np.full(len(enc), -1, dtype=np.int64), []
    rank = np.argsort(np.argsort(np.asarray(names, dtype=object), kind="stable"))
    idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.where(idx >= 0, rank[np.maximum(idx, 0)], -1), sorted(names)


def _account_totals(w: Wallets, interval: float) -> pd.DataFrame:
    """Per account: sums over families, and an interval for the total.

    With a ``family_sum`` the interval is that of a sum of the families' wallets, model
    cells correlated as measured, vendor cells independent."""
    cur_t, pot_t = w.current.sum(axis=1), w.potential.sum(axis=1)
    if w.sd_up is not None and w.sd_down is not None:
        vendor = w.method == METHODS.index("external")
        # model cells: the wallet's own spread (before the mixture of need); vendor
        # cells: the spread their interval says (read off for those cells alone)
        up, down = w.sd_up.copy(), w.sd_down.copy()
        if vendor.any():
            up[vendor], down[vendor] = cell_sd(w.potential[vendor], w.low[vendor],
                                               w.high[vendor], interval)
        rho = (w.family_sum.correlation if w.family_sum is not None
               else ASSUMED_CORRELATION)
        lo, hi = account_log_bounds(w.potential, up, down, w.need, ~vendor, rho,
                                    w.level_sd, interval)
        low_t = np.minimum(np.maximum(pot_t * np.exp(lo), cur_t), pot_t)
        high_t = pot_t * np.exp(hi)
    else:  # the families' bounds added up: wide, since families rarely all err alike
        low_t, high_t = w.low.sum(axis=1), w.high.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sow = np.where(pot_t > 0, cur_t / pot_t, np.nan)
    return pd.DataFrame({
        "account_id": w.ids.to_pandas(), "current": cur_t, "potential": pot_t,
        "low": low_t, "high": high_t, "whitespace": w.whitespace.sum(axis=1),
        "low_confidence": (w.low_confidence & (w.potential > 0)).any(axis=1),
        "share_of_wallet": sow, "status": w.status,
    })


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


@register_stage("potential", needs=("account_value", "account_family_value"),
                optional=("accounts", "products", "external_potential", "competitors"),
                provides=("potential", "whitespace_competitor", "potential_account", "matrix"))
def stage(ctx: RunContext) -> None:
    """Potential (wallet), whitespace, the value x potential matrix and ROAD.

    Its backtest (:mod:`growthmap.potential.backtest`) is run by the runner, before this.
    """
    from growthmap.potential.feedback import apply_family_feedback, apply_feedback

    cfg = ctx.config.potential
    backtest = ctx.backtests.get("potential")
    published = (backtest or {}).get("published", {})
    weight = float(published.get("model_weight", 1.0))
    if published.get("model_vs_baseline") == "ties":
        bt = backtest["baseline"]["account"]  # type: ignore[index]
        ctx.note(f"potential: the model ties the naive peer percentile in the backtest "
                 f"(Spearman with the next 12 months' spend {bt['model']:.3f} vs "
                 f"{bt['baseline']:.3f}, difference {bt['low']:+.3f} to {bt['high']:+.3f}); "
                 "the run publishes the model")
    if weight < 1.0:
        bt = backtest["baseline"]["account"]  # type: ignore[index]
        what = "the baseline" if weight <= 0 else f"a blend ({weight:.0%} model)"
        ctx.note(f"potential: the model did not beat the naive peer percentile in the "
                 f"backtest (Spearman with the next 12 months' spend {bt['model']:.3f} vs "
                 f"{bt['baseline']:.3f}), so the run publishes {what}")
    res = compute_potential(ctx, weight)
    # reps' reviewed figures, if enabled: on single families, then on totals
    res.potential, res.account = apply_family_feedback(ctx, res.potential, res.account)
    res.account = apply_feedback(ctx, res.account)
    # keep what the run keeps (it may move large outputs out of memory), not our copies
    res.potential = ctx.put("potential", res.potential)
    res.competitor = ctx.put("whitespace_competitor", res.competitor)
    backend = ctx.source.backend
    acc = ibis.memtable(res.account)
    th = resolve_thresholds(acc, cfg, backend, ctx.config.run.currency)
    banded = account_bands(acc, th).order_by("account_id")
    banded_pa = banded.to_pyarrow() if backend is None else backend.to_pyarrow(banded)
    ctx.put("potential_account", banded_pa.drop_columns(["status"]))
    bt = ibis.memtable(banded_pa)
    ctx.put("matrix", matrix(bt))
    sentence = headline(bt, th, backend)
    ctx.evaluations["potential"] = stage_evaluation(ctx, res, th, sentence, backtest)
    res.baseline = None
    pa.default_memory_pool().release_unused()
