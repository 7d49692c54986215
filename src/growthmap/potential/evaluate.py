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
  Spearman correlation of whitespace with growth.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from dateutil.relativedelta import relativedelta
from pydantic import ValidationError
from scipy.stats import spearmanr

from growthmap.config import Config
from growthmap.errors import WorkspaceError
from growthmap.runner.pipeline import RunContext, run_stages

if TYPE_CHECKING:
    from growthmap.potential.matrix import Thresholds
    from growthmap.potential.stage import PotentialResult
    from growthmap.workspace import Workspace

__all__ = [
    "backtest",
    "coverage",
    "evaluate_snapshot",
    "growth_lift",
    "mdape",
    "next_year_evaluation",
    "spearman",
    "stage_backtest",
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


class SampledSource:
    """A source whose account-keyed tables hold only some accounts (the backtest's
    sample); tables without an account_id column pass through."""

    def __init__(self, source: Any, account_ids: pa.Array) -> None:
        self.backend = source.backend
        self.source = source
        self.keep = ibis.memtable(pa.table({"account_id": account_ids}))

    def maybe_table(self, name: str) -> ibis.Table | None:
        t = self.source.maybe_table(name)
        if t is None or "account_id" not in t.columns:
            return t
        return t.filter(t.account_id.isin(self.keep.account_id))


def backtest_sample(source: Any, limit: int | None, seed: int,
                    ids: pa.Array | pa.ChunkedArray | None = None) -> pa.Array | None:
    """The accounts the backtest runs on: ``None`` (all) when there are at most
    ``limit``, else the ``limit`` accounts with the smallest seeded hash of their id --
    a fixed sample that does not depend on the order or the number of the others.

    ``ids`` are the accounts when the caller has them (a run's ``account_value``);
    otherwise they are read from the source's accounts table.
    """
    if limit is None:
        return None
    if ids is None:
        acc = source.maybe_table("accounts")
        if acc is None:
            return None
        ids = source.backend.to_pyarrow(acc.select("account_id"))["account_id"]
    ids = pc.unique(ids).drop_null()
    if len(ids) <= limit:
        return None
    key = hashlib.sha256(f"growthmap backtest {seed}".encode()).hexdigest()[:16]
    h = pd.util.hash_pandas_object(ids.to_pandas(), index=False, hash_key=key).to_numpy()
    pick = np.sort(np.argpartition(h, limit - 1)[:limit])
    return ids.take(pa.array(pick))


def backtest(source: Any, config: Config, as_of: dt.date,
             now: RunContext | None = None) -> dict[str, Any]:
    """Estimate as of T = as_of - 12 months, measure the growth from T to as_of.

    Runs the value stage and the potential's estimation on data up to T (nothing later
    is read; vendor figures, which carry no date, are left out of the level), and takes
    the outcome from the value stage at ``as_of`` (``now``, a run that has it, or a new
    value run).  With more than ``potential.backtest_max_accounts`` accounts it runs on a
    fixed sample of them (:func:`backtest_sample`).
    """
    from growthmap.potential.stage import cell_matrix, compute_wallets

    months = config.value.lookback_months
    t = as_of - relativedelta(months=months)
    cfg = config.model_copy(deep=True)
    cfg.potential.backtest = False
    # vendor figures carry no date, so they may know things T did not: leave them out
    cfg.potential.combine = "model"
    cfg.potential.calibrate = False
    seed = cfg.potential.seed if cfg.potential.seed is not None else cfg.run.seed
    known = None if now is None else now.arrow("account_value")["account_id"]
    sample = backtest_sample(source, cfg.potential.backtest_max_accounts, seed, known)
    src = source if sample is None else SampledSource(source, sample)
    _check_history(source, t, cfg.potential.backtest_min_history_months)
    then = run_stages(RunContext(config=cfg, as_of=t, source=src), only=["value"])
    w = compute_wallets(then, explain=False)
    cur_t = w.current.sum(axis=1)
    if cur_t.sum() <= 0:
        raise WorkspaceError(
            f"the backtest needs purchases in the {months} months before {t}, and there are "
            "none", hint="load at least two years of transactions, or skip --backtest")
    if now is None:
        now = run_stages(RunContext(config=cfg, as_of=as_of, source=src), only=["value"])
    av_now = now.arrow("account_value").select(["account_id", "revenue_t12m"])
    rev_now = _by_account(av_now, w.ids, "revenue_t12m")
    fam_now = cell_matrix(now.arrow("account_family_value"), w.ids, w.families, "revenue_t12m")
    growth = rev_now - cur_t
    ws = w.whitespace
    acc_ws = ws.sum(axis=1)
    cust = w.status == "customer"
    pros = w.status == "prospect"
    out: dict[str, Any] = {
        "estimated_as_of": str(t), "measured_to": str(as_of),
        "account": growth_lift(acc_ws, growth),
        "account_family": growth_lift(ws.ravel(), (np.nan_to_num(fam_now) - w.current).ravel()),
        "customers": growth_lift(acc_ws[cust], growth[cust]),
        "prospects": growth_lift(acc_ws[pros], growth[pros]),
    }
    fam_now = np.nan_to_num(fam_now)
    out.update(_against_baseline(w, rev_now, fam_now, growth, seed))
    if sample is not None:
        out["sampled_accounts"] = len(sample)
    return out


#: Blends of model and baseline the backtest tries when the model does not beat it.
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75)


def _against_baseline(w: Any, rev_now: np.ndarray, fam_now: np.ndarray,
                      growth: np.ndarray, seed: int) -> dict[str, Any]:
    """Model against the naive peer percentile on the backtest's rows, and what to publish.

    A wallet is judged by how well it ranks what the accounts then spent: Spearman of
    the potential at T with the spend of the 12 months after T, per account and per
    account x family (zeros included: a wallet the account never uses should rank
    low), with a bootstrap interval of the difference.  Whitespace against growth is
    shown too.  Where the model's account Spearman is below the baseline's beyond
    doubt (the whole interval of the difference below 0), the blend (geometric, model
    weight in :data:`BLEND_WEIGHTS`; 0 = the baseline) that ranks the spend best is
    published instead.  A tie keeps the model and says so: choosing between two equal
    rankings on noise would swap the published figures from run to run.
    """
    from growthmap.models.potential._baseline import blend, rank_spearman_diff

    need = np.ones_like(w.potential) if w.need is None else w.need.astype(float)
    wallet = np.where(need > 0, w.potential / np.maximum(need, 1e-9), 0.0)
    base = np.maximum(w.baseline, w.current)
    base_ws = np.maximum(base - w.current, 0.0)
    acc = rank_spearman_diff(w.potential.sum(axis=1), base.sum(axis=1), rev_now, seed=seed)
    cell = rank_spearman_diff(w.potential.ravel(), base.ravel(), fam_now.ravel(),
                              n_boot=100, seed=seed)
    ws = rank_spearman_diff(w.whitespace.sum(axis=1), base_ws.sum(axis=1), growth,
                            seed=seed)
    weight, tried = 1.0, {}
    verdict = ("no verdict" if acc["difference"] is None else
               "beats" if acc["low"] > 0 else "worse" if acc["high"] < 0 else "ties")
    if verdict == "worse":
        for a in BLEND_WEIGHTS:
            pot = np.maximum(blend(wallet, base, a) * need, w.current)
            tried[str(a)] = spearman(pot.sum(axis=1), rev_now)
        weight = max((v if v is not None else -2.0, float(a)) for a, v in tried.items())[1]
    return {"baseline": {"method": "peer percentile (industry, employees^0.85)",
                         "label": "spend in the 12 months after the estimate",
                         "account": acc, "account_family": cell,
                         "whitespace_vs_growth": ws},
            "published": {"model_weight": weight, "blends_tried": tried,
                          "model_vs_baseline": verdict,
                          "what": "model" if weight >= 1 else
                          "baseline" if weight <= 0 else "blend"}}


def _check_history(source: Any, t: dt.date, min_months: int) -> None:
    """Raise when the history before ``t`` is shorter than ``min_months``."""
    tx = source.maybe_table("transactions")
    if tx is None:
        return
    backend = getattr(source, "backend", None)
    expr = tx.aggregate(first=tx.date.min())
    first = (expr.to_pyarrow() if backend is None else backend.to_pyarrow(expr))
    first = first["first"][0].as_py()
    if first is None:
        return
    if isinstance(first, dt.datetime):
        first = first.date()
    need = t - relativedelta(months=min_months)
    if first > need:
        days = (t - first).days
        held = f"is {days} days" if days > 0 else "is empty"
        raise WorkspaceError(
            f"the backtest estimates as of {t} and the history before then {held} "
            f"(transactions start {first}); it needs at least {min_months} months",
            hint="load more history, or lower potential.backtest_min_history_months")


def _by_account(t: pa.Table, ids: pa.Array, value: str) -> np.ndarray:
    """``value`` of each account in ``ids`` order (0 where the table has none)."""
    pos = pc.fill_null(pc.index_in(ids, value_set=t["account_id"].combine_chunks()), -1)
    pos = pos.to_numpy(zero_copy_only=False)
    v = np.append(pc.cast(t[value], pa.float64()).to_numpy(zero_copy_only=False), 0.0)
    return np.nan_to_num(v[np.where(pos >= 0, pos, len(v) - 1)])


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


def stage_backtest(ctx: RunContext) -> dict[str, Any] | None:
    """The in-run backtest (``potential.backtest``), or ``None`` with a note saying why
    not.  The stage runs it before its own estimation, so that the backtest's working
    memory is returned before the stage's large tables are built."""
    if not ctx.config.potential.backtest:
        return None
    ctx.step("potential: backtest")
    try:
        out = backtest(ctx.source, ctx.config, ctx.as_of, now=ctx)
    except WorkspaceError as exc:
        ctx.note(f"potential backtest skipped: {exc.message}")
        return {"skipped": exc.message}
    pa.default_memory_pool().release_unused()
    return out


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


def _snapshot_config(text: str | None, fallback: Config | None) -> Config:
    """The config a snapshot was run with (the backtest must re-run the same settings)."""
    try:
        return Config.model_validate_json(text or "{}")
    except ValidationError:
        # a snapshot written by another version may not validate any more
        return fallback or Config()


def evaluate_snapshot(ws: Workspace, snapshot: int | str | None = "latest", *,
                      backtest_run: bool = False, config: Config | None = None
                      ) -> dict[str, Any]:
    """Evaluate a snapshot's potential: ground truth when present, backtest on request.

    The backtest re-runs with the snapshot's own config; ``config`` is used only when
    that can no longer be read.
    """
    info = ws.snapshot_info(snapshot)
    sid = info["snapshot_id"]
    for name in ("potential", "potential_account"):
        if not ws.has_output(name, sid):
            raise WorkspaceError(f"snapshot {sid} has no {name} output",
                                 hint="run `growthmap run` with the potential stage first")
    pot = ws.con.execute(f"SELECT * FROM snap_{sid}.potential").df()
    acc = ws.con.execute(
        f"SELECT p.*, v.status FROM snap_{sid}.potential_account p "
        f"JOIN snap_{sid}.account_value v USING (account_id)").df()
    config = _snapshot_config(info["config_json"], config)
    out: dict[str, Any] = {"snapshot": sid, "as_of": str(info["as_of"])}
    wallet, nxt = _truth_tables(ws)
    if wallet is not None:
        out["truth"] = truth_evaluation(pot, acc, wallet, config.potential.interval)
    if nxt is not None:
        out["truth_next_year"] = next_year_evaluation(pot, acc, nxt)
    if backtest_run:
        out["backtest"] = backtest(ws, config, info["as_of"])
    stored = json.loads(info["evaluations"] or "{}").get("potential", {})
    if "backtest" not in out and "backtest" in stored:  # what the run measured
        out["backtest"] = stored["backtest"]
    for key in ("published", "level"):  # what the run decided, as it stored it
        if key in stored:
            out[key] = stored[key]
    if "truth" in out and "baseline" in stored.get("truth", {}):
        out["truth"]["baseline"] = stored["truth"]["baseline"]
    return out
