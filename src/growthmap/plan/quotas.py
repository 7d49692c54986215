"""Quotas: a company target split over reps or territories, exact to the cent.

Each unit's share of the target mixes its history (current value) and its potential
(whitespace)::

    weight_i = h * history_i / sum(history) + (1 - h) * whitespace_i / sum(whitespace)
    quota_i  = clip(lambda * weight_i, floor_i, cap_i)     with sum(quota_i) = target

``h`` is ``plan.quota_history_weight``; ``lambda`` is found exactly (the sum is piecewise
linear in it), so floors and caps move money between units in proportion to their
weights instead of dropping it.  Floors and caps depend on history only, so a unit with
more whitespace never gets a smaller quota — more potential, more uplift.

Amounts are integer cents, rounded by largest remainder: the parts add up to the target
exactly, and no part is off its exact value by a cent or more.

Per-family quotas split each unit's total (floors and caps applied) over its product
families, fitted toward the company's split over families (weights multiplied by the
family's life-cycle weight, so growth families carry more) and within the same floor and
cap ratios on each family's history.

``save_quotas`` stores a plan in the workspace table ``gm.plan_quotas`` so that
scorecards can measure attainment against it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from growthmap.config._plan import PlanConfig
from growthmap.errors import ConfigError, InfeasibleError, NotFoundError, WorkspaceError
from growthmap.plan._split import largest_remainder, solve_split
from growthmap.plan.rollups import UNOWNED, PlanSource
from growthmap.workspace import Workspace

__all__ = [
    "QUOTA_TABLE",
    "family_quotas",
    "largest_remainder",
    "plan_quotas",
    "resolve_target",
    "save_quotas",
    "saved_quotas",
    "solve_split",
    "split_target",
    "to_cents",
]

QUOTA_TABLE = "gm.plan_quotas"
_UNIT = {"rep": "owner_rep_id", "territory": "territory_id"}


def to_cents(amount: float) -> int:
    """A currency amount as integer cents (half away from zero)."""
    c = abs(amount) * 100
    return int(math.copysign(math.floor(c + 0.5), amount))


def split_target(
    units: pd.DataFrame,
    target: float,
    *,
    history_weight: float = 0.5,
    floor_ratio: float | Sequence[float] = 0.0,
    cap_ratio: float | None = None,
    floors: Mapping[str, float] | None = None,
    caps: Mapping[str, float] | None = None,
    multiplier: pd.Series | None = None,
) -> pd.DataFrame:
    """Split ``target`` over ``units`` (columns ``key``, ``history``, ``whitespace``).

    Returns the units with: weight, floor, cap, history_part, potential_part, adjustment
    (what floors, caps and rounding added or took), quota (float), quota_cents (int),
    uplift (quota - history), uplift_pct.  ``multiplier`` scales each unit's weight
    (life-cycle weights of families).  ``floor_ratio`` is one ratio, or one per unit
    (a key account manager's floor is higher than an inside rep's).
    """
    if not 0 <= history_weight <= 1:
        raise ConfigError(f"quota history weight must be between 0 and 1, got {history_weight}",
                          hint="set plan.quota_history_weight to e.g. 0.5")
    df = units.reset_index(drop=True).copy()
    keys = df["key"].astype(str)
    hist = df["history"].astype(float).fillna(0).clip(lower=0).to_numpy()
    ws = df["whitespace"].astype(float).fillna(0).clip(lower=0).to_numpy()
    h_share = hist / hist.sum() if hist.sum() > 0 else np.zeros_like(hist)
    w_share = ws / ws.sum() if ws.sum() > 0 else np.zeros_like(ws)
    a = history_weight if ws.sum() > 0 else 1.0
    a = a if hist.sum() > 0 else 0.0
    weight = a * h_share + (1 - a) * w_share
    if multiplier is not None:
        weight = weight * multiplier.to_numpy(float)
        weight = weight / weight.sum() if weight.sum() > 0 else weight
    target_cents = to_cents(target)
    ratio = np.broadcast_to(np.asarray(floor_ratio, dtype=float), hist.shape)
    lo = hist * ratio * 100
    hi = np.where((hist > 0) & (cap_ratio is not None), hist * (cap_ratio or 0) * 100, np.inf)
    for mapping, arr, name in ((floors or {}, lo, "floor"), (caps or {}, hi, "cap")):
        unknown = sorted(set(mapping) - set(keys))
        if unknown:
            raise NotFoundError(f"quota {name}s name unknown units: {', '.join(unknown[:5])}",
                                hint=f"use ids from: {', '.join(keys[:8])}")
        for k, v in mapping.items():
            arr[int(np.flatnonzero(keys == k)[0])] = float(v) * 100
    lo_c = np.ceil(lo - 1e-6).astype(np.int64)
    hi_c = np.where(np.isfinite(hi), np.floor(np.where(np.isfinite(hi), hi, 0) + 1e-6),
                    np.iinfo(np.int64).max // 4).astype(np.int64)
    if (lo_c > hi_c).any():
        bad = keys[lo_c > hi_c].tolist()[:5]
        raise ConfigError(f"quota floor above cap for {', '.join(bad)}",
                          hint="lower plan.quota_floor_ratio / quota_floors or raise the caps")
    if lo_c.sum() > target_cents:
        raise InfeasibleError(
            f"the floors add up to {lo_c.sum() / 100:,.2f}, more than the target "
            f"{target_cents / 100:,.2f}",
            hint="lower plan.quota_floor_ratio (e.g. 0.8) or raise the target")
    if np.isfinite(hi).all() and int(sum(int(x) for x in hi_c)) < target_cents:
        raise InfeasibleError(
            f"the caps add up to {hi_c.sum() / 100:,.2f}, less than the target "
            f"{target_cents / 100:,.2f}",
            hint="raise plan.quota_cap_ratio (or clear it) or lower the target")
    exact = solve_split(weight, float(target_cents), lo_c.astype(float),
                        np.where(hi_c >= np.iinfo(np.int64).max // 4, np.inf, hi_c))
    cents = largest_remainder(exact, target_cents, lo_c, hi_c)
    quota = cents / 100
    t = target_cents / 100
    df["key"] = keys
    df["weight"] = weight
    df["floor"] = lo_c / 100
    df["floor_ratio"] = ratio
    df["cap"] = np.where(np.isfinite(hi), hi_c / 100, np.nan)
    df["history_part"] = t * a * h_share
    df["potential_part"] = t * (1 - a) * w_share
    if multiplier is not None:
        scale = t * weight
        total = df.history_part + df.potential_part
        ratio = np.divide(scale, total, out=np.zeros_like(scale), where=total.to_numpy() > 0)
        df["history_part"] *= ratio
        df["potential_part"] *= ratio
    df["quota_cents"] = cents
    df["quota"] = quota
    df["adjustment"] = quota - df.history_part - df.potential_part
    df["uplift"] = quota - hist
    df["uplift_pct"] = np.where(hist > 0, quota / np.where(hist > 0, hist, 1) - 1, np.nan)
    df["explanation"] = [_explain(r) for r in df.itertuples(index=False)]
    return df


def _explain(r) -> str:
    parts = [f"history {r.history:,.0f} gives {r.history_part:,.0f}",
             f"whitespace {r.whitespace:,.0f} gives {r.potential_part:,.0f}"]
    if abs(r.adjustment) >= 0.995:
        why = "its floor" if r.quota <= r.floor + 0.005 else "its cap" if (
            pd.notna(r.cap) and r.quota >= r.cap - 0.005) else "other units' floors and caps"
        parts.append(f"{why} {'add' if why.endswith('s') else 'adds'} "
                     f"{r.adjustment:+,.0f}")
    text = "; ".join(parts) + f" = quota {r.quota:,.2f}"
    if pd.notna(r.uplift_pct):
        text += f" ({r.uplift_pct:+.1%} on last year)"
    return text


def resolve_target(history_total: float, *, target: float | None = None,
                   growth: float | None = None) -> float:
    """The company target: an absolute amount, or current value x (1 + growth)."""
    if (target is None) == (growth is None):
        raise ConfigError("give exactly one of a target amount or a growth rate",
                          hint="e.g. --target 12000000 or --growth 8%")
    if target is not None:
        if not target > 0:
            raise ConfigError(f"the target must be positive, got {target}",
                              hint="e.g. --target 12000000")
        return float(target)
    if growth is not None and growth <= -1:
        raise ConfigError(f"growth {growth:.0%} would make the target negative",
                          hint="give a growth above -100%, e.g. --growth 8%")
    return round(history_total * (1 + float(growth)), 2)


def _units(src: PlanSource, by: str) -> pd.DataFrame:
    if by not in _UNIT:
        raise ConfigError(f"quotas can be set by rep or territory, not {by!r}",
                          hint="use --by rep or --by territory")
    col = _UNIT[by]
    frame = src.frame()
    if frame.whitespace.isna().all():
        src.note("plan: no potential output, so quotas are split by history alone")
    keyed = frame.assign(key=frame[col].astype("string"))
    missing = keyed.key.isna()
    if missing.any():
        src.note(f"plan: {int(missing.sum())} accounts without {col} (current value "
                 f"{frame.current[missing].sum():,.0f}) count in the target but no unit "
                 "carries them")
    g = keyed[~missing].groupby("key", sort=True).agg(
        history=("current", "sum"), whitespace=("whitespace", "sum"),
        accounts=("account_id", "count"))
    if by == "rep":
        reps = src.input_frame("reps")
        if reps is not None:
            managers = (set(reps.manager_id.dropna().astype(str)) if "manager_id" in reps
                        else set())
            # reps without a book get a (floor) quota line; managers without one do not
            extra = sorted(set(reps.rep_id.dropna().astype(str)) - set(g.index) - managers)
            if extra:
                g = pd.concat([g, pd.DataFrame({"history": 0.0, "whitespace": 0.0,
                                                "accounts": 0}, index=pd.Index(extra))])
    g = g.rename_axis("key").reset_index()
    return g[g.key != UNOWNED].sort_values("key").reset_index(drop=True)


def plan_quotas(src: PlanSource, config: PlanConfig, *, target: float | None = None,
                growth: float | None = None, by: str = "rep") -> pd.DataFrame:
    """Split the company target over reps (or territories) as ``[plan]`` says.

    The target is absolute, or the current value of all accounts x (1 + growth).
    """
    total = float(src.frame().current.fillna(0).sum())
    amount = resolve_target(total, target=target, growth=growth)
    units = _units(src, by)
    if units.empty:
        raise WorkspaceError(f"no {by} to give quotas to",
                             hint=f"set {_UNIT.get(by)} on accounts or load the reps table")
    out = split_target(units, amount, history_weight=config.quota_history_weight,
                       floor_ratio=floor_ratios(src, config, units.key, by),
                       cap_ratio=config.quota_cap_ratio,
                       floors=config.quota_floors, caps=config.quota_caps)
    return out.assign(level=by, family=None)


def floor_ratios(src: PlanSource, config: PlanConfig, keys: pd.Series, by: str) -> np.ndarray:
    """Each unit's floor ratio: ``plan.quota_floor_by_role`` for a rep of a listed role
    (matched on ``reps.role`` or the care-model role it aliases), else
    ``plan.quota_floor_ratio``."""
    default = np.full(len(keys), config.quota_floor_ratio)
    rules = config.quota_floor_by_role
    reps = src.input_frame("reps") if by == "rep" and rules else None
    if reps is None or "role" not in reps:
        return default
    alias = config.role_aliases
    by_role = {alias.get(k, k): v for k, v in rules.items()} | dict(rules)
    role = reps.set_index(reps.rep_id.astype(str)).role.astype("string")
    ratio = keys.astype(str).map(role).map(by_role).astype(float).to_numpy()
    return np.where(np.isnan(ratio), default, ratio)


def family_quotas(src: PlanSource, config: PlanConfig, *, target: float | None = None,
                  growth: float | None = None, by: str = "rep") -> pd.DataFrame:
    """Quotas per unit x product family; families sum to the target, units to each family.

    A family's company quota mixes its history and whitespace like a unit's, times the
    life-cycle weight of its products (``plan.quota_lifecycle_weights``).  Each unit's
    total is :func:`plan_quotas`' (floors and caps applied) and is shared over its
    families within the same floor and cap ratios on each family's history (see
    :mod:`growthmap.plan._family_quotas`), so families never undo the totals' caps.
    """
    col = _UNIT.get(by)
    if col is None:
        raise ConfigError(f"quotas can be set by rep or territory, not {by!r}",
                          hint="use --by rep or --by territory")
    afv = src.output_frame("account_family_value")
    if afv is None:
        raise WorkspaceError("per-family quotas need the account_family_value output",
                             hint="run `growthmap run` first")
    fam = afv.groupby(["account_id", "family"], as_index=False).revenue_t12m.sum()
    fam = fam.rename(columns={"revenue_t12m": "history"})
    pot = src.output_frame("potential")
    if pot is None:
        src.note("plan: no per-family potential output, so family quotas use history alone")
        fam["whitespace"] = 0.0
    else:
        w = pot[["account_id", "family", "whitespace"]]
        fam = fam.merge(w, on=["account_id", "family"], how="outer")
    fam = fam.fillna({"history": 0.0, "whitespace": 0.0})
    frame = src.frame()[["account_id", col]]
    fam = fam.merge(frame, on="account_id", how="left")
    total = float(src.frame().current.fillna(0).sum())
    amount = resolve_target(total, target=target, growth=growth)
    by_family = fam.groupby("family", as_index=False)[["history", "whitespace"]].sum()
    by_family = by_family.rename(columns={"family": "key"})
    stage = _lifecycle(src)
    weights = config.quota_lifecycle_weights
    mult = by_family.key.map(stage).map(weights).fillna(1.0)
    fq = split_target(by_family, amount, history_weight=config.quota_history_weight,
                      multiplier=mult)
    totals = plan_quotas(src, config, target=target, growth=growth, by=by)
    cells = fam[fam[col].notna()].rename(columns={col: "key"})
    lost = sorted(set(fq.key) - set(cells.family))
    if lost:
        src.note(f"plan: family {', '.join(lost)} has no owned accounts; its quota is carried "
                 "by the units' totals")
    from growthmap.plan._family_quotas import split_within_units

    out = split_within_units(
        cells, totals[["key", "quota_cents"]], fq[["key", "quota"]],
        history_weight=config.quota_history_weight,
        floor_ratio=totals.set_index("key").floor_ratio, cap_ratio=config.quota_cap_ratio)
    out["lifecycle_stage"] = out.family.map(stage)
    unit_total = totals.set_index("key").quota
    out["explanation"] = [
        f"{r.family}: {r.quota:,.2f} of {r.key}'s quota {unit_total[r.key]:,.2f} "
        f"(family history {r.history:,.0f}, whitespace {r.whitespace:,.0f}"
        + (f", cap {r.cap:,.0f}" if pd.notna(r.cap) else ", no cap: a new family")
        + (f"; {r.uplift_pct:+.1%} on last year)" if pd.notna(r.uplift_pct) else ")")
        for r in out.itertuples(index=False)]
    return out.assign(level=by)


def _lifecycle(src: PlanSource) -> dict[str, str]:
    """Family -> its most common life-cycle stage among its products."""
    products = src.input_frame("products")
    if products is None or "lifecycle_stage" not in products.columns:
        src.note("plan: no products.lifecycle_stage, so every family has weight 1")
        return {}
    p = products.dropna(subset=["family", "lifecycle_stage"])
    return p.groupby("family").lifecycle_stage.agg(lambda s: s.mode().iloc[0]).to_dict()


_DDL = f"""CREATE TABLE IF NOT EXISTS {QUOTA_TABLE} (
    quota_set INTEGER, created_at TIMESTAMP, snapshot_id INTEGER, as_of DATE,
    period_months INTEGER, level VARCHAR, key VARCHAR, family VARCHAR,
    quota_cents BIGINT, history DOUBLE, whitespace DOUBLE, explanation VARCHAR)"""


def save_quotas(ws: Workspace, quotas: pd.DataFrame, *, as_of: dt.date,
                snapshot_id: int | None, period_months: int = 12) -> int:
    """Store a quota plan in ``gm.plan_quotas`` and return its quota-set id.

    The period starts the day after ``as_of`` and runs ``period_months`` months.
    """
    with ws.transaction() as con:
        con.execute(_DDL)
        (last,) = con.execute(f"SELECT coalesce(max(quota_set), 0) FROM {QUOTA_TABLE}").fetchone()
        qs = int(last) + 1
        rows = pd.DataFrame({
            "quota_set": qs,
            "created_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
            "snapshot_id": snapshot_id, "as_of": pd.Timestamp(as_of),
            "period_months": period_months, "level": quotas["level"].astype(str),
            "key": quotas["key"].astype(str),
            "family": quotas.get("family"),
            "quota_cents": quotas["quota_cents"].astype("int64"),
            "history": quotas["history"].astype(float),
            "whitespace": quotas["whitespace"].astype(float),
            "explanation": quotas["explanation"].astype(str),
        })
        con.register("__gm_quotas", rows)
        try:
            con.execute(f"INSERT INTO {QUOTA_TABLE} SELECT quota_set, created_at, snapshot_id, "
                        "CAST(as_of AS DATE), period_months, level, key, "
                        "CAST(family AS VARCHAR), quota_cents, history, whitespace, explanation "
                        "FROM __gm_quotas")
        finally:
            con.unregister("__gm_quotas")
    return qs


def saved_quotas(ws: Workspace, quota_set: int | str = "latest") -> pd.DataFrame:
    """A stored quota plan (``latest`` or a quota-set id) as a frame."""
    if not ws.has_table("plan_quotas", "gm"):
        raise WorkspaceError("no quotas have been saved in this workspace",
                             hint="run `growthmap plan quotas --growth 8% --save` first")
    sets = [r[0] for r in ws.con.execute(
        f"SELECT DISTINCT quota_set FROM {QUOTA_TABLE} ORDER BY 1").fetchall()]
    if quota_set == "latest":
        qs = sets[-1]
    elif str(quota_set).isdigit() and int(quota_set) in sets:
        qs = int(quota_set)
    else:
        raise NotFoundError(f"no saved quota set {quota_set!r}",
                            hint=f"use latest or one of: {', '.join(map(str, sets))}")
    return ws.con.execute(f"SELECT * FROM {QUOTA_TABLE} WHERE quota_set = ? ORDER BY level, key, "
                          "family", [qs]).df()
