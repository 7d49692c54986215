"""The organisation's hard rules for an alignment: which rep an account may go to.

A sales leader does not sign a plan that hands a New York account to a London rep, or
moves accounts between two managers' teams without asking them.  ``within`` names the
keys an account and its rep must share — region, country, manager, territory — and this
module turns them into the integer codes that
:class:`growthmap.plan.alignment.territories.AlignmentProblem` enforces, and into per-rep balance
targets: when accounts cannot leave their group, a rep is measured against the average
rep *of its group* (the gap between groups is a headcount question, ``plan allocate``).

Where a key is unknown (an account without a region, a rep without a territory) the
rule is silent for that account or rep and a note says how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from growthmap.plan.rollups import PlanSource

__all__ = ["Groups", "alignment_groups", "group_targets"]


@dataclass(frozen=True)
class Groups:
    """Codes per account and per rep (−1 = unknown, matches anything) and their labels."""

    keys: list[str]
    unit_codes: np.ndarray  # (N, K)
    rep_codes: np.ndarray  # (R, K)
    unit_label: pd.Series  # the account's group, "region / manager", for the report
    rep_label: pd.Series  # the rep's group


def _rep_keys(src: PlanSource, reps: pd.DataFrame, units: pd.DataFrame, key: str) -> pd.Series:
    """The value of ``key`` for every rep, from the reps table or the rep's territory."""
    ids = reps.rep_id.astype(str)
    if key in reps.columns and key != "territory":
        return reps[key].astype("string").set_axis(ids)
    if key == "manager":
        col = reps["manager_id"] if "manager_id" in reps else pd.Series(pd.NA, index=reps.index)
        return col.astype("string").set_axis(ids)
    terr = reps.get("territory_id")
    if key == "territory":
        return (terr if terr is not None else pd.Series(pd.NA, index=reps.index)) \
            .astype("string").set_axis(ids)
    if key == "region" and terr is not None:
        table = src.input_frame("territories")
        if table is not None and "region" in table:
            region = table.set_index(table.territory_id.astype(str)).region.astype("string")
            return terr.astype("string").map(region).set_axis(ids)
    # country (or a region without territories): where the rep's accounts are today
    owned = units.dropna(subset=["owner_rep_id", key])
    mode = owned.groupby("owner_rep_id")[key].agg(lambda s: s.value_counts().index[0])
    return ids.map(mode).astype("string").set_axis(ids)


def _unit_keys(src: PlanSource, units: pd.DataFrame, key: str) -> pd.Series:
    if key == "manager":
        return units.manager_id.astype("string")
    if key == "territory":
        return units.territory_id.astype("string")
    if key in units.columns:
        return units[key].astype("string")
    accounts = src.input_frame("accounts")
    if accounts is None or key not in accounts:
        return pd.Series(pd.NA, index=units.index, dtype="string")
    col = accounts.set_index(accounts.account_id.astype(str))[key].astype("string")
    return units.account_id.astype(str).map(col).astype("string")


def alignment_groups(src: PlanSource, units: pd.DataFrame, reps: pd.DataFrame,
                     within: Sequence[str]) -> Groups | None:
    """The groups of ``within`` for ``units`` (planning frame rows) and ``reps``."""
    if not within:
        return None
    ucodes, rcodes, ulab, rlab = [], [], [], []
    for key in within:
        u, r = _unit_keys(src, units, key), _rep_keys(src, reps, units, key)
        if r.isna().all() or u.isna().all():
            src.note(f"plan: no {key} is known for the {'reps' if r.isna().all() else 'accounts'}"
                     f", so accounts may change {key} in this alignment")
            continue
        levels = pd.Index(sorted(set(u.dropna()) | set(r.dropna())))
        ucodes.append(levels.get_indexer(u.fillna("\0")))
        rcodes.append(levels.get_indexer(r.fillna("\0")))
        gaps = int(u.isna().sum())
        if gaps:
            src.note(f"plan: {gaps} accounts have no {key}; they may go to a rep of any {key}")
        lonely = sorted(set(u.dropna()) - set(r.dropna()))
        if lonely:
            n = int(u.isin(lonely).sum())
            src.note(f"plan: {n} accounts are in a {key} without a rep in this alignment "
                     f"({', '.join(lonely[:3])}); they may go to a rep of any {key}")
            ucodes[-1] = np.where(u.isin(lonely).to_numpy(), -1, ucodes[-1])
        ulab.append(u.fillna("?"))
        rlab.append(r.fillna("?"))
    if not ucodes:
        return None
    return Groups([k for k in within], np.column_stack(ucodes), np.column_stack(rcodes),
                  _join(ulab), _join(rlab))


def _join(parts: list[pd.Series]) -> pd.Series:
    out = parts[0].astype(str)
    for p in parts[1:]:
        out = out + " / " + p.astype(str).to_numpy()
    return out


def group_targets(values: np.ndarray, groups: Groups) -> np.ndarray:
    """Per rep: its group's total of ``values`` shared evenly by the group's reps.

    Accounts that may go anywhere (an unknown key) are shared by all reps, so the
    targets add up to the total.  A rep's group is the combination of its codes.
    """
    rep_key = pd.Series([tuple(r) for r in groups.rep_codes])
    unit_key = pd.Series([tuple(u) for u in groups.unit_codes])
    free = (groups.unit_codes < 0).any(axis=1)
    n_reps = len(rep_key)
    targets = np.full(n_reps, float(values[free].sum()) / n_reps)
    sums = pd.Series(values[~free]).groupby(unit_key[~free].to_numpy()).sum()
    counts = rep_key.value_counts()
    for i, key in enumerate(rep_key):
        targets[i] += float(sums.get(key, 0.0)) / counts[key]
    # accounts of a group no rep holds exactly (a rep with an unknown key) are shared too
    orphan = float(values[~free].sum()) - float(sums.reindex(counts.index).fillna(0).sum())
    return targets + orphan / n_reps
