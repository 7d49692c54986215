"""``growthmap plan ...``: rollups, books, quotas, capacity, allocation, alignment, scorecards.

Every command is a thin shell: it opens the workspace, makes one library call from
:mod:`growthmap.plan` and prints the result (or writes it with ``--output``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from growthmap.cli._common import console, get_config, open_workspace
from growthmap.errors import ConfigError

__all__ = ["plan_app", "register"]

plan_app = typer.Typer(
    help="Plan the field: rollups, rep books, quotas, capacity, allocation, alignment.",
    no_args_is_help=True)

Snapshot = Annotated[str, typer.Option(help="Snapshot id, or latest / previous.")]
Output = Annotated[Path | None, typer.Option(
    "--output", "-o", help="Also write the full table to this CSV file.")]


def _percent(text: str, what: str) -> float:
    """``8%`` or ``0.08`` -> 0.08."""
    t = text.strip()
    try:
        return float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise ConfigError(f"{what} {text!r} is not a number or percentage",
                          hint=f"write e.g. --{what} 8% or --{what} 0.08") from None


_PERCENT = {"share_of_wallet", "share_of_potential", "coverage", "ptb", "attainment", "pace",
            "period_elapsed", "uplift_pct", "cost_of_sales", "growth"}


def _cell(v: object, col: str) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, float):
        if col in _PERCENT or "_dev_" in col:
            return f"{v:.1%}"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"
    return str(v)


def show(df: pd.DataFrame, title: str, columns: list[str] | None = None,
         limit: int | None = None) -> None:
    """Print a frame as a rich table (only ``columns``, at most ``limit`` rows)."""
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    t = Table(title=title)
    for c in cols:
        t.add_column(c, justify="right" if pd.api.types.is_numeric_dtype(df[c]) else "left")
    rows = df if limit is None else df.head(limit)
    for r in rows[cols].itertuples(index=False):
        t.add_row(*[_cell(v, c) for v, c in zip(r, cols, strict=True)])
    console.print(t)
    if limit is not None and len(df) > limit:
        console.print(f"[dim]{len(df) - limit} more rows (use --output FILE for all)[/]")


def _notes(notes: list[str]) -> None:
    for n in notes:
        console.print(f"[dim]note: {n}[/]")


def _write(df: pd.DataFrame, output: Path | None) -> None:
    from growthmap.report.csv_safety import neutralise_frame

    if output is not None:  # names from the data must not run as formulas in Excel
        neutralise_frame(df).to_csv(output, index=False)
        console.print(f"wrote {len(df):,} rows to {output}")


def _source(ws, snapshot: str):  # the workspace's snapshot as a planning source
    from growthmap.plan import PlanSource

    return PlanSource.from_workspace(ws, snapshot)


@plan_app.command("rollup")
def rollup_cmd(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(
        help="total, territory, region, industry, rep or manager.")] = "territory",
    snapshot: Snapshot = "latest",
    output: Output = None,
) -> None:
    """Customers, value, potential and expected opportunity by one level.

    Example: [bold]growthmap plan rollup --by manager[/]
    """
    from growthmap.plan import rollups

    with open_workspace(ctx, read_only=True) as ws:
        src = _source(ws, snapshot)
        df = rollups(src, [by])
    cols = ["key", "customers", "prospects", "current", "potential", "whitespace",
            "share_of_wallet", "expected_opportunity"]
    if by in ("territory", "rep", "manager"):
        cols[1:1] = ["name", "parent_key"]
    show(df, f"Rollup by {by}", cols, limit=40)
    _write(df, output)
    _notes(src.notes)


@plan_app.command("book")
def book_cmd(ctx: typer.Context, rep_id: str, snapshot: Snapshot = "latest",
             output: Output = None) -> None:
    """The accounts a rep owns, with their segments.

    Example: [bold]growthmap plan book REP-00006[/]
    """
    from growthmap.plan import rep_book

    with open_workspace(ctx, read_only=True) as ws:
        src = _source(ws, snapshot)
        df = rep_book(src, rep_id)
    show(df, f"Book of {rep_id}: {len(df)} accounts",
         ["account_id", "name", "status", "value_tier", "tier", "road", "care_model",
          "current", "potential", "whitespace", "ptb", "icp_fit", "next_best_offer"], limit=50)
    _write(df, output)
    _notes(src.notes)


@plan_app.command("review")
def review_cmd(
    ctx: typer.Context, rep_id: str, snapshot: Snapshot = "latest",
    develop: Annotated[int | None, typer.Option(help="Customers to list.")] = None,
    prospects: Annotated[int | None, typer.Option(help="Prospects to list.")] = None,
) -> None:
    """A rep's weekly review list: customers to develop and prospects to open, with reasons.

    Example: [bold]growthmap plan review REP-00006 --develop 5 --prospects 5[/]
    """
    from growthmap.plan import review_list

    cfg = get_config(ctx).plan
    with open_workspace(ctx, read_only=True) as ws:
        src = _source(ws, snapshot)
        df = review_list(src, rep_id, develop=cfg.review_develop if develop is None else develop,
                         prospects=cfg.review_prospects if prospects is None else prospects)
    for section, title in (("develop", "Customers to develop"), ("prospect", "Prospects")):
        show(df[df.section == section], f"{title} — {rep_id}",
             ["rank", "account_id", "name", "score", "reason"])
    _notes(src.notes)


@plan_app.command("quotas")
def quotas_cmd(
    ctx: typer.Context,
    target: Annotated[float | None, typer.Option(help="Company target amount.")] = None,
    growth: Annotated[str | None, typer.Option(
        help="Target as growth on current value, e.g. 8%.")] = None,
    by: Annotated[str, typer.Option(help="rep or territory.")] = "rep",
    per_family: Annotated[bool, typer.Option(
        "--per-family", help="Quotas per product family too.")] = False,
    save: Annotated[bool, typer.Option(
        "--save", help="Store the plan for scorecards (workspace table gm.plan_quotas).")
    ] = False,
    snapshot: Snapshot = "latest",
    output: Output = None,
) -> None:
    """Split the company target over reps or territories, exact to the cent.

    Example: [bold]growthmap plan quotas --growth 8% --save[/]
    """
    from growthmap.plan import family_quotas, plan_quotas, save_quotas

    cfg = get_config(ctx).plan
    g = None if growth is None else _percent(growth, "growth")
    split = family_quotas if per_family else plan_quotas
    with open_workspace(ctx, read_only=not save) as ws:
        src = _source(ws, snapshot)
        df = split(src, cfg, target=target, growth=g, by=by)
        if save:
            qs = save_quotas(ws, df, as_of=src.as_of, snapshot_id=src.snapshot_id,
                             period_months=cfg.quota_period_months)
    cols = ["key", "history", "whitespace", "quota", "uplift_pct", "explanation"]
    if per_family:
        cols = ["key", "family", "lifecycle_stage", "history", "whitespace", "quota",
                "cap", "uplift_pct"]
    show(df, f"Quotas by {by} — total {df.quota_cents.sum() / 100:,.2f}", cols, limit=60)
    if save:
        console.print(f"saved as quota set {qs}")
    _write(df, output)
    _notes(src.notes)


@plan_app.command("capacity")
def capacity_cmd(
    ctx: typer.Context,
    scenario: Annotated[list[str] | None, typer.Option(
        help="Scenario from [plan.scenarios] (repeat; default: all).")] = None,
    by: Annotated[str | None, typer.Option(help="territory or region.")] = None,
    group: Annotated[str, typer.Option(
        help="Group whose scenarios are shown side by side.")] = "all",
    snapshot: Snapshot = "latest",
    output: Output = None,
) -> None:
    """Hours the care models need, heads needed vs today, and scenarios side by side.

    Example: [bold]growthmap plan capacity --scenario "cost flat, revenue +8%"[/]
    """
    from growthmap.plan import capacity_plan, compare_scenarios, scenario_table

    cfg = get_config(ctx).plan
    with open_workspace(ctx, read_only=True) as ws:
        src = _source(ws, snapshot)
        long = compare_scenarios(src, cfg, scenario or None, by)
        heads = capacity_plan(src, cfg, by).headcount
    base = long[long.scenario == "baseline"]
    show(base, "Capacity today", ["key", "heads", "heads_needed", "heads_gap", "hours_required",
                                  "hours_available", "coverage", "cost"], limit=40)
    roles = heads[heads.level.str.startswith("role")]
    if not roles.empty:
        show(roles, "Heads by role (and by role / group): needed vs in place; gap in hours "
             "a year and loaded cost a year",
             ["key", "accounts", "heads_today", "heads_needed", "heads_gap", "hours_gap",
              "cost_gap"], limit=60)
    side = scenario_table(long, group)
    for c in side.columns[1:]:  # format each figure by its own row, not by column
        side[c] = [_cell(v, f) for v, f in zip(side[c], side.figure, strict=True)]
    show(side, f"Scenarios — {group}")
    _write(long, output)
    _notes(src.notes)


@plan_app.command("allocate")
def allocate_cmd(
    ctx: typer.Context,
    heads: Annotated[int | None, typer.Option(help="Total heads to place.")] = None,
    budget: Annotated[float | None, typer.Option(help="Total budget for heads.")] = None,
    max_change: Annotated[int | None, typer.Option(
        help="Most heads a region may gain or lose (default: plan.allocation_max_change; "
        "-1 for no limit).")] = None,
    role: Annotated[str | None, typer.Option(
        help="Allocate one role's heads (e.g. field). Without it and without --heads or "
        "--budget, each role's heads today are reallocated separately.")] = None,
    snapshot: Snapshot = "latest",
    output: Output = None,
) -> None:
    """Heads per region for the most expected revenue, and each region's marginal head.

    Example: [bold]growthmap plan allocate --role field --heads 22 --max-change 3[/]
    """
    from growthmap.plan.allocation import region_allocation, role_allocations

    cfg = get_config(ctx).plan
    change: int | str | None = "config" if max_change is None else (
        None if max_change < 0 else max_change)
    with open_workspace(ctx, read_only=True) as ws:
        src = _source(ws, snapshot)
        if role is None and heads is None and budget is None:
            results = role_allocations(src, cfg, max_change=change)
        else:
            results = {role or "all": region_allocation(src, cfg, heads=heads, budget=budget,
                                                         max_change=change, role=role)}
    frames = []
    for name, res in results.items():
        show(res.regions, f"Allocation of {res.total_heads} heads ({name}) — {res.method}",
             ["key", "heads_today", "heads", "change", "revenue_today", "revenue",
              "marginal_today", "marginal_next", "current", "potential"])
        console.print(f"{name}: expected revenue {res.expected_revenue:,.0f} EUR")
        frames.append(res.regions.assign(role=name))
    _write(pd.concat(frames, ignore_index=True), output)
    _notes(src.notes)


@plan_app.command("align")
def align_cmd(
    ctx: typer.Context,
    tolerance: Annotated[float | None, typer.Option(
        help="Allowed deviation from the average rep, e.g. 0.1 for ±10%.")] = None,
    max_disruption: Annotated[float | None, typer.Option(
        help="Largest share of potential that may change rep, e.g. 0.2.")] = None,
    max_moved: Annotated[int | None, typer.Option(
        help="Most accounts that may change rep.")] = None,
    lock: Annotated[list[str] | None, typer.Option(
        help="Keep an account with a rep: ACCOUNT=REP (repeat).")] = None,
    role: Annotated[str | None, typer.Option(help="Align one rep role only, e.g. field.")
                    ] = None,
    within: Annotated[str | None, typer.Option(
        help="Keep accounts within: region, country, manager, territory (comma-separated; "
        "'none' = anywhere). Default: plan.align_within.")] = None,
    objective: Annotated[str | None, typer.Option(
        help="mixed (travel + moves), distance or disruption.")] = None,
    move_km: Annotated[float | None, typer.Option(
        help="In the mixed objective, km that moving an average account is worth.")] = None,
    time_limit: Annotated[float | None, typer.Option(help="Solver seconds.")] = None,
    pareto: Annotated[bool, typer.Option(
        "--pareto", help="Show the trade-off (balance vs accounts moved vs travel) over a "
        "grid of tolerances and caps instead of one plan.")] = False,
    map_file: Annotated[str | None, typer.Option(
        "--map", help="Write the before/after map here (.png, .svg or .html); 'none' to "
        "skip. Default: alignment-map.png beside the -o file, else beside the workspace."
        )] = None,
    snapshot: Snapshot = "latest",
    output: Output = None,
) -> None:
    """Propose a balanced alignment of accounts to reps; writes the reassignments and a map.

    Example: [bold]growthmap plan align --role field --max-moved 300 -o moves.csv[/]
    """
    from growthmap.plan import align_accounts, parse_locks

    cfg = get_config(ctx).plan
    if objective is not None and objective not in ("mixed", "distance", "disruption"):
        raise ConfigError(f"objective {objective!r} is not mixed, distance or disruption",
                          hint="use --objective mixed, distance or disruption")
    rules = None if within is None else [w.strip() for w in within.split(",")
                                         if w.strip() and w.strip() != "none"]
    kw = dict(max_disruption=max_disruption, max_moved=max_moved, role=role, within=rules,
              objective=objective, move_km=move_km, time_limit=time_limit,
              locks=parse_locks(lock or []))
    with open_workspace(ctx, read_only=True) as ws:
        src = _source(ws, snapshot)
        where = (output if output is not None else ws.path).resolve().parent
        if pareto:
            from growthmap.plan.alignment.front import alignment_front

            kw.pop("max_moved")
            front = alignment_front(src, cfg, **kw)
            show(front, "Balance vs accounts moved vs travel (efficient: no plan is better "
                 "on all three)")
            _write(front, output)
            _notes(src.notes)
            return
        res = align_accounts(src, cfg, tolerance=tolerance, **kw)
    show(res.reps, "Rep books before → after",
         ["rep_id", "group", "accounts_before", "accounts_after", "moved_out",
          "moved_in", "potential_moved_out", "potential_moved_in", "potential_dev_after",
          "workload_dev_after", "travel_before_km", "travel_after_km"])
    console.print(align_sentence(res.summary))
    _write(res.reassignment, output)
    if map_file is None:
        _write_map(res, where / "alignment-map.png")
    elif map_file.strip().lower() != "none":
        _write_map(res, Path(map_file))
    _notes(src.notes)


def align_sentence(s: dict) -> str:
    """The alignment's headline: moves, potential moved, regions, balance, travel, gap."""
    text = (f"{s['moved']:,} of {s['accounts']:,} accounts change rep "
            f"({s['potential_moved']:,.0f} EUR potential, {s['share_potential_moved']:.1%}); "
            f"{s['moved_across_regions']:,} change region; every rep within "
            f"±{s['tolerance']:.0%} of its target: {'yes' if s['within_bounds'] else 'no'}; ")
    if "travel_after_km" in s:
        before, after = s["travel_before_km"], s["travel_after_km"]
        change = f" ({after / before - 1:+.1%})" if before else ""
        text += (f"travel (visits a year as round trips from rep bases) {before:,.0f} km "
                 f"today → {after:,.0f} km{change}; ")
    return text + f"{s['method']} ({s['status']}), gap to the best possible plan {s['gap']:.2%}"


def _write_map(res, path: Path) -> None:
    from growthmap.report.charts import to_png, to_svg
    from growthmap.report.maps import alignment_map

    chart = alignment_map(res.reassignment, res.reps)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(to_svg(chart), encoding="utf-8")
    elif suffix in (".html", ".htm"):
        chart.save(str(path), format="html", inline=True)
    elif suffix == ".png":
        path.write_bytes(to_png(chart))
    else:
        raise ConfigError(f"cannot write a map as {path.name}",
                          hint="name the map file .png, .svg or .html")
    console.print(f"wrote the map to {path.resolve()}")


@plan_app.command("scorecard")
def scorecard_cmd(
    ctx: typer.Context,
    by: Annotated[str, typer.Option(help="rep or territory.")] = "rep",
    snapshot: Snapshot = "latest",
    previous: Annotated[str, typer.Option(help="The earlier snapshot.")] = "previous",
    quota_set: Annotated[str, typer.Option(help="Saved quota set, or latest.")] = "latest",
    output: Output = None,
) -> None:
    """Attainment, potential captured, whitespace converted, new and lost customers.

    Example: [bold]growthmap plan scorecard --by territory --previous 1[/]
    """
    from growthmap.plan import scorecard

    cfg = get_config(ctx).plan
    with open_workspace(ctx, read_only=True) as ws:
        card = scorecard(ws, cfg, by=by, snapshot=snapshot, previous=previous,
                         quota_set=quota_set)
    show(card.table, f"Scorecard by {by}: snapshot {card.previous} ({card.previous_as_of}) → "
         f"{card.snapshot} ({card.as_of})",
         ["key", "current", "growth", "share_of_potential", "whitespace_converted",
          "new_customers", "upsell_revenue", "crosssell_revenue", "lost_customers", "quota",
          "attainment", "pace"])
    _write(card.table, output)
    _notes(card.notes)


def register(app: typer.Typer) -> None:
    app.add_typer(plan_app, name="plan")
