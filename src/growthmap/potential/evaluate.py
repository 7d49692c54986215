"""How good is the potential? Ground truth where it exists, a temporal backtest anywhere.

Two checks, both stored in the snapshot (``evaluations["potential"]``) and printed by
``growthmap evaluate potential``:

* **Ground truth** (demo workspaces keep the true wallets in schema ``truth``): Spearman
  rank correlation of potential with the true wallet, per account and per account x
  family, for customers and prospects apart; how often the true wallet falls inside the
  low-high interval, against its nominal level; the median absolute percentage error.
  The truth is read only after every figure has been computed, and changes none of them.
* **Temporal backtest** (any workspace with two years of history): estimate potential as
  of T = as-of - 12 months from the data up to T only, then measure each account's growth
  from the 12 months before T to the 12 months after.  Whitespace is good for planning
  when the accounts with the most of it are the ones that grow: the report gives the
  growth captured by the top decile of whitespace against the average (lift) and the
  Spearman correlation of whitespace with growth.  The backtest re-runs stages, so it
  lives in :mod:`growthmap.potential.backtest` (with the read-back of a snapshot's
  evaluation), and the runner calls it; this module holds the measures.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

if TYPE_CHECKING:
    from growthmap.potential.matrix import Thresholds
    from growthmap.potential.stage import PotentialResult
    from growthmap.runner.pipeline import RunContext

__all__ = [
    "coverage",
    "growth_lift",
    "has_truth",
    "mdape",
    "next_year_evaluation",
    "spearman",
    "stage_evaluation",
    "truth_evaluation",
]


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


def spearman(a: Any, b: Any) -> float | None:
    """Spearman rank correlation (ties averaged); None with fewer than 3 pairs or no spread."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return None
    return _r(spearmanr(a[ok], b[ok]).statistic)


def coverage(low: Any, high: Any, truth: Any) -> float | None:
    """Share of true values inside [low, high]."""
    low, high, truth = (np.asarray(v, dtype=float) for v in (low, high, truth))
    if len(truth) == 0:
        return None
    return _r(np.mean((truth >= low) & (truth <= high)))


def mdape(pred: Any, truth: Any) -> float | None:
    """Median of |pred - truth| / truth over positive truths."""
    pred, truth = np.asarray(pred, dtype=float), np.asarray(truth, dtype=float)
    ok = truth > 0
    if not ok.any():
        return None
    return _r(np.median(np.abs(pred[ok] - truth[ok]) / truth[ok]))


def _block(df: pd.DataFrame, truth_col: str) -> dict[str, Any]:
    pos = df[df[truth_col] > 0]
    return {
        "n": len(df),
        "spearman": spearman(df["potential"], df[truth_col]),
        "coverage": coverage(pos["low"], pos["high"], pos[truth_col]),
        "mdape": mdape(df["potential"], df[truth_col]),
        "median_ratio": _r(np.median(pos["potential"] / pos[truth_col])) if len(pos) else None,
    }


def truth_evaluation(potential: pd.DataFrame, account: pd.DataFrame, wallet: pd.DataFrame,
                     interval: float) -> dict[str, Any]:
    """Potential against true wallets, per account and per account x family.

    ``potential`` (account_id, family, potential, low, high, method), ``account``
    (account_id, status, potential, low, high), ``wallet`` (account_id, family, wallet);
    a pair absent from ``wallet`` has a true wallet of zero.  Coverage counts pairs with
    a positive true wallet (an empty wallet is trivially inside an interval from zero).
    """
    w = wallet.groupby(["account_id", "family"], as_index=False)["wallet"].sum()
    cells = potential.merge(w, on=["account_id", "family"], how="left")
    cells["wallet"] = cells["wallet"].fillna(0.0)
    status = account.set_index("account_id")["status"]
    cells["status"] = cells["account_id"].map(status)
    tot = w.groupby("account_id")["wallet"].sum()
    acc = account.copy()
    acc["wallet"] = acc["account_id"].map(tot).fillna(0.0)
    out: dict[str, Any] = {"nominal_coverage": interval, "account": {}, "account_family": {}}
    for name, sel in (("all", slice(None)), ("customers", "customer"),
                      ("prospects", "prospect")):
        a = acc if name == "all" else acc[acc["status"] == sel]
        c = cells if name == "all" else cells[cells["status"] == sel]
        out["account"][name] = _block(a, "wallet")
        out["account_family"][name] = _block(c, "wallet")
    if "baseline" in cells.columns:  # the naive peer percentile on the same rows
        base_t = cells.groupby("account_id")["baseline"].sum()
        out["baseline"] = {}
        for name, sel in (("all", slice(None)), ("customers", "customer"),
                          ("prospects", "prospect")):
            a = acc if name == "all" else acc[acc["status"] == sel]
            c = cells if name == "all" else cells[cells["status"] == sel]
            out["baseline"][name] = {
                "account": spearman(a["account_id"].map(base_t), a["wallet"]),
                "account_family": spearman(c["baseline"], c["wallet"])}
    out["account_family_by_method"] = {
        m: _block(g, "wallet") for m, g in cells.groupby("method") if m != "not_relevant"}
    rel = cells[cells["method"] == "not_relevant"]
    out["not_relevant_cells"] = {"n": len(rel),
                                 "with_true_wallet": int((rel["wallet"] > 0).sum())}
    return out


def growth_lift(whitespace: Any, growth: Any, top: float = 0.1) -> dict[str, Any]:
    """Growth captured by the top ``top`` share of whitespace, against the average.

    lift = mean growth of the top decile / mean growth of all (1 = no better than
    chance).  Ties at the cut are broken by position, which is deterministic.
    """
    ws, g = np.asarray(whitespace, dtype=float), np.asarray(growth, dtype=float)
    n = len(ws)
    if n < 10:
        return {"n": n, "lift": None, "spearman": None}
    k = max(1, round(n * top))
    idx = np.argsort(-ws, kind="stable")[:k]
    mean_all, mean_top = float(g.mean()), float(g[idx].mean())
    pos = np.maximum(g, 0.0)
    return {
        "n": n,
        "top_share": top,
        "lift": _r(mean_top / mean_all) if mean_all > 0 else None,
        "mean_growth_top": _r(mean_top, 2),
        "mean_growth_all": _r(mean_all, 2),
        "share_of_positive_growth_in_top": _r(pos[idx].sum() / pos.sum()) if pos.sum() > 0
        else None,
        "spearman": spearman(ws, g),
    }


def next_year_evaluation(potential: pd.DataFrame, account: pd.DataFrame,
                         next_year: pd.DataFrame) -> dict[str, Any]:
    """Whitespace as of as-of against the (true) purchases of the 12 months after it."""
    ny = next_year.groupby("account_id")["amount"].sum()
    acc = account.copy()
    acc["growth"] = acc["account_id"].map(ny).fillna(0.0) - acc["current"]
    out = {"account": growth_lift(acc["whitespace"], acc["growth"])}
    nyf = next_year.groupby(["account_id", "family"], as_index=False)["amount"].sum()
    c = potential.merge(nyf, on=["account_id", "family"], how="left")
    c["growth"] = c["amount"].fillna(0.0) - c["current"]
    out["account_family"] = growth_lift(c["whitespace"], c["growth"])
    return out


def has_truth(source: Any) -> bool:
    """Whether the source keeps true wallets (a demo workspace's ``truth.wallet``)."""
    has = getattr(source, "has_table", None)
    return bool(has is not None and has("wallet", "truth"))


def _truth_tables(source: Any) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """truth.wallet and truth.next_year when the source is a demo workspace."""
    con = getattr(source, "con", None)
    has = getattr(source, "has_table", None)
    if con is None or has is None:
        return None, None
    wallet = con.execute("SELECT * FROM truth.wallet").df() if has("wallet", "truth") else None
    nxt = (con.execute("SELECT * FROM truth.next_year").df()
           if has("next_year", "truth") else None)
    return wallet, nxt


def _summary(acc: pd.DataFrame, res_info: dict[str, Any]) -> dict[str, Any]:
    return {
        "accounts": len(acc), "potential": _r(acc["potential"].sum(), 2),
        "current": _r(acc["current"].sum(), 2), "whitespace": _r(acc["whitespace"].sum(), 2),
        "low_confidence_accounts": int(acc["low_confidence"].sum()),
        **res_info,
    }


def stage_evaluation(ctx: RunContext, res: PotentialResult, th: Thresholds,
                     sentence: str, backtest_result: dict[str, Any] | None = None
                     ) -> dict[str, Any]:
    """What the potential stage stores in the snapshot about itself."""
    cfg = ctx.config.potential
    out: dict[str, Any] = {"headline": sentence, "thresholds": th.as_dict(),
                           "summary": _summary(res.account, res.info)}
    wallet, nxt = _truth_tables(ctx.source)
    if wallet is not None or nxt is not None:
        cells = res.potential.select(["account_id", "family", "current", "potential", "low",
                                      "high", "whitespace", "method"]).to_pandas()
        if res.baseline is not None:
            cells["baseline"] = res.baseline.ravel()
        if wallet is not None:
            out["truth"] = truth_evaluation(cells, res.account, wallet, cfg.interval)
        if nxt is not None:
            out["truth_next_year"] = next_year_evaluation(cells, res.account, nxt)
        del cells
    if backtest_result is not None:
        out["backtest"] = backtest_result
        if "published" in backtest_result:
            out["published"] = backtest_result["published"]
    if "level" in res.info:
        out["level"] = res.info["level"]
    return json.loads(json.dumps(out, default=str))


