"""Rollups: customers, value, potential and opportunity by territory, region, rep, manager.

Planning starts from one row per account — the *planning frame* — that joins what the
earlier stages produced (current value, potential and whitespace, propensity, ICP fit,
segments) with the reps and territories tables.  Every other planning module reads the
same frame, so a rep's book, a quota and a rollup can never disagree about an account.

A rollup sums the frame over a grouping.  For the territory and manager levels the
grouping is a *hierarchy*: a node's figures include every territory (or rep) below it,
so each level of the hierarchy can be read off the same table through ``parent_key``.
Outputs the planning frame reads are optional: a missing one leaves its columns empty
(null, never a made-up zero) and says so in a note.

The frame and the rollups are Ibis expressions, so they run on the run's backend
(DuckDB or Spark); only the small hierarchy tables are built in pandas.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from growthmap.errors import ConfigError
from growthmap.plan._frame import planning_table

if TYPE_CHECKING:
    from growthmap.runner.pipeline import RunContext
    from growthmap.workspace import Workspace

__all__ = [
    "LEVELS",
    "NONE_KEY",
    "SEGMENT_COUNTS",
    "UNOWNED",
    "PlanSource",
    "planning_frame",
    "rollup",
    "rollups",
]

LEVELS = ("total", "territory", "region", "industry", "rep", "manager")
#: Key of the accounts without an owner, in rep-level figures.
UNOWNED = "(unowned)"
#: Key of the accounts without a value in the grouping column.
NONE_KEY = "(none)"

#: Per-segment count columns of a rollup: column -> (frame column, value counted).
SEGMENT_COUNTS: dict[str, tuple[str, str]] = {
    **{f"tier_{t}": ("tier", t) for t in ("1a", "1b", "2", "3")},
    **{f"road_{r.lower()}": ("road", r) for r in ("Retain", "Develop", "Acquire",
                                                     "Opportunistic")},
    **{f"value_tier_{t.lower()}": ("value_tier", t) for t in ("A", "B", "C", "D")},
}

@dataclass
class PlanSource:
    """Where planning reads from: a run in progress or a snapshot in a workspace.

    ``output(name)`` gives an earlier stage's output and ``input(name)`` an input table
    (both Ibis, ``None`` when absent); ``execute`` runs an expression on the right
    backend.  Notes about what is missing go to the run (``ctx.note``) or collect in
    :attr:`notes` for the command line to print.
    """

    as_of: dt.date
    output: Callable[[str], ir.Table | None]
    input: Callable[[str], ir.Table | None]
    execute: Callable[[ir.Table], pd.DataFrame]
    notes: list[str] = field(default_factory=list)
    workspace: Workspace | None = None
    snapshot_id: int | None = None
    _sink: Callable[[str], None] | None = None
    _cache: dict[str, Any] = field(default_factory=dict)
    #: outputs as Arrow tables without a query (a run in progress holds them in memory)
    arrow_output: Callable[[str], pa.Table | None] | None = None
    #: runs an expression into Arrow (else through ``execute``)
    to_arrow: Callable[[ir.Table], pa.Table] | None = None
    #: frame columns left out: the plan stage never reads the reasons text
    skip: tuple[str, ...] = ()

    @classmethod
    def from_context(cls, ctx: RunContext) -> PlanSource:
        """Read the outputs of the run in progress (the ``plan`` stage)."""
        backend = getattr(ctx.source, "backend", None)

        def execute(expr: ir.Table) -> pd.DataFrame:
            return backend.to_pandas(expr) if backend is not None else expr.to_pandas()

        # ctx.arrow, not ctx.table: memtables are built here so no name is needed
        return cls(as_of=ctx.as_of,
                   output=lambda n: ibis.memtable(ctx.arrow(n)) if ctx.has(n) else None,
                   input=ctx.input, execute=execute, _sink=ctx.note,
                   arrow_output=lambda n: ctx.arrow(n) if ctx.has(n) else None)

    @classmethod
    def from_workspace(cls, ws: Workspace, snapshot: int | str | None = "latest") -> PlanSource:
        """Read a snapshot's outputs, and the workspace's current reps and territories."""
        sid = ws.resolve_snapshot(snapshot)
        as_of = ws.snapshot_info(sid)["as_of"]
        return cls(as_of=as_of,
                   output=lambda n: ws.output(n, sid) if ws.has_output(n, sid) else None,
                   input=ws.maybe_table, execute=ws.ibis.to_pandas, workspace=ws,
                   snapshot_id=sid, to_arrow=ws.ibis.to_pyarrow)

    def note(self, message: str) -> None:
        """Record something skipped or assumed, once."""
        if message not in self.notes:
            self.notes.append(message)
            if self._sink is not None:
                self._sink(message)

    def input_frame(self, name: str) -> pd.DataFrame | None:
        """A (small) input table as pandas, cached; ``None`` when not loaded."""
        key = f"input:{name}"
        if key not in self._cache:
            t = self.input(name)
            self._cache[key] = None if t is None else self.execute(t)
        return self._cache[key]

    def output_frame(self, name: str) -> pd.DataFrame | None:
        """An earlier output as pandas, cached; ``None`` when it was not produced."""
        key = f"output:{name}"
        if key not in self._cache:
            t = self.output(name)
            self._cache[key] = None if t is None else self.execute(t)
        return self._cache[key]

    def output_arrow(self, name: str, columns: list[str]) -> pa.Table | None:
        """Those of ``columns`` an earlier output has, as Arrow; ``None`` when absent."""
        if self.arrow_output is not None:
            t = self.arrow_output(name)
            return None if t is None else t.select([c for c in columns if c in t.column_names])
        expr = self.output(name)
        if expr is None:
            return None
        expr = expr.select([c for c in columns if c in expr.columns])
        if self.to_arrow is not None:
            return self.to_arrow(expr)
        return pa.Table.from_pandas(self.execute(expr), preserve_index=False)

    def input_arrow(self, name: str, columns: list[str]) -> pa.Table | None:
        """Those of ``columns`` a (small) input table has, as Arrow; ``None`` when absent."""
        df = self.input_frame(name)
        if df is None:
            return None
        return pa.Table.from_pandas(df[[c for c in columns if c in df.columns]],
                                    preserve_index=False)

    def table(self) -> pa.Table:
        """The planning frame (one row per account) as Arrow, computed once."""
        if "table" not in self._cache:
            self._cache["table"] = planning_table(self, lambda c: c not in self.skip)
        return self._cache["table"]

    def frame(self) -> pd.DataFrame:
        """The planning frame (one row per account) as pandas, computed once."""
        if "frame" not in self._cache:
            self._cache["frame"] = self.table().to_pandas()
        return self._cache["frame"]


def planning_frame(src: PlanSource) -> ir.Table:
    """One row per account with everything planning needs, as an Ibis table.

    Columns: account_id, name, owner_rep_id, territory_id, region, industry, lat, lon,
    status, is_customer, value_tier, current, potential, whitespace, share_of_wallet,
    road, matrix_cell, value_band, potential_band, ptb, icp_fit, risk, tier, care_model,
    coverage_role, touches_per_year, hours_per_touch, next_best_offer, nbo_score,
    reasons, risk_readiness, manager_id, expected_opportunity (= ptb x whitespace),
    workload_hours (= touches x hours).  Built in Arrow (:mod:`growthmap.plan._frame`
    says why) and handed over as an in-memory table.
    """
    return ibis.memtable(src.table())


# -- hierarchies ---------------------------------------------------------------------------


def _closure(parent: dict[str, str | None]) -> pd.DataFrame:
    """Every (member, node) pair where node is the member itself or one of its ancestors.

    Cycles in the parent column stop at the first repeated node, so a bad hierarchy
    cannot loop forever.
    """
    rows = []
    for member in parent:
        seen = set()
        node: str | None = member
        while node is not None and node not in seen:
            seen.add(node)
            rows.append((member, node))
            nxt = parent.get(node)
            node = nxt if isinstance(nxt, str) and nxt in parent else None
    return pd.DataFrame(rows, columns=["member", "node"])


def _parent_map(frame: pd.DataFrame, key: str, parent: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for k, p in zip(frame[key].astype("string"), frame[parent].astype("string"), strict=True):
        if pd.notna(k):
            out[str(k)] = None if pd.isna(p) or p == k else str(p)
    return out


def _grouping(frame: ir.Table, level: str, src: PlanSource) -> tuple[ir.Table, pd.DataFrame]:
    """(frame with a ``_member`` column, nodes: member -> node, plus node's parent/name)."""
    if level == "total":
        f = frame.mutate(_member=ibis.literal("all"))
        return f, pd.DataFrame({"member": ["all"], "node": ["all"], "parent_key": [None],
                                "name": ["all accounts"]})
    if level in ("region", "industry"):
        f = frame.mutate(_member=frame[level].fill_null(NONE_KEY))
        keys = src.execute(f.select("_member").distinct())["_member"].astype(str).tolist()
        return f, pd.DataFrame({"member": keys, "node": keys, "parent_key": None, "name": keys})
    if level == "territory":
        f = frame.mutate(_member=frame.territory_id.fill_null(NONE_KEY))
        keys = src.execute(f.select("_member").distinct())["_member"].astype(str).tolist()
        terr = src.input_frame("territories")
        parent: dict[str, str | None] = {}
        names: dict[str, str] = {}
        if terr is None:
            src.note("plan: no territories table, so territory rollups have no hierarchy")
        else:
            if "parent_id" in terr.columns:
                parent = _parent_map(terr, "territory_id", "parent_id")
            else:
                parent = {str(k): None for k in terr.territory_id.dropna()}
            if "name" in terr.columns:
                names = dict(zip(terr.territory_id.astype(str), terr["name"], strict=True))
        for k in keys:
            parent.setdefault(k, None)
        nodes = _closure(parent)
        nodes["parent_key"] = nodes.node.map(parent)
        nodes["name"] = nodes.node.map(names)
        return f, nodes
    if level in ("rep", "manager"):
        f = frame.mutate(_member=frame.owner_rep_id.fill_null(UNOWNED))
        keys = src.execute(f.select("_member").distinct())["_member"].astype(str).tolist()
        reps = src.input_frame("reps")
        parent, names = {}, {}
        if reps is None:
            src.note("plan: no reps table, so rep rollups are by owner id only and there is "
                     "no manager level; load reps to get names and the management hierarchy")
            if level == "manager":
                return f, pd.DataFrame(columns=["member", "node", "parent_key", "name"])
        else:
            if "manager_id" in reps.columns:
                parent = _parent_map(reps, "rep_id", "manager_id")
            else:
                parent = {str(k): None for k in reps.rep_id.dropna()}
                if level == "manager":
                    src.note("plan: reps has no manager_id column, so there is no manager level")
            if "name" in reps.columns:
                names = dict(zip(reps.rep_id.astype(str), reps["name"], strict=True))
        for k in keys:
            parent.setdefault(k, None)
        if level == "rep":
            nodes = pd.DataFrame({"member": list(parent), "node": list(parent)})
        else:
            managers = {p for p in parent.values() if p is not None}
            nodes = _closure(parent)
            nodes = nodes[nodes.node.isin(managers)]
        nodes = nodes.assign(parent_key=nodes.node.map(parent), name=nodes.node.map(names))
        return f, nodes
    raise ConfigError(f"unknown rollup level {level!r}", hint=f"use one of: {', '.join(LEVELS)}")


_AGG_COLUMNS = ["level", "key", "name", "parent_key", "accounts", "customers", "prospects",
                "current", "potential", "whitespace", "share_of_wallet",
                "expected_opportunity", "workload_hours", *SEGMENT_COUNTS]


def rollup(frame: ir.Table, level: str, src: PlanSource) -> ir.Table:
    """Sum the planning frame to one row per node of ``level``.

    Sums of a column that is entirely empty (its output is missing) stay null, so a
    reader can tell "no data" from "zero".  ``share_of_wallet`` is current / potential of
    the node's totals; ``expected_opportunity`` is the sum of PtB x whitespace.
    """
    f, nodes = _grouping(frame, level, src)
    nodes = nodes.astype({"member": "string", "node": "string"})
    meta = nodes.drop_duplicates("node")[["node", "parent_key", "name"]].astype("string")
    edges = ibis.memtable(nodes[["member", "node"]].rename(columns={"member": "_m",
                                                                      "node": "_node"}))
    j = f.inner_join(edges, f._member == edges._m)
    counts = {
        col: ibis.cases((j[src_col].isnull(), ibis.null("int64")),
                        (j[src_col] == value, 1), else_=0).sum()
        for col, (src_col, value) in SEGMENT_COUNTS.items()
    }
    agg = j.group_by("_node").aggregate(
        accounts=j.count(),
        customers=j.is_customer.fill_null(False).cast("int64").sum(),
        current=j.current.sum(),
        potential=j.potential.sum(),
        whitespace=j.whitespace.sum(),
        expected_opportunity=j.expected_opportunity.sum(),
        workload_hours=j.workload_hours.sum(),
        **counts,
    )
    m = ibis.memtable(meta.rename(columns={"node": "_key"}))
    out = agg.left_join(m, agg._node == m._key)
    out = out.select(
        level=ibis.literal(level),
        key=out._node,
        name=out["name"].cast("string"),
        parent_key=out.parent_key.cast("string"),
        accounts=out.accounts.cast("int64"),
        customers=out.customers.cast("int64"),
        prospects=(out.accounts - out.customers).cast("int64"),
        current=out.current.cast("float64"),
        potential=out.potential.cast("float64"),
        whitespace=out.whitespace.cast("float64"),
        share_of_wallet=ibis.cases((out.potential > 0, out.current / out.potential),
                                   else_=ibis.null("float64")),
        expected_opportunity=out.expected_opportunity.cast("float64"),
        workload_hours=out.workload_hours.cast("float64"),
        **{c: out[c].cast("int64") for c in SEGMENT_COUNTS},
    )
    return out.order_by("key")


def rollups(src: PlanSource, levels: list[str] | tuple[str, ...] = LEVELS) -> pd.DataFrame:
    """Every requested level stacked in one table (the ``rollup`` output).

    Levels that cannot be built (no manager hierarchy) contribute no rows, with a note.
    """
    # only the columns a rollup reads: the engine then scans a dozen narrow columns
    used = ["territory_id", "region", "industry", "owner_rep_id", "is_customer", "current",
            "potential", "whitespace", "expected_opportunity", "workload_hours",
            *{c for c, _ in SEGMENT_COUNTS.values()}]
    frame = ibis.memtable(src.table().select(used))
    parts = [src.execute(rollup(frame, level, src)) for level in levels]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in _AGG_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    order = {lv: i for i, lv in enumerate(LEVELS)}
    out["_o"] = out.level.map(order)
    return out.sort_values(["_o", "key"], kind="stable").drop(columns="_o").reset_index(drop=True)
