"""The ``markets`` stage: addressable, obtainable and active market.

Obtainable means *good enough fit*: accounts with potential whose ICP fit is at least
``potential.obtainable_min_fit``.  ICP fit comes from the models stage, which runs after
the potential stage, so markets are a stage of their own that needs both: the runner
orders it after them from what it declares.  When the run has no usable ICP fit (the
models stage skipped it), obtainable falls back to accounts with at least the obtainable
potential threshold, and the run says so.
"""

from __future__ import annotations

import ibis
import pyarrow as pa
import pyarrow.compute as pc

from growthmap.potential.matrix import markets, resolve_thresholds
from growthmap.runner.pipeline import RunContext, register_stage

__all__ = ["stage"]


def _usable_fit(icp: pa.Table) -> bool:
    if "icp_fit" not in icp.column_names:
        return False
    fit = pc.cast(icp["icp_fit"], pa.float64())
    return bool(pc.any(pc.is_finite(fit)).as_py())


@register_stage("markets", needs=("potential_account", "account_value"), optional=("icp",),
                provides=("markets",))
def stage(ctx: RunContext) -> None:
    """Addressable, obtainable (by ICP fit) and active market."""
    cfg = ctx.config.potential
    status = ctx.arrow("account_value").select(["account_id", "status"])
    acc = ctx.arrow("potential_account")
    pos = pc.index_in(acc["account_id"], value_set=status["account_id"].combine_chunks())
    acc = acc.append_column("status", pc.take(status["status"], pos))
    t = ibis.memtable(acc)
    icp_arrow = ctx.arrow("icp") if ctx.has("icp") else None
    if icp_arrow is not None and _usable_fit(icp_arrow):
        icp = ibis.memtable(icp_arrow.select(["account_id", "icp_fit"]))
        ctx.put("markets", markets(t, None, icp, cfg.obtainable_min_fit))
        return
    ctx.note("markets: no ICP fit in this run, so 'obtainable' means potential of at "
             "least the obtainable threshold")
    th = resolve_thresholds(t, cfg, ctx.source.backend, ctx.config.run.currency)
    ctx.put("markets", markets(t, th, None, cfg.obtainable_min_fit))
