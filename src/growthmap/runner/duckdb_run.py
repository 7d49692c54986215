"""``growthmap run``: resolve the as-of date, run every stage, write a snapshot."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from growthmap.config import Config
from growthmap.errors import WorkspaceError
from growthmap.runner.pipeline import Progress, RunContext, run_stages
from growthmap.runner.snapshot import OutputSpill, SnapshotWriter
from growthmap.workspace import Workspace

__all__ = ["RunResult", "as_of_warnings", "data_currency", "default_as_of", "run",
           "with_data_currency"]


@dataclass
class RunResult:
    """What a run produced: the snapshot id and the outputs it wrote."""

    snapshot_id: int | None
    as_of: dt.date
    outputs: dict[str, pa.Table]
    evaluations: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def default_as_of(ws: Workspace) -> dt.date:
    """The latest transaction date: the natural as-of when the config gives none."""
    for t in ("transactions",):
        if not ws.has_table(t):
            raise WorkspaceError("the workspace has no transactions",
                                 hint="load them with `growthmap load transactions FILE`")
    (last,) = ws.con.execute("SELECT max(date) FROM main.transactions").fetchone()
    if last is None:
        raise WorkspaceError("the transactions table is empty",
                             hint="load transactions with at least one valid row")
    return last


def as_of_warnings(ws: Workspace, as_of: dt.date) -> list[str]:
    """Warnings when ``as_of`` lies outside what the transactions can support.

    A date well after the last transaction silently shrinks every trailing-twelve-month
    figure (the months after the data count as zero); a date with less than a year of
    history before it leaves T12M and the models' features short.  Both are easy to do
    by accident (a config copied from another year), so the run says so with the dates.
    """
    first, last = ws.con.execute("SELECT min(date), max(date) FROM main.transactions").fetchone()
    if first is None:
        return []
    first, last = _day(first), _day(last)
    out = []
    gap = (as_of - last).days
    if gap > 31:
        out.append(
            f"warning: the as-of date {as_of} is {gap} days after the data's last transaction "
            f"({last}); every trailing-twelve-month figure counts those days as no sales. "
            f"Use --as-of {last} or load newer transactions.")
    if (as_of - first).days < 365:
        out.append(
            f"warning: only {(as_of - first).days} days of transactions before the as-of date "
            f"{as_of} (the data starts {first}); T12M and the models want a full year.")
    return out


def data_currency(ws: Workspace) -> str | None:
    """The one currency the loaded transactions are in, when they name exactly one."""
    cols = {r[0] for r in ws.con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name = 'transactions'").fetchall()}
    if "currency" not in cols:
        return None
    found = ws.con.execute(
        "SELECT DISTINCT upper(trim(CAST(currency AS VARCHAR))) FROM main.transactions "
        "WHERE currency IS NOT NULL LIMIT 2").fetchall()
    return found[0][0] if len(found) == 1 and len(found[0][0]) == 3 else None


def with_data_currency(ws: Workspace, config: Config) -> tuple[Config, str | None]:
    """``config`` in the currency of the data when the config does not name one.

    Data loaded in GBP is shown in GBP everywhere (thresholds, summary, report) unless
    ``run.currency`` says otherwise; returns the note saying so, if any.
    """
    if "currency" in config.run.model_fields_set:
        return config, None
    found = data_currency(ws)
    if not found or found == config.run.currency:
        return config, None
    run_cfg = config.run.model_copy(update={"currency": found})
    note = (f"amounts are in {found}, the currency of the loaded transactions "
            "(set run.currency in growthmap.toml to name another)")
    return config.model_copy(update={"run": run_cfg}), note


def _day(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def run(
    ws: Workspace,
    config: Config | None = None,
    *,
    as_of: dt.date | None = None,
    only: list[str] | None = None,
    write: bool = True,
    label: str | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run the pipeline on a workspace and (by default) write the snapshot.

    Outputs are written to the new snapshot as the stages publish them (in a thread, in a
    transaction of their own) and committed only when every stage has succeeded, so a
    failure leaves the workspace exactly as it was.
    """
    config = config or Config()
    for t in ("accounts", "transactions"):
        ws.table(t)  # clear error when a required table is missing
    as_of = as_of or config.run.as_of or default_as_of(ws)
    config, currency_note = with_data_currency(ws, config)
    ctx = RunContext(config=config, as_of=as_of, source=ws, progress=progress)
    for warning in as_of_warnings(ws, as_of):
        ctx.note(warning)
    if currency_note:
        ctx.note(currency_note)
    if not write:
        run_stages(ctx, only=only)
        return RunResult(None, as_of, ctx.outputs, ctx.evaluations, ctx.notes)
    # outputs are written while the later stages run; nothing is visible before commit
    with SnapshotWriter(ws, OutputSpill()).attach(ctx) as writer:
        run_stages(ctx, only=only)
        sid = writer.commit(as_of=as_of, config=config, outputs=ctx.outputs,
                            evaluations=ctx.evaluations, notes=ctx.notes, label=label)
    return RunResult(sid, as_of, ctx.outputs, ctx.evaluations, ctx.notes)
