"""The potential's temporal backtest, run by the runner, and a snapshot's evaluation read back.

The backtest estimates potential as of T = as-of - 12 months from the data up to T only
(the value stage re-run as of T, then the potential's estimation) and measures each
account's growth from the 12 months before T to the 12 months after (see
:mod:`growthmap.potential.evaluate` for the measures).  It re-runs a stage, so it is not
called from inside the potential stage: it is registered as that stage's backtest and
the runner calls it just before the stage.
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

from growthmap.config import Config
from growthmap.errors import WorkspaceError
from growthmap.potential.evaluate import (
    _truth_tables,
    growth_lift,
    next_year_evaluation,
    spearman,
    truth_evaluation,
)
from growthmap.potential.stage import cell_matrix, compute_wallets
from growthmap.runner.pipeline import RunContext, run_stages, set_backtest

if TYPE_CHECKING:
    from growthmap.workspace import Workspace

__all__ = ["BLEND_WEIGHTS", "SampledSource", "backtest", "backtest_sample", "evaluate_snapshot",
           "stage_backtest"]

#: Blends of model and baseline the backtest tries when the model does not beat it.
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75)


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


def stage_backtest(ctx: RunContext) -> dict[str, Any] | None:
    """The in-run backtest (``potential.backtest``), or ``None`` with a note saying why
    not.  The runner calls it before the stage's own estimation (the stage reads the
    result from ``ctx.backtests``), so that the backtest's working memory is returned
    before the stage's large tables are built."""
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


set_backtest("potential", stage_backtest)
