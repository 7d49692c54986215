"""The run: stages in order, outputs collected, one snapshot written at the end.

A stage is a function ``stage(ctx: RunContext) -> None`` registered with
:func:`register_stage`; it reads inputs through ``ctx.source`` (Ibis tables, so the
same code runs on DuckDB and Spark) and earlier stages' outputs through
``ctx.table`` / ``ctx.frame``, and publishes its own with ``ctx.put``.  A stage whose
optional input is missing says so with ``ctx.note`` and the run goes on.  Nothing
is written until every stage has succeeded: a failed run leaves the last good
snapshot untouched.

Built-in stages register the same way a user's would: the modules listed in
``STAGE_MODULES`` are imported and register themselves.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import ibis
import pandas as pd
import pyarrow as pa

from growthmap.config import Config
from growthmap.errors import WorkspaceError
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

#: Modules whose import registers the built-in stages, in run order.
STAGE_MODULES: list[str] = [
    "growthmap.value.stage",
    "growthmap.potential.stage",
    "growthmap.scores.stage",
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
        if isinstance(data, ibis.Table):
            table = self.source.backend.to_pyarrow(data)
        elif isinstance(data, pd.DataFrame):
            table = pa.Table.from_pandas(data, preserve_index=False)
        else:
            table = data
        self.outputs[name] = table
        if self.sink is not None:
            self.sink(name, table)
        return table

    def has(self, name: str) -> bool:
        return name in self.outputs

    def arrow(self, name: str) -> pa.Table:
        try:
            return self.outputs[name]
        except KeyError:
            raise WorkspaceError(f"output {name!r} was not produced by an earlier stage",
                                 hint="check the stage order or the inputs it needs") from None

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
        """Called by the stage machinery when stage ``name`` has finished.

        Arrow's allocator and malloc keep memory a stage freed for their own reuse;
        handing it back lets the next stage use it instead of growing.
        """
        pa.default_memory_pool().release_unused()
        release_free_memory()
        if self.on_stage_done is not None:
            self.on_stage_done(name)

    def step(self, message: str) -> None:
        if self.progress:
            self.progress(message)


@dataclass(frozen=True)
class Stage:
    name: str
    func: Callable[[RunContext], None]
    doc: str


_REGISTRY: dict[str, Stage] = {}


def register_stage(name: str) -> Callable[[Callable[[RunContext], None]], Callable]:
    """Decorator: register ``func`` as the stage ``name`` (later registration replaces)."""

    def deco(func: Callable[[RunContext], None]) -> Callable[[RunContext], None]:
        @functools.wraps(func)
        def run(ctx: RunContext) -> None:
            func(ctx)
            ctx.stage_done(name)

        _REGISTRY[name] = Stage(name, run, (func.__doc__ or "").strip().split("\n")[0])
        return func

    return deco


def stages() -> list[Stage]:
    """Registered stages in run order (built-ins imported first)."""
    for mod in STAGE_MODULES:
        importlib.import_module(mod)
    order = {m: i for i, m in enumerate(STAGE_MODULES)}
    # built-ins run in STAGE_MODULES order whatever imported them first; others after
    return sorted(_REGISTRY.values(),
                  key=lambda st: order.get(st.func.__module__, len(order)))


def run_stages(ctx: RunContext, only: list[str] | None = None) -> RunContext:
    """Run every registered stage (or those in ``only``) in order."""
    for st in stages():
        if only is not None and st.name not in only:
            continue
        ctx.step(st.name)
        st.func(ctx)
    return ctx
