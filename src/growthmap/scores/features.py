"""As-of features per account, the input of the propensity, risk and ICP models.

Every feature as of a date T reads no row dated after T: transactions and signals are
filtered on their date, opportunities on their creation date (one closed after T is
still *open* at T, and whether it was won is not read), contacts on their last
engagement (see :mod:`growthmap.scores.buying_centre`).  The accounts table has no dates; its
firmographics are taken as they are.  The features are Ibis expressions, so the same
code runs on DuckDB and Spark; :func:`encode` turns the executed frame into the numeric
matrix the estimators take, with category codes that stay the same at every cut-off.

The column set is fixed by a :class:`Vocabulary` (families, signal kinds, category
levels) computed once per run, so features at different cut-offs line up.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from dateutil.relativedelta import relativedelta

from growthmap.scores.buying_centre import buying_centre
from growthmap.value.stage import family_lines

__all__ = [
    "CATEGORICAL",
    "FIRMOGRAPHICS",
    "ID_COLUMNS",
    "FeatureInputs",
    "Vocabulary",
    "account_features",
    "describe",
    "encode",
    "vocabulary",
]

#: Account columns used as categories (when present).
CATEGORICAL = ("industry", "country", "region")
#: Account columns used as numbers (when present).
FIRMOGRAPHICS = ("employees", "annual_revenue")
#: Columns of the feature frame that are not model inputs.
ID_COLUMNS = ("account_id", "buying_centre_status")
_MAX_FAMILIES = 20


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_") or "x"


@dataclass(frozen=True)
class FeatureInputs:
    """The input tables features read (optional ones may be ``None``)."""

    accounts: ir.Table
    transactions: ir.Table
    products: ir.Table | None = None
    signals: ir.Table | None = None
    opportunities: ir.Table | None = None
    contacts: ir.Table | None = None

    @classmethod
    def from_source(cls, source: Any) -> FeatureInputs:
        """Take every table from a run's source (anything with ``maybe_table``)."""
        get = source.maybe_table
        return cls(accounts=get("accounts"), transactions=get("transactions"),
                   products=get("products"), signals=get("signals"),
                   opportunities=get("opportunities"), contacts=get("contacts"))

    def restrict(self, keep: ir.Table) -> FeatureInputs:
        """The same inputs cut to the accounts in ``keep`` (a table with account_id).

        Tables keyed by account are semi-joined, so an engine aggregates only the kept
        accounts' rows; products stay whole.
        """
        def cut(t: ir.Table | None) -> ir.Table | None:
            return None if t is None else t.semi_join(keep, t.account_id == keep.account_id)

        return FeatureInputs(accounts=cut(self.accounts), transactions=cut(self.transactions),
                             products=self.products, signals=cut(self.signals),
                             opportunities=cut(self.opportunities),
                             contacts=cut(self.contacts))

    def missing(self) -> list[str]:
        """Optional tables that are absent, so the caller can say which features are off."""
        return [n for n in ("products", "signals", "opportunities", "contacts")
                if getattr(self, n) is None]


@dataclass(frozen=True)
class Vocabulary:
    """What fixes the feature columns: families, signal kinds and category levels."""

    families: tuple[str, ...]
    signal_kinds: tuple[str, ...] = ()
    levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: extra numeric account columns (``[scores].features``), taken as they are today
    numeric: tuple[str, ...] = ()

    def categorical(self) -> tuple[str, ...]:
        """Every category column: the contract's and the user's (``[scores].features``)."""
        return tuple(self.levels)

    def family_slugs(self) -> dict[str, str]:
        """family -> column-safe slug (unique)."""
        out: dict[str, str] = {}
        for f in self.families:
            s, k = _slug(f), 2
            while s in out.values():
                s, k = f"{_slug(f)}_{k}", k + 1
            out[f] = s
        return out


def vocabulary(inputs: FeatureInputs, as_of: dt.date, *, max_signal_kinds: int = 5,
               attributes: tuple[str, ...] = ()) -> Vocabulary:
    """Families (by revenue), the most frequent signal kinds and category levels up to as-of.

    ``attributes`` are extra account columns (``[scores].features``): numeric ones become
    numbers, the others categories with their levels.
    """
    lines = family_lines(inputs.transactions, inputs.products, as_of)
    fam = lines.group_by("family").aggregate(v=lines.amount.sum()).order_by(
        [ibis.desc("v"), "family"]).limit(_MAX_FAMILIES).to_pandas()
    kinds: tuple[str, ...] = ()
    if inputs.signals is not None and max_signal_kinds > 0:
        s = inputs.signals.filter(inputs.signals.date <= as_of)
        k = s.group_by("kind").aggregate(n=s.count()).order_by(
            [ibis.desc("n"), "kind"]).limit(max_signal_kinds).to_pandas()
        kinds = tuple(str(x) for x in k["kind"] if x is not None)
    levels = {}
    acc = inputs.accounts
    numeric = tuple(c for c in attributes if c not in (*CATEGORICAL, *FIRMOGRAPHICS)
                    and _is_numeric(acc, c))
    for col in (*CATEGORICAL, *(c for c in attributes if c not in numeric)):
        if col in acc.columns and col not in levels and col not in FIRMOGRAPHICS:
            vals = acc.select(v=acc[col].cast("string")).distinct().to_pandas()["v"]
            levels[col] = tuple(sorted(str(v) for v in vals.dropna()))
    return Vocabulary(tuple(str(f) for f in fam["family"]), kinds, levels, numeric)


def _is_numeric(table: ir.Table, column: str) -> bool:
    """A numeric column, or a text column whose every value reads as a number (the
    loader keeps extra account columns as text)."""
    col = table[column]
    if col.type().is_numeric():
        return True
    if not col.type().is_string():
        return False
    n = table.aggregate(n=col.notnull().sum(),
                        ok=col.try_cast("float64").notnull().sum()).to_pandas()
    return int(n["n"].iloc[0] or 0) > 0 and int(n["ok"].iloc[0]) == int(n["n"].iloc[0])


def _days(as_of: dt.date, d: ir.Value) -> ir.Value:
    return (ibis.literal(as_of) - d).cast("int64")


def _transaction_features(lines: ir.Table, as_of: dt.date, vocab: Vocabulary) -> ir.Table:
    def since(months: int) -> ir.BooleanValue:
        return lines.date > (as_of - relativedelta(months=months))

    d, amt = lines.date, lines.amount
    w3, w6, w12, w24 = since(3), since(6), since(12), since(24)
    pos = amt > 0
    zero, nodate = ibis.literal(0.0), ibis.null("date")
    # the 12-month window spans at most 13 calendar months: one flag per month (a MAX),
    # added up, counts the months with a purchase where COUNT(DISTINCT) hashed every
    # line again (a bit OR would do it in one, but Ibis cannot compile it for Spark)
    lo = as_of - relativedelta(months=12)
    month = (d.year() * 12 + d.month()) - (lo.year * 12 + lo.month)
    aggs: dict[str, ir.Value] = {
        "_last": ibis.cases((pos, d), else_=nodate).max(),
        "_first": ibis.cases((pos, d), else_=nodate).min(),
        "rev_3m": ibis.cases((w3, amt), else_=zero).sum(),
        "rev_6m": ibis.cases((w6, amt), else_=zero).sum(),
        "rev_12m": ibis.cases((w12, amt), else_=zero).sum(),
        "rev_prev_6m": ibis.cases((w12 & ~w6, amt), else_=zero).sum(),
        "rev_prev_12m": ibis.cases((w24 & ~w12, amt), else_=zero).sum(),
        "lines_3m": ibis.cases((w3 & pos, 1), else_=0).sum(),
        "lines_12m": ibis.cases((w12 & pos, 1), else_=0).sum(),
        "credits_12m": ibis.cases((w12 & ~pos, 1), else_=0).sum(),
        **{f"_m{k}": ibis.cases((w12 & pos & (month == k), 1), else_=0).max()
           for k in range(13)},
        "products_12m": ibis.cases((w12 & pos, lines.product_id),
                                   else_=ibis.null("string")).nunique(),
    }
    # with every family in the vocabulary, the families bought are counted from the
    # per-family columns below (no COUNT(DISTINCT)); else over the lines
    every_family = len(vocab.families) < _MAX_FAMILIES
    if not every_family:
        aggs["families_12m"] = ibis.cases((w12 & pos, lines.family),
                                          else_=ibis.null("string")).nunique()
        aggs["families_ever"] = ibis.cases((pos, lines.family),
                                           else_=ibis.null("string")).nunique()
    for fam, s in vocab.family_slugs().items():
        is_f = lines.family == fam
        aggs[f"f_{s}_rev_12m"] = ibis.cases((is_f & w12, amt), else_=zero).sum()
        aggs[f"f_{s}_rev_prev_12m"] = ibis.cases((is_f & w24 & ~w12, amt), else_=zero).sum()
        aggs[f"f_{s}_lines_12m"] = ibis.cases((is_f & w12 & pos, 1), else_=0).sum()
        aggs[f"_f_{s}_last"] = ibis.cases((is_f & pos, d), else_=nodate).max()
    t = lines.group_by("account_id").aggregate(**aggs)
    derived = {
        "recency_days": _days(as_of, t._last),
        "tenure_days": _days(as_of, t._first),
        "trend_6m": (ibis.greatest(t.rev_6m, 0.0) + 1).ln()
        - (ibis.greatest(t.rev_prev_6m, 0.0) + 1).ln(),
        "trend_12m": (ibis.greatest(t.rev_12m, 0.0) + 1).ln()
        - (ibis.greatest(t.rev_prev_12m, 0.0) + 1).ln(),
        "avg_line_12m": ibis.cases((t.lines_12m > 0, t.rev_12m / t.lines_12m),
                                   else_=ibis.null("float64")),
        "active_months_12m": sum((t[f"_m{k}"].fill_null(0) for k in range(1, 13)),
                                 start=t._m0.fill_null(0)).cast("int64"),
    }
    slugs = list(vocab.family_slugs().values())
    for s in slugs:
        derived[f"f_{s}_days_since"] = _days(as_of, t[f"_f_{s}_last"])
    if every_family:
        derived["families_12m"] = _count_true([t[f"f_{s}_lines_12m"] > 0 for s in slugs])
        derived["families_ever"] = _count_true([t[f"_f_{s}_last"].notnull() for s in slugs])
    t = t.mutate(**derived)
    # the columns in their usual order (the models' column sampling depends on it)
    first = ["rev_3m", "rev_6m", "rev_12m", "rev_prev_6m", "rev_prev_12m", "lines_3m",
             "lines_12m", "credits_12m", "active_months_12m", "products_12m",
             "families_12m", "families_ever"]
    return t.select("account_id", *first,
                    *[c for c in t.columns if c not in first and c != "account_id"
                      and not c.startswith("_")])


def _count_true(conditions: list[ir.BooleanValue]) -> ir.IntegerValue:
    """How many of ``conditions`` hold (0 for none)."""
    return sum((c.cast("int64") for c in conditions[1:]),
               start=conditions[0].cast("int64") if conditions else ibis.literal(0, "int64"))


def _signal_features(signals: ir.Table, as_of: dt.date, vocab: Vocabulary) -> ir.Table:
    s = signals.filter(signals.date <= as_of)
    w90 = s.date > (as_of - dt.timedelta(days=90))
    w365 = s.date > (as_of - dt.timedelta(days=365))
    value = s.value.fill_null(1.0) if "value" in s.columns else ibis.literal(1.0)
    aggs: dict[str, ir.Value] = {
        "sig_90d": ibis.cases((w90, 1), else_=0).sum(),
        "sig_365d": ibis.cases((w365, 1), else_=0).sum(),
        "sig_value_90d": ibis.cases((w90, value), else_=0.0).sum(),
        "_sig_last": s.date.max(),
    }
    for k in vocab.signal_kinds:
        aggs[f"sig_{_slug(k)}_90d"] = ibis.cases((w90 & (s.kind == k), 1), else_=0).sum()
    t = s.group_by("account_id").aggregate(**aggs)
    return t.mutate(sig_days_since=_days(as_of, t._sig_last)).drop("_sig_last")


def _opportunity_features(opps: ir.Table, as_of: dt.date) -> ir.Table:
    o = opps.filter(opps.created <= as_of)
    closed = o.closed if "closed" in o.columns else ibis.null("date")
    is_open = closed.isnull() | (closed > as_of)
    closed_12m = closed.notnull() & (closed <= as_of) & (
        closed > (as_of - relativedelta(months=12)))
    won = o.won if "won" in o.columns else ibis.null("boolean")
    amount = o.amount.fill_null(0.0) if "amount" in o.columns else ibis.literal(0.0)
    t = o.group_by("account_id").aggregate(
        opp_open=ibis.cases((is_open, 1), else_=0).sum(),
        opp_open_amount=ibis.cases((is_open, amount), else_=0.0).sum(),
        opp_won_12m=ibis.cases((closed_12m & (won == True), 1), else_=0).sum(),  # noqa: E712
        opp_lost_12m=ibis.cases((closed_12m & (won == False), 1), else_=0).sum(),  # noqa: E712
        opp_created_90d=ibis.cases((o.created > (as_of - dt.timedelta(days=90)), 1),
                                   else_=0).sum(),
        _opp_last=o.created.max(),
    )
    return t.mutate(opp_days_since_created=_days(as_of, t._opp_last)).drop("_opp_last")


def account_features(
    inputs: FeatureInputs,
    as_of: dt.date,
    vocab: Vocabulary,
    *,
    role_weights: Mapping[str, float] | None = None,
    engagement_months: int = 12,
    ordered: bool = True,
) -> ir.Table:
    """One row per account (prospects included) of features as of ``as_of``, sorted by
    account id unless ``ordered`` is false (scoring sorts its scores instead, so the
    engine can stream the rows as it makes them, without holding them all to sort).

    Counts and sums are 0 when an account has no rows; "days since" features are null
    when the event never happened (the models treat null as its own value).  Tables that
    are absent contribute no columns.
    """
    acc = inputs.accounts
    cats = vocab.categorical() or CATEGORICAL
    firmo = [c for c in (*cats, *FIRMOGRAPHICS, *vocab.numeric) if c in acc.columns]
    out = acc.select("account_id", *dict.fromkeys(firmo))
    for c in (*FIRMOGRAPHICS, *vocab.numeric):
        if c in firmo:
            out = out.mutate(**{c: out[c].try_cast("float64") if out[c].type().is_string()
                                else out[c].cast("float64")})
    for c in cats:
        if c in firmo:
            out = out.mutate(**{c: out[c].cast("string")})
    parts = [_transaction_features(family_lines(inputs.transactions, inputs.products, as_of),
                                   as_of, vocab)]
    if inputs.signals is not None:
        parts.append(_signal_features(inputs.signals, as_of, vocab))
    if inputs.opportunities is not None:
        parts.append(_opportunity_features(inputs.opportunities, as_of))
    for p in parts:
        cols = [c for c in p.columns if c != "account_id"]
        out = out.left_join(p, out.account_id == p.account_id).drop("account_id_right")
        fill = {c: 0 for c in cols if p[c].type().is_numeric() and "days" not in c
                and c not in ("avg_line_12m",)}
        out = out.mutate(**{c: out[c].fill_null(v) for c, v in fill.items()})
    bc = buying_centre(acc, inputs.contacts, as_of, weights=role_weights,
                       engagement_months=engagement_months)
    if inputs.contacts is not None:
        out = out.left_join(bc, out.account_id == bc.account_id).drop("account_id_right")
    return out.order_by("account_id") if ordered else out


def encode(frame: pd.DataFrame, vocab: Vocabulary) -> pd.DataFrame:
    """The numeric model matrix: category levels become fixed codes, ids are dropped.

    A level unseen in the vocabulary becomes null (LightGBM treats it as missing).
    """
    x = frame.drop(columns=[c for c in ID_COLUMNS if c in frame.columns])
    for col in vocab.categorical() or CATEGORICAL:
        if col in x.columns:
            levels = pd.Index(vocab.levels.get(col, ()), dtype="string")
            codes = levels.get_indexer(x[col].astype("string"))
            x[col] = np.where(codes >= 0, codes, np.nan)
    return x.astype("float64")


_LABELS = {
    "recency_days": "days since the last purchase",
    "tenure_days": "days since the first purchase",
    "rev_3m": "revenue in the last 3 months",
    "rev_6m": "revenue in the last 6 months",
    "rev_12m": "revenue in the last 12 months",
    "rev_prev_6m": "revenue 6-12 months ago",
    "rev_prev_12m": "revenue 12-24 months ago",
    "trend_6m": "revenue trend, last 6 months vs the 6 before",
    "trend_12m": "revenue trend, last 12 months vs the 12 before",
    "lines_3m": "purchases in the last 3 months",
    "lines_12m": "purchases in the last 12 months",
    "credits_12m": "credit notes in the last 12 months",
    "active_months_12m": "months with a purchase in the last 12",
    "products_12m": "products bought in the last 12 months",
    "families_12m": "product families bought in the last 12 months",
    "families_ever": "product families ever bought",
    "avg_line_12m": "average purchase size",
    "employees": "employees",
    "annual_revenue": "company revenue",
    "industry": "industry",
    "country": "country",
    "region": "region",
    "sig_90d": "signals in the last 90 days",
    "sig_365d": "signals in the last year",
    "sig_value_90d": "signal strength in the last 90 days",
    "sig_days_since": "days since the last signal",
    "opp_open": "open opportunities",
    "opp_open_amount": "open pipeline amount",
    "opp_won_12m": "opportunities won in the last 12 months",
    "opp_lost_12m": "opportunities lost in the last 12 months",
    "opp_created_90d": "opportunities created in the last 90 days",
    "opp_days_since_created": "days since the last opportunity was created",
    "bc_contacts": "known contacts",
    "bc_roles_covered": "buying roles covered by contacts",
    "bc_engaged": "contacts engaged recently",
    "buying_centre_coverage": "buying-centre coverage",
}


def describe(feature: str, vocab: Vocabulary | None = None) -> str:
    """A feature's name in plain words, for drivers shown to reps."""
    if feature in _LABELS:
        return _LABELS[feature]
    if feature.startswith("bc_"):
        return f"contact coverage of the {feature[3:].replace('_', ' ')} role"
    if feature.startswith("fam_"):
        return "this family: " + _LABELS.get(feature[4:], feature[4:].replace("_", " "))
    if vocab is not None:
        for fam, s in vocab.family_slugs().items():
            prefix = f"f_{s}_"
            if feature.startswith(prefix):
                return f"{fam}: " + _LABELS.get(feature[len(prefix):],
                                                feature[len(prefix):].replace("_", " "))
        for k in vocab.signal_kinds:
            if feature == f"sig_{_slug(k)}_90d":
                return f"'{k}' signals in the last 90 days"
    return feature.replace("_", " ")
