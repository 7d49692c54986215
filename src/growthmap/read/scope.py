"""Who sees which accounts: the one scope rule, decided on the snapshot being read.

Every read of a snapshot for a user - the dashboard's pages, the JSON API, the
exports, the charts, the account card's history, the migration between snapshots -
filters that snapshot's ``account_value`` with :func:`scope_predicate`.  Because the
predicate reads the owner and territory columns *of that snapshot*, moving accounts
between reps moves them in new snapshots only: in an older snapshot the accounts are
still the previous owner's, and the new owner does not see them there.  Feedback is
live rather than part of a snapshot, so it is read and written against the latest
snapshot's book (``DataAccess.current_book``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from growthmap.read.access import DataAccess, Principal

__all__ = ["scope_predicate"]


def scope_predicate(da: DataAccess, user: Principal, schema: str) -> tuple[str, list[Any]]:
    """The scope of ``user`` in snapshot ``schema``: a predicate over ``{a}`` (the alias
    of that snapshot's ``account_value``) and its bound parameters.

    * admin / ops: everything;
    * manager: accounts whose ``territory_id`` *in that snapshot* lies in the subtree of
      the manager's territory;
    * rep: accounts whose ``owner_rep_id`` *in that snapshot* is the rep's id;
    * anyone else (a manager without territory, a rep without rep id): nothing.
    """
    av_cols = da.columns("account_value", schema)
    if user.sees_everything:
        return ("TRUE", [])
    if user.role == "manager" and user.territory_id and "territory_id" in av_cols:
        # a constant list (one placeholder each): DuckDB filters it in the scan
        terr = da.territory_subtree(user.territory_id)
        return ("{a}.territory_id IN (" + ", ".join("?" * len(terr)) + ")", list(terr))
    if user.role == "rep" and user.rep_id and "owner_rep_id" in av_cols:
        return ("{a}.owner_rep_id = ?", [user.rep_id])
    return ("FALSE", [])
