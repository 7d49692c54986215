"""Buying-centre coverage: how well we know the people who decide a purchase.

A B2B purchase is decided by several people — a decision maker, influencers, users,
procurement.  An account where we know and recently spoke with each of them is far
easier to sell to than one where we know a single user.  The score is the weighted
share of buying roles covered, each role counted by its best-engaged contact:

* engaged within ``engagement_months`` before the as-of date: full credit;
* engaged within twice that: half credit;
* known but engaged earlier, or never: a quarter (we know the person, not the relation).

As of a date T, a contact whose last engagement is *after* T is left out: its state at
T is unknown (the table keeps only the last engagement), and reading it would leak the
future into a model.  A missing ``contacts`` table, or an account without contacts,
gives a *null* score with an explicit ``buying_centre_status`` — never a silent 0, since
"we have no contact data" is not the same as "nobody there knows us".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import ibis
import ibis.expr.types as ir
from dateutil.relativedelta import relativedelta

from growthmap.contract.inputs import BUYING_ROLES

__all__ = [
    "DEFAULT_ROLE_WEIGHTS",
    "STATUS_NO_CONTACTS",
    "STATUS_NO_TABLE",
    "STATUS_SCORED",
    "buying_centre",
]

STATUS_SCORED = "scored"
STATUS_NO_CONTACTS = "no_contacts"
STATUS_NO_TABLE = "no_contacts_table"
DEFAULT_ROLE_WEIGHTS = {"decision_maker": 0.4, "influencer": 0.25, "procurement": 0.2,
                        "user": 0.15}
_COLD_CREDIT = 0.25


def buying_centre(
    accounts: ir.Table,
    contacts: ir.Table | None,
    as_of: dt.date,
    *,
    weights: Mapping[str, float] | None = None,
    engagement_months: int = 12,
) -> ir.Table:
    """One row per account: contacts known as of ``as_of``, roles covered and the score.

    Columns: account_id, bc_contacts, bc_roles_covered, bc_engaged, one ``bc_<role>``
    credit (0-1) per buying role, buying_centre_coverage (0-1, null when unknown) and
    buying_centre_status (scored | no_contacts | no_contacts_table).
    """
    weights = dict(weights or DEFAULT_ROLE_WEIGHTS)
    total = sum(weights.values())
    weights = {r: w / total for r, w in weights.items() if r in BUYING_ROLES}
    ids = accounts.select("account_id")
    role_cols = [f"bc_{r}" for r in BUYING_ROLES]
    if contacts is None:
        null = ibis.null("float64")
        return ids.mutate(
            bc_contacts=ibis.null("int64"), bc_roles_covered=ibis.null("int64"),
            bc_engaged=ibis.null("int64"), **{c: null for c in role_cols},
            buying_centre_coverage=null, buying_centre_status=ibis.literal(STATUS_NO_TABLE),
        )
    c = contacts
    has_eng = "last_engagement" in c.columns
    if has_eng:
        c = c.filter(c.last_engagement.isnull() | (c.last_engagement <= as_of))
        full = as_of - relativedelta(months=engagement_months)
        half = as_of - relativedelta(months=2 * engagement_months)
        credit = ibis.cases((c.last_engagement > full, 1.0), (c.last_engagement > half, 0.5),
                            else_=_COLD_CREDIT)
        engaged = ibis.cases((c.last_engagement > full, 1), else_=0)
    else:
        credit, engaged = ibis.literal(_COLD_CREDIT), ibis.literal(0)
    role = c.role if "role" in c.columns else ibis.null("string")
    c = c.mutate(_credit=credit, _engaged=engaged, _role=role)
    aggs = {
        "bc_contacts": c.count(),
        "bc_engaged": c._engaged.sum(),
        **{f"bc_{r}": ibis.cases((c._role == r, c._credit), else_=0.0).max()
           for r in BUYING_ROLES},
    }
    per = c.group_by("account_id").aggregate(**aggs)
    j = ids.left_join(per, ids.account_id == per.account_id).drop("account_id_right")
    covered = sum((j[f"bc_{r}"] > 0).cast("int64") for r in BUYING_ROLES)
    score = sum(j[f"bc_{r}"] * w for r, w in weights.items())
    known = j.bc_contacts.notnull()
    return j.mutate(
        bc_contacts=j.bc_contacts.fill_null(0),
        bc_engaged=j.bc_engaged.fill_null(0),
        bc_roles_covered=ibis.cases((known, covered), else_=0),
        buying_centre_coverage=ibis.cases((known, score), else_=ibis.null("float64")),
        buying_centre_status=ibis.cases((known, STATUS_SCORED), else_=STATUS_NO_CONTACTS),
    ).select("account_id", "bc_contacts", "bc_roles_covered", "bc_engaged", *role_cols,
             "buying_centre_coverage", "buying_centre_status")
