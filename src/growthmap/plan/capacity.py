"""Coverage and capacity: the selling hours the care models ask for, and the heads to give them.

The arithmetic is the sales-capacity model every sales-operations team uses::

    hours required = sum over accounts of touches per year x hours per touch
    heads needed   = hours required / productive hours per rep
    cost           = heads x loaded cost per head

Touches and hours per touch come from the care model each account was given (the
``segments`` output); productive hours and cost from ``reps.capacity_hours`` and
``reps.loaded_cost``, else from ``[plan]``.  Heads today are the reps whose home
territory is in the group; without a reps table, the distinct owners of its accounts.

A scenario changes the assumptions (revenue to win, cost per head, touches, heads per
group, productive hours) and is compared side by side with the baseline.  More revenue
needs more selling time in proportion to ``plan.workload_elasticity``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from growthmap.config._plan import PlanConfig, ScenarioConfig
from growthmap.errors import ConfigError, WorkspaceError
from growthmap.plan.rollups import NONE_KEY, PlanSource

__all__ = [
    "BASELINE",
    "CapacityPlan",
    "capacity_plan",
    "compare_scenarios",
    "rep_capacity",
    "scenario_table",
]

BASELINE = "baseline"


@dataclass
class CapacityPlan:
    """Hours by group x care model, and headcount by group, role and in total."""

    by_segment: pd.DataFrame
    headcount: pd.DataFrame
    by: str


def _group_col(frame: pd.DataFrame, by: str) -> pd.Series:
    col = "territory_id" if by == "territory" else "region"
    return frame[col].astype("string").fillna(NONE_KEY)


def _modal_group(rep: pd.Series, group: pd.Series) -> pd.Series:
    """Each rep's most common group among its accounts; a tie goes to the first group in
    sorted order (as ``Series.mode`` sorts).  Counted with one grouped count, not a
    Python mode per rep (thousands of reps, a million accounts)."""
    df = pd.DataFrame({"rep": rep, "g": group}).dropna()
    n = df.groupby(["rep", "g"], sort=False, observed=True).size().reset_index(name="n")
    n = n.sort_values(["rep", "n", "g"], ascending=[True, False, True], kind="stable")
    return n.drop_duplicates("rep").set_index("rep")["g"]


def rep_capacity(src: PlanSource, config: PlanConfig, by: str) -> pd.DataFrame:
    """One row per selling rep: group, role, productive hours and loaded cost (and source).

    A rep's group is its home territory (or that territory's region); a rep without one
    is placed where most of its accounts are.  Managers who own no accounts are not
    selling heads and are left out.
    """
    frame = src.frame()
    groups = _group_col(frame, by)
    modal = _modal_group(frame.owner_rep_id, groups)
    reps = src.input_frame("reps")
    if reps is None:
        src.note("plan: no reps table, so heads today are the distinct account owners and "
                 "every rep gets the configured productive hours and cost")
        ids = sorted(frame.owner_rep_id.dropna().astype(str).unique())
        out = pd.DataFrame({"rep_id": ids, "group": [modal.get(i, NONE_KEY) for i in ids],
                            "role": None})
    else:
        out = pd.DataFrame({"rep_id": reps.rep_id.astype(str)})
        home = reps.territory_id.astype("string") if "territory_id" in reps else None
        if home is not None and by == "region":
            terr = src.input_frame("territories")
            if terr is not None and "region" in terr:
                home = home.map(dict(zip(terr.territory_id.astype(str), terr.region,
                                         strict=True)))
            else:
                home = None
        g = pd.Series(home.to_numpy() if home is not None else None, dtype="object")
        out["group"] = g.where(g.notna(), out.rep_id.map(modal)).fillna(NONE_KEY).astype(str)
        out["role"] = reps["role"].astype("string").to_numpy() if "role" in reps else None
    hours = reps.capacity_hours if reps is not None and "capacity_hours" in reps else None
    cost = reps.loaded_cost if reps is not None and "loaded_cost" in reps else None
    out["productive_hours"] = (pd.Series(hours.to_numpy(float)) if hours is not None
                               else pd.Series(np.nan, index=out.index))
    out["hours_source"] = np.where(out.productive_hours.notna(), "reps.capacity_hours",
                                   "plan.productive_hours")
    out["productive_hours"] = out.productive_hours.fillna(config.productive_hours)
    out["loaded_cost"] = (pd.Series(cost.to_numpy(float)) if cost is not None
                          else pd.Series(np.nan, index=out.index))
    out["cost_source"] = np.where(out.loaded_cost.notna(), "reps.loaded_cost",
                                  "plan.loaded_cost")
    out["loaded_cost"] = out.loaded_cost.fillna(config.loaded_cost)
    if reps is not None and "manager_id" in reps:
        managers = set(reps.manager_id.dropna().astype(str))
        owners = set(frame.owner_rep_id.dropna().unique().astype(str))
        desk = out.rep_id.isin(managers) & ~out.rep_id.isin(owners)
        if desk.any():
            src.note(f"plan: {int(desk.sum())} managers own no accounts and are not counted "
                     "as selling heads")
            out = out[~desk].reset_index(drop=True)
    return out


def _segments_frame(src: PlanSource) -> pd.DataFrame:
    frame = src.frame()
    if frame.touches_per_year.isna().all() or frame.hours_per_touch.isna().all():
        raise WorkspaceError(
            "capacity needs each account's care model: touches per year and hours per touch "
            "from the segments output",
            hint="run `growthmap run` with the segments stage (it assigns care models); "
            "the plan stage then adds capacity by itself")
    return frame


def _headcount_rows(level: str, hours: pd.DataFrame, reps: pd.DataFrame, current: pd.Series,
                    key_col: str, config: PlanConfig) -> pd.DataFrame:
    keys = sorted(set(hours[key_col].dropna().unique()) | set(reps[key_col].dropna().unique()))
    h = hours.groupby(key_col).agg(accounts=("account_id", "count"),
                                   hours_required=("workload_hours", "sum"))
    r = reps.groupby(key_col).agg(heads_today=("rep_id", "count"),
                                  hours_available=("productive_hours", "sum"),
                                  cost_today=("loaded_cost", "sum"))
    out = pd.DataFrame(index=pd.Index(keys, name="key")).join(h).join(r)
    out = out.fillna({"accounts": 0, "hours_required": 0.0, "heads_today": 0,
                      "hours_available": 0.0, "cost_today": 0.0})
    team_hours = reps.productive_hours.mean() if len(reps) else config.productive_hours
    team_cost = reps.loaded_cost.mean() if len(reps) else config.loaded_cost
    with np.errstate(divide="ignore", invalid="ignore"):
        out["hours_per_head"] = np.where(out.heads_today > 0,
                                         out.hours_available / out.heads_today, team_hours)
        out["cost_per_head"] = np.where(out.heads_today > 0,
                                        out.cost_today / out.heads_today, team_cost)
        out["heads_needed"] = out.hours_required / out.hours_per_head
        out["heads_gap"] = out.heads_needed - out.heads_today
        out["coverage"] = np.where(out.hours_required > 0,
                                   out.hours_available / out.hours_required, np.nan)
    out["cost_needed"] = out.heads_needed * out.cost_per_head
    out["hours_gap"] = out.hours_required - out.hours_available
    out["cost_gap"] = out.cost_needed - out.cost_today
    out["current"] = current.reindex(out.index).fillna(0.0) if len(current) else 0.0
    out = out.reset_index()
    out.insert(0, "level", level)
    out["accounts"] = out.accounts.astype("int64")
    out["heads_today"] = out.heads_today.astype("int64")
    return out


def capacity_plan(src: PlanSource, config: PlanConfig, by: str | None = None) -> CapacityPlan:
    """Hours required and heads needed vs today, per group (territory or region) and role."""
    by = by or config.capacity_by
    if by not in ("territory", "region"):
        raise ConfigError(f"capacity is computed by territory or region, not {by!r}",
                          hint="use --by territory or --by region")
    key = f"capacity:{by}"
    cached = src._cache.get(key)
    if cached is not None and cached[0] is config:  # compare_scenarios asks again
        return cached[1]
    frame = _segments_frame(src)
    frame = frame[["account_id", "territory_id", "region", "current", "care_model",
                   "coverage_role", "touches_per_year", "workload_hours"]].copy()
    frame["group"] = _group_col(frame, by)
    frame["workload_hours"] = frame.workload_hours.fillna(0.0)
    frame["touches"] = frame.touches_per_year.fillna(0.0)
    no_model = frame.care_model.isna() & frame.touches_per_year.isna()
    if no_model.any():
        src.note(f"plan: {int(no_model.sum())} accounts have no care model and need no hours")
    seg = frame.assign(care_model=frame.care_model.fillna(NONE_KEY),
                       coverage_role=frame.coverage_role.fillna(NONE_KEY))
    by_segment = (seg.groupby(["group", "care_model", "coverage_role"], as_index=False)
                  .agg(accounts=("account_id", "count"), touches=("touches", "sum"),
                       hours_required=("workload_hours", "sum"))
                  .rename(columns={"group": "key"}))
    by_segment.insert(0, "level", by)
    reps = rep_capacity(src, config, by)
    current = frame.groupby("group").current.sum()
    parts = [_headcount_rows(by, frame, reps, current, "group", config)]
    if reps.role.notna().any() and frame.coverage_role.notna().any():
        f_role = frame.assign(role=frame.coverage_role.astype("string").replace(
            config.role_aliases))
        parts.append(_headcount_rows("role", f_role, reps, pd.Series(dtype=float), "role",
                                     config))
        # role x group: where a role's heads are missing (an account director's hours in
        # one region are not covered by an inside rep's in another)
        cell = f_role.assign(cell=f_role.role.fillna(NONE_KEY) + " / " + f_role.group)
        r_cell = reps.assign(cell=reps.role.astype("string").fillna(NONE_KEY) + " / "
                             + reps.group.astype(str))
        parts.append(_headcount_rows(f"role_{by}", cell, r_cell,
                                     cell.groupby("cell").current.sum(), "cell", config))
    elif frame.coverage_role.notna().any():
        src.note("plan: reps have no role column, so capacity is not matched by coverage role")
    tot_f = frame.assign(all="all")
    tot_r = reps.assign(all="all")
    parts.append(_headcount_rows("total", tot_f, tot_r,
                                 pd.Series({"all": frame.current.sum()}), "all", config))
    headcount = pd.concat(parts, ignore_index=True)
    plan = CapacityPlan(by_segment=by_segment, headcount=headcount, by=by)
    src._cache[key] = (config, plan)
    return plan


def _scenario_rows(name: str, sc: ScenarioConfig, base: pd.DataFrame,
                   config: PlanConfig) -> pd.DataFrame:
    groups = base[base.level != "total"]
    extra = pd.Series(0.0, index=groups.index)
    for key, n in sc.extra_heads.items():
        if key == "*":
            extra += n
            continue
        hit = groups.key == key
        if not hit.any():
            raise ConfigError(
                f"scenario {name!r} adds heads to {key!r}, which is not a "
                f"{groups.level.iloc[0] if len(groups) else 'group'}",
                hint=f"use one of: {', '.join(groups.key.astype(str).tolist()[:10])} or '*'")
        extra[hit] += n
    g = groups.assign(extra=extra)
    total = base[base.level == "total"].assign(extra=float(extra.sum()))
    rows = pd.concat([g, total], ignore_index=True)
    growth = sc.revenue_growth
    hr = rows.hours_required * sc.touch_scale * (1 + config.workload_elasticity * growth)
    ph = sc.productive_hours or None
    heads = rows.heads_today + rows.extra
    if ph is None:
        avail = rows.hours_available + rows.extra * rows.hours_per_head
        per_head = np.where(heads > 0, avail / np.where(heads > 0, heads, 1), rows.hours_per_head)
    else:
        avail = heads * ph
        per_head = np.full(len(rows), ph)
    cost = (rows.cost_today + rows.extra * rows.cost_per_head) * (1 + sc.cost_growth)
    revenue = rows.current * (1 + growth)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = pd.DataFrame({
            "scenario": name, "description": sc.description, "level": rows.level,
            "key": rows.key, "heads": heads, "heads_needed": hr / per_head,
            "hours_required": hr, "hours_available": avail,
            "coverage": np.where(hr > 0, avail / hr, np.nan), "cost": cost,
            "revenue_target": revenue,
            "cost_of_sales": np.where(revenue > 0, cost / revenue, np.nan),
            "revenue_per_head": np.where(heads > 0, revenue / np.where(heads > 0, heads, 1),
                                         np.nan),
        })
    out["heads_gap"] = out.heads_needed - out.heads
    return out


def compare_scenarios(src: PlanSource, config: PlanConfig, names: list[str] | None = None,
                      by: str | None = None) -> pd.DataFrame:
    """The baseline and each named scenario (default: all in ``[plan.scenarios]``), long form."""
    plan = capacity_plan(src, config, by)
    base = plan.headcount[~plan.headcount.level.str.startswith("role")]
    chosen = list(config.scenarios) if names is None else names
    unknown = [n for n in chosen if n not in config.scenarios and n != BASELINE]
    if unknown:
        raise ConfigError(f"unknown capacity scenario(s): {', '.join(unknown)}",
                          hint="define them under [plan.scenarios.NAME] or use one of: "
                          + ", ".join([BASELINE, *config.scenarios]))
    parts = [_scenario_rows(BASELINE, ScenarioConfig(description="today"), base, config)]
    parts += [_scenario_rows(n, config.scenarios[n], base, config)
              for n in chosen if n != BASELINE]
    return pd.concat(parts, ignore_index=True)


def scenario_table(long: pd.DataFrame, key: str = "all") -> pd.DataFrame:
    """One group's scenarios side by side: one row per figure, one column per scenario."""
    rows = long[long.key == key]
    if rows.empty:
        raise ConfigError(f"no group {key!r} in the scenarios",
                          hint=f"use one of: {', '.join(sorted(set(long.key.astype(str))))}")
    figures = ["heads", "heads_needed", "heads_gap", "hours_required", "hours_available",
               "coverage", "cost", "revenue_target", "cost_of_sales", "revenue_per_head"]
    return rows.set_index("scenario")[figures].T.rename_axis("figure").reset_index()
