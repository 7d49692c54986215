"""The run: stages ordered by what they need, outputs checked, one snapshot at the end.

A stage is a function ``stage(ctx: RunContext) -> None`` registered with
:func:`register_stage`, which names what it **needs** (outputs of other stages, or input
tables, without which it cannot run), what it uses when present (**optional**) and what
it **provides** (its outputs).  The runner derives the order from those names (a stage
runs after every stage that provides something it needs or uses), checks before a stage
runs that its needs are there and after it has run that each output it published is
declared and matches the output contract (:mod:`growthmap.contract.outputs`), and names
the stage in every error.  A stage reads inputs through ``ctx.source`` / ``ctx.input``
(Ibis tables, so the same code runs on DuckDB and Spark) and other stages' outputs
through ``ctx.table`` / ``ctx.arrow`` / ``ctx.frame``, only the ones it declares.  A stage
whose optional input is missing says so with ``ctx.note`` and the run goes on.  Nothing
is written until every stage has succeeded: a failed run leaves the last good snapshot
untouched.

A stage may also name a **backtest**: a function the runner calls just before the stage
(so its working memory is returned before the stage builds its own large tables); what
it returns is handed to the stage as ``ctx.backtests[name]`` (the potential stage
publishes its baseline when the backtest says the model does not beat it).

Built-in stages register the same way a user's would: the modules listed in
``STAGE_MODULES`` are imported and register themselves.
"""

from __future__ import annotations

import datetime as dt
import heapq
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import ibis
import pandas as pd
import pyarrow as pa

from growthmap.config import Config
from growthmap.contract.inputs import TABLES
from growthmap.contract.outputs import check_output
from growthmap.errors import GrowthmapError, StageError, WorkspaceError
from growthmap.runner.memory import release_free_memory, tune_allocator

__all__ = [
    "STAGE_MODULES",
    "RunContext",
    "Source",
    "Stage",
    "register_stage",
    "run_stages",
    "stages",
]

#: Modules whose import registers the built-in stages (ties in the order go this way).
STAGE_MODULES: list[str] = [
    "growthmap.value.stage",
    "growthmap.potential.stage",
    "growthmap.potential.backtest",
    "growthmap.scores.stage",
    "growthmap.segments.markets",
    "growthmap.segments.stage",
    "growthmap.plan.stage",
]


class Source(Protocol):
    """Where a run's input tables come from (a workspace, or Parquet on Spark)."""

    backend: Any

    def maybe_table(self, name: str) -> ibis.Table | None: ...


Progress = Callable[[str], None]


@dataclass
class RunContext:
    """Everything a stage sees: config, as-of, inputs, and outputs so far."""

    config: Config
    as_of: dt.date
    source: Source
    outputs: dict[str, pa.Table] = field(default_factory=dict)
    evaluations: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    progress: Progress | None = None
    #: called with every output as it is published (a run writes it to the snapshot)
    sink: Callable[[str, pa.Table], None] | None = None
    #: called with a stage's name when it has finished (a run then writes its outputs)
    on_stage_done: Callable[[str], None] | None = None
    #: the stage running now (the runner sets it): what it may read and publish
    stage: Stage | None = None
    #: stage name -> what the runner's call of its backtest returned
    backtests: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # a run frees gigabytes of arrays: let that memory go back to the system
        tune_allocator()

    # -- inputs ------------------------------------------------------------------
    def input(self, name: str) -> ibis.Table | None:
        """An input table, or ``None`` when it was not loaded (optional tables)."""
        return self.source.maybe_table(name)

    def require(self, name: str, why: str) -> ibis.Table:
        t = self.input(name)
        if t is None:
            raise WorkspaceError(f"the {name} table is needed for {why} but was not loaded",
                                 hint=f"load it with `growthmap load {name} FILE`")
        return t

    # -- outputs -----------------------------------------------------------------
    def put(self, name: str, data: ibis.Table | pd.DataFrame | pa.Table) -> pa.Table:
        """Publish an output; Ibis expressions are executed once, here."""
        st = self.stage
        if st is not None and name not in st.provides:
            raise StageError(st.name, f"published {name!r}, which it does not declare",
                             hint=f"add {name!r} to the stage's provides")
        table = self.to_arrow(data)
        if st is not None:
            problem = check_output(name, table.schema)
            if problem:
                raise StageError(st.name, f"output {name!r} breaks its contract: {problem}",
                                 hint="fix the stage, or the output's declaration in "
                                      "growthmap.contract.outputs")
        self.outputs[name] = table
        if self.sink is not None:
            self.sink(name, table)
        return table

    def to_arrow(self, data: ibis.Table | pd.DataFrame | pa.Table) -> pa.Table:
        """``data`` as Arrow; an Ibis expression is executed on the run's backend."""
        if isinstance(data, ibis.Table):
            return self.source.backend.to_pyarrow(data)
        if isinstance(data, pd.DataFrame):
            return pa.Table.from_pandas(data, preserve_index=False)
        return data

    def _reads(self, name: str) -> None:
        st = self.stage
        if st is not None and name not in st.reads:
            raise StageError(st.name, f"reads output {name!r}, which it does not declare",
                             hint=f"add {name!r} to the stage's needs or optional")

    def has(self, name: str) -> bool:
        self._reads(name)
        return name in self.outputs

    def arrow(self, name: str) -> pa.Table:
        self._reads(name)
        try:
            return self.outputs[name]
        except KeyError:
            who = self.stage.name if self.stage is not None else "a stage"
            raise WorkspaceError(f"{who} reads output {name!r}, which no stage produced "
                                 "in this run",
                                 hint="check the inputs of the stage that provides it, "
                                      "or declare the output optional") from None

    def frame(self, name: str) -> pd.DataFrame:
        return self.arrow(name).to_pandas()

    def table(self, name: str) -> ibis.Table:
        """An earlier output as an Ibis table on the run's backend."""
        return ibis.memtable(self.arrow(name))

    def note(self, message: str) -> None:
        """Record something skipped or assumed (shown in the summary and the report)."""
        if message not in self.notes:
            self.notes.append(message)

    def stage_done(self, name: str) -> None:
        """Called by the runner when stage ``name`` has finished.

        Arrow's allocator, malloc and DuckDB's buffer pool keep memory a stage freed (or
        blocks it scanned) for their own reuse; handing it back lets the next stage use
        it instead of growing.  DuckDB's cache is released by the run's snapshot writer
        only (:meth:`SnapshotWriter.attach`): lowering DuckDB's memory limit is safe only
        when no other thread is in a query, and a context without a writer may be one a
        stage runs inside a run (the potential stage's backtest) while the run's writer
        is writing.
        """
        pa.default_memory_pool().release_unused()
        release_free_memory()
        if self.on_stage_done is not None:  # a run's snapshot writer: it also releases
            self.on_stage_done(name)        # DuckDB's cache when its thread is idle

    def step(self, message: str) -> None:
        if self.progress:
            self.progress(message)


Backtest = Callable[[RunContext], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Stage:
    """A registered stage: its function and the names it needs, may use and provides."""

    name: str
    func: Callable[[RunContext], None]
    doc: str
    needs: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    backtest: Backtest | None = None

    @property
    def reads(self) -> frozenset[str]:
        """Outputs the stage may read: what it needs, may use, or has published itself."""
        return frozenset((*self.needs, *self.optional, *self.provides))

    def run(self, ctx: RunContext) -> None:
        """Run the stage on ``ctx``: needs checked, backtest first, outputs checked."""
        missing = [n for n in self.needs if not _available(ctx, n)]
        if missing:
            raise WorkspaceError(_missing_message(self, missing, ctx),
                                 hint=_missing_hint(missing))
        outer, ctx.stage = ctx.stage, self
        try:
            if self.backtest is not None:
                ctx.backtests[self.name] = self.backtest(ctx)
            self.func(ctx)
        except StageError:
            raise
        except GrowthmapError as exc:  # a user's mistake: keep its kind, name the stage
            exc.message = f"{self.name} stage: {exc.message}"
            exc.args = (exc.message,)
            raise
        except Exception as exc:
            raise StageError(self.name, f"failed: {type(exc).__name__}: {exc}",
                             hint="run with --debug for the traceback") from exc
        finally:
            ctx.stage = outer
        ctx.stage_done(self.name)


def _available(ctx: RunContext, name: str) -> bool:
    if name in TABLES:
        return ctx.source.maybe_table(name) is not None
    return name in ctx.outputs


def _missing_message(st: Stage, missing: list[str], ctx: RunContext) -> str:
    by = providers()
    parts = []
    for n in missing:
        if n in TABLES:
            parts.append(f"the {n} table, which was not loaded")
        elif n in by:
            parts.append(f"output {n!r}, which the {by[n]} stage did not produce in this run")
        else:
            parts.append(f"output {n!r}, which no registered stage provides")
    return f"the {st.name} stage needs " + "; ".join(parts)


def _missing_hint(missing: list[str]) -> str:
    tables = [n for n in missing if n in TABLES]
    if tables:
        return "load it with " + ", ".join(f"`growthmap load {n} FILE`" for n in tables)
    return "run the stages that provide it first (or do not exclude them with --only)"


_REGISTRY: dict[str, Stage] = {}


def register_stage(name: str, *, needs: Iterable[str] = (), optional: Iterable[str] = (),
                   provides: Iterable[str] = (), backtest: Backtest | None = None
                   ) -> Callable[[Callable[[RunContext], None]], Callable]:
    """Decorator: register ``func`` as the stage ``name`` (a later registration replaces).

    ``needs``: outputs of other stages or input tables the stage cannot run without;
    ``optional``: ones it uses when present; ``provides``: the outputs it publishes
    (each declared in the output contract).  The runner orders stages from these names.
    """

    def deco(func: Callable[[RunContext], None]) -> Callable[[RunContext], None]:
        doc = (func.__doc__ or "").strip().split("\n")[0]
        _REGISTRY[name] = Stage(name, func, doc, tuple(needs), tuple(optional),
                                tuple(provides), backtest)
        return func

    return deco


def set_backtest(name: str, backtest: Backtest) -> None:
    """Give the registered stage ``name`` a backtest (it lives apart from the stage,
    since a backtest re-runs stages: the stage does not import it)."""
    st = _REGISTRY[name]
    _REGISTRY[name] = Stage(st.name, st.func, st.doc, st.needs, st.optional, st.provides,
                            backtest)


def providers() -> dict[str, str]:
    """Output name -> the stage that provides it."""
    out: dict[str, str] = {}
    for st in _registered():
        for n in st.provides:
            if n in out and out[n] != st.name:
                raise StageError(st.name, f"provides {n!r}, which the {out[n]} stage "
                                 "provides too", hint="one output, one stage")
            out[n] = st.name
    return out


def _registered() -> list[Stage]:
    for mod in STAGE_MODULES:
        importlib.import_module(mod)
    rank = {m: i for i, m in enumerate(STAGE_MODULES)}
    # built-ins in STAGE_MODULES order whatever imported them first; others after
    return sorted(_REGISTRY.values(),
                  key=lambda st: rank.get(st.func.__module__, len(rank)))


def stages() -> list[Stage]:
    """Registered stages in run order: each after the stages whose outputs it reads."""
    regs = _registered()
    by = providers()
    for st in regs:
        for n in (*st.needs, *st.optional):
            if n not in by and n not in TABLES:
                raise StageError(st.name, f"names {n!r}, which is neither an input table "
                                 "nor an output any registered stage provides",
                                 hint="check the spelling, or register the stage that "
                                      "provides it")
    index = {st.name: i for i, st in enumerate(regs)}
    after: dict[str, set[str]] = {st.name: set() for st in regs}
    for st in regs:
        for n in (*st.needs, *st.optional):
            if n in by and by[n] != st.name:
                after[st.name].add(by[n])
    waiting = {name: len(deps) for name, deps in after.items()}
    ready = [(index[n], n) for n, k in waiting.items() if k == 0]
    heapq.heapify(ready)
    order: list[Stage] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(regs[index[name]])
        for other, deps in after.items():
            if name in deps:
                waiting[other] -= 1
                if waiting[other] == 0:
                    heapq.heappush(ready, (index[other], other))
    if len(order) < len(regs):
        stuck = sorted(n for n, k in waiting.items() if k > 0)
        raise StageError(stuck[0], f"stages {', '.join(stuck)} need each other's outputs",
                         hint="a stage may not need, even optionally, what a later stage "
                              "provides from its own outputs")
    return order


def run_stages(ctx: RunContext, only: list[str] | None = None) -> RunContext:
    """Run every registered stage (or those in ``only``) in order."""
    for st in stages():
        if only is not None and st.name not in only:
            continue
        ctx.step(st.name)
        st.run(ctx)
    return ctx
