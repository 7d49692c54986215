"""Scorecards: what each rep and territory made of their potential between two snapshots.

Figures per rep (or territory), comparing an earlier snapshot with a later one, both
trailing-12-month per account and family:

* ``upsell_revenue`` — growth in families an existing customer already bought;
* ``crosssell_revenue`` — revenue in families an existing customer did not buy before;
* ``new_customers`` / ``new_customer_revenue`` — prospects (or new accounts) that
  became customers, and what they now buy;
* ``lost_customers`` / ``lost_revenue`` — customers that stopped buying;
* ``whitespace_converted`` — growth that filled whitespace the earlier snapshot showed
  (per family, capped at that whitespace; needs its ``potential`` output);
* ``share_of_potential`` — current value / potential in the later snapshot;
* ``attainment`` — revenue booked in the quota period so far / the saved quota (see
  :func:`growthmap.plan.quotas.save_quotas`), with ``period_elapsed`` and ``pace``
  (attainment / elapsed: 1.0 is exactly on track).

Accounts are credited to their owner (territory) in the later snapshot, so a rep who
took over an account is scored on it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from growthmap.config._plan import PlanConfig
from growthmap.errors import ConfigError
from growthmap.plan.attainment import QuotaPeriod, attainment, period_actuals
from growthmap.plan.quotas import saved_quotas
from growthmap.plan.rollups import NONE_KEY, UNOWNED
from growthmap.workspace import Workspace

__all__ = ["SCORE_COLUMNS", "Scorecard", "scorecard"]

SCORE_COLUMNS = ["key", "accounts", "customers", "current", "current_prev", "growth",
                 "potential", "share_of_potential", "whitespace_prev", "whitespace_converted",
                 "new_customers", "new_customer_revenue", "upsell_revenue", "crosssell_revenue",
                 "lost_customers", "lost_revenue", "quota", "actual", "attainment",
                 "period_elapsed", "pace"]


class Scorecard:
    """The scorecard table plus what it compared and what it could not compute."""

    def __init__(self, table: pd.DataFrame, *, by: str, snapshot: int, previous: int,
                 as_of: dt.date, previous_as_of: dt.date, quota_set: int | None,
                 notes: list[str]) -> None:
        self.table = table
        self.by = by
        self.snapshot = snapshot
        self.previous = previous
        self.as_of = as_of
        self.previous_as_of = previous_as_of
        self.quota_set = quota_set
        self.notes = notes


def _read(ws: Workspace, name: str, sid: int, cols: list[str]) -> pd.DataFrame | None:
    if not ws.has_output(name, sid):
        return None
    t = ws.output(name, sid)
    return ws.ibis.to_pandas(t.select(*[c for c in cols if c in t.columns]))


def scorecard(ws: Workspace, config: PlanConfig, *, by: str = "rep",
              snapshot: int | str = "latest", previous: int | str = "previous",
              quota_set: int | str | None = "latest") -> Scorecard:
    """Score every rep (or territory) on the change from ``previous`` to ``snapshot``."""
    if by not in ("rep", "territory"):
        raise ConfigError(f"scorecards are by rep or territory, not {by!r}",
                          hint="use --by rep or --by territory")
    col = "owner_rep_id" if by == "rep" else "territory_id"
    sid, pid = ws.resolve_snapshot(snapshot), ws.resolve_snapshot(previous)
    if sid == pid:
        raise ConfigError(f"both sides of the scorecard are snapshot {sid}",
                          hint="compare two different snapshots, e.g. --previous 1")
    notes: list[str] = []
    acc_cols = ["account_id", col, "is_customer", "value"]
    now = _read(ws, "account_value", sid, acc_cols)
    prev = _read(ws, "account_value", pid, acc_cols)
    fam_now = _read(ws, "account_family_value", sid, ["account_id", "family", "revenue_t12m"])
    fam_prev = _read(ws, "account_family_value", pid, ["account_id", "family", "revenue_t12m"])
    if any(x is None for x in (now, prev, fam_now, fam_prev)):
        raise ConfigError("both snapshots need the value stage's outputs",
                          hint="pick snapshots written by `growthmap run`")
    key = now.set_index("account_id")[col].astype("string") if col in now else None
    if key is None:
        notes.append(f"accounts have no {col}: everything is scored as one group")
        key = pd.Series(NONE_KEY, index=now.account_id, dtype="string")
    prev_key = (prev.set_index("account_id")[col].astype("string") if col in prev
                else pd.Series(dtype="string"))
    fill = UNOWNED if by == "rep" else NONE_KEY
    owner = key.combine_first(prev_key).fillna(fill)

    f = fam_prev.merge(fam_now, on=["account_id", "family"], how="outer",
                       suffixes=("_prev", "_now")).fillna({"revenue_t12m_prev": 0.0,
                                                           "revenue_t12m_now": 0.0})
    was = prev.set_index("account_id").is_customer.astype(bool)
    is_now = now.set_index("account_id").is_customer.astype(bool)
    f["was_customer"] = f.account_id.map(was).fillna(False).astype(bool)
    gain = (f.revenue_t12m_now - f.revenue_t12m_prev).clip(lower=0)
    had_family = f.revenue_t12m_prev > 0
    f["upsell"] = np.where(f.was_customer & had_family, gain, 0.0)
    f["crosssell"] = np.where(f.was_customer & ~had_family, f.revenue_t12m_now.clip(lower=0), 0.0)
    pot_prev = _read(ws, "potential", pid, ["account_id", "family", "whitespace"])
    if pot_prev is None:
        notes.append(f"snapshot {pid} has no potential output, so whitespace converted is "
                     "not computed")
        f["ws_prev"] = np.nan
        f["converted"] = np.nan
    else:
        f = f.merge(pot_prev.rename(columns={"whitespace": "ws_prev"}),
                    on=["account_id", "family"], how="outer")
        f = f.fillna({"revenue_t12m_prev": 0.0, "revenue_t12m_now": 0.0, "upsell": 0.0,
                      "crosssell": 0.0})
        gain = (f.revenue_t12m_now - f.revenue_t12m_prev).clip(lower=0)
        f["converted"] = np.minimum(gain, f.ws_prev.fillna(0).clip(lower=0))
    per_acc = f.groupby("account_id").agg(upsell=("upsell", "sum"),
                                          crosssell=("crosssell", "sum"),
                                          ws_prev=("ws_prev", "sum"),
                                          converted=("converted", "sum"))
    if pot_prev is None:
        per_acc[["ws_prev", "converted"]] = np.nan
    ids = pd.Index(sorted(set(now.account_id) | set(prev.account_id)), name="account_id")
    a = pd.DataFrame(index=ids)
    a["key"] = owner.reindex(ids).fillna(fill)
    a["customer_now"] = is_now.reindex(ids).fillna(False).astype(bool)
    a["customer_prev"] = was.reindex(ids).fillna(False).astype(bool)
    a["current"] = now.set_index("account_id").value.reindex(ids).fillna(0.0)
    a["current_prev"] = prev.set_index("account_id").value.reindex(ids).fillna(0.0)
    a = a.join(per_acc)
    a["new_customer"] = a.customer_now & ~a.customer_prev
    a["lost_customer"] = a.customer_prev & ~a.customer_now
    pa_now = _read(ws, "potential_account", sid, ["account_id", "potential"])
    if pa_now is None:
        notes.append(f"snapshot {sid} has no potential_account output, so share of potential "
                     "is not computed")
        a["potential"] = np.nan
    else:
        a["potential"] = pa_now.set_index("account_id").potential.reindex(ids)
    a = a.reset_index()
    a["new_rev"] = np.where(a.new_customer, a.current, 0.0)
    a["lost_rev"] = np.where(a.lost_customer, a.current_prev, 0.0)
    grouped = [(k, g) for k, g in a.groupby("key", sort=True)] + [("all", a)]
    rows = [_score_row(k, g, pot_prev is not None, pa_now is not None) for k, g in grouped]
    table = pd.DataFrame(rows)
    as_of = ws.snapshot_info(sid)["as_of"]
    qs = None
    if quota_set is not None:
        qs = _attainment(ws, table, a, by, as_of, quota_set, notes)
    for c in SCORE_COLUMNS:
        if c not in table:
            table[c] = np.nan
    return Scorecard(table[SCORE_COLUMNS], by=by, snapshot=sid, previous=pid, as_of=as_of,
                     previous_as_of=ws.snapshot_info(pid)["as_of"], quota_set=qs, notes=notes)


def _score_row(key: str, g: pd.DataFrame, has_ws: bool, has_pot: bool) -> dict:
    cur, prev = float(g.current.sum()), float(g.current_prev.sum())
    pot = float(g.potential.sum()) if has_pot else np.nan
    return {
        "key": key, "accounts": len(g), "customers": int(g.customer_now.sum()),
        "current": cur, "current_prev": prev,
        "growth": cur / prev - 1 if prev > 0 else np.nan,
        "potential": pot,
        "share_of_potential": cur / pot if has_pot and pot > 0 else np.nan,
        "whitespace_prev": float(g.ws_prev.sum()) if has_ws else np.nan,
        "whitespace_converted": float(g.converted.sum()) if has_ws else np.nan,
        "new_customers": int(g.new_customer.sum()),
        "new_customer_revenue": float(g.new_rev.sum()),
        "upsell_revenue": float(g.upsell.sum()),
        "crosssell_revenue": float(g.crosssell.sum()),
        "lost_customers": int(g.lost_customer.sum()),
        "lost_revenue": float(g.lost_rev.sum()),
    }


def _attainment(ws: Workspace, table: pd.DataFrame, accounts: pd.DataFrame, by: str,
                as_of: dt.date, quota_set: int | str, notes: list[str]) -> int | None:
    """Add quota, actual, attainment, period_elapsed and pace; returns the quota set used."""
    if not ws.has_table("plan_quotas", "gm"):
        notes.append("no saved quotas, so attainment is not computed (save a quota plan "
                     "with `growthmap plan quotas ... --save`)")
        return None
    q = saved_quotas(ws, quota_set)
    q = q[(q.level == by) & q.family.isna()]
    if q.empty:
        notes.append(f"the saved quota set has no total quotas by {by}")
        return None
    period = QuotaPeriod.of(q.as_of.iloc[0], int(q.period_months.iloc[0]), as_of)
    if not period.started:
        notes.append(f"the quota period starts after {period.start}; nothing to measure yet")
        return int(q.quota_set.iloc[0])
    tx = period_actuals(ws.con, period)
    tx["key"] = tx.account_id.map(accounts.set_index("account_id").key).fillna(
        UNOWNED if by == "rep" else NONE_KEY)
    actual = tx.groupby("key").actual.sum()
    quota = q.groupby("key").quota_cents.sum() / 100
    table["quota"] = table.key.map(quota)
    table.loc[table.key == "all", "quota"] = float(quota.sum())
    table["actual"] = table.key.map(actual).fillna(0.0)
    table.loc[table.key == "all", "actual"] = float(actual.sum())
    elapsed = period.elapsed
    table["attainment"] = attainment(table.actual, table.quota)
    table["period_elapsed"] = elapsed
    table["pace"] = table.attainment / elapsed
    return int(q.quota_set.iloc[0])
