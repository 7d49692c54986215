"""Current value as of a date: per account and family, concentration, value tiers.

Written as Ibis expressions so the same code runs on DuckDB and Spark.  Windows:
the trailing window is ``(as_of - lookback, as_of]`` and the prior window the same
length before it; nothing after ``as_of`` is read.  An account is a *customer* when
it has positive bookings in the trailing window, otherwise a *prospect*.

The stage scans the transactions once in the engine (:func:`account_family_value`);
the account-level table, tiers, concentration and Pareto curve are then computed from
that in-memory table by :mod:`growthmap.value.figures`.  :func:`account_value`,
:func:`assign_tiers`, :func:`concentration` and :func:`pareto_points` remain the
portable definitions of those figures (any Ibis backend); a test holds both to the
same results.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from dateutil.relativedelta import relativedelta

from growthmap.contract.inputs import FAMILY_UNASSIGNED
from growthmap.errors import ConfigError
from growthmap.runner.pipeline import RunContext, register_stage
from growthmap.value.figures import (
    account_value_table,
    concentration_table,
    order_family_value,
    pareto_table,
    sort_accounts,
    tier_columns,
)

__all__ = [
    "TIERS",
    "account_family_value",
    "account_value",
    "assign_tiers",
    "concentration",
    "family_lines",
    "pareto_points",
    "ultimate_parents",
    "windows",
]

TIERS = ("A", "B", "C", "D")
ACCOUNT_ATTRS = ("name", "industry", "country", "region", "city", "territory_id",
                 "owner_rep_id", "employees", "annual_revenue", "parent_id", "lat", "lon")


def windows(as_of: dt.date, months: int) -> tuple[dt.date, dt.date]:
    """Exclusive lower bounds of the trailing and the prior window."""
    start = as_of - relativedelta(months=months)
    return start, start - relativedelta(months=months)


def family_lines(transactions: ir.Table, products: ir.Table | None, as_of: dt.date) -> ir.Table:
    """Transaction lines up to ``as_of`` with their product family attached."""
    t = transactions.filter(transactions.date <= as_of)
    if products is None:
        return t.mutate(family=ibis.literal(FAMILY_UNASSIGNED))
    p = products.select(product_id=products.product_id, _family=products.family)
    t = t.left_join(p, t.product_id == p.product_id).drop("product_id_right")
    return t.mutate(family=t._family.fill_null(FAMILY_UNASSIGNED)).drop("_family")


def account_family_value(lines: ir.Table, as_of: dt.date, months: int) -> ir.Table:
    """Per account x family: trailing and prior value, margin, breadth, first/last purchase."""
    return _family_value(lines, as_of, months, product_bits=False)


def _family_value(lines: ir.Table, as_of: dt.date, months: int, *,
                  product_bits: bool, ordered: bool = True) -> ir.Table:
    """:func:`account_family_value`; with ``product_bits`` the lines carry ``_bit`` (see
    :func:`_bit_lines`) and the distinct products bought come as a bit mask ``_mask``
    (plus ``_unknown``, lines of products without a bit) instead of ``products_t12m``:
    a BIT_OR costs next to nothing where COUNT(DISTINCT) doubled the transaction scan."""
    start, prior_start = windows(as_of, months)
    in_win = lines.date > start
    in_prior = (lines.date > prior_start) & (lines.date <= start)
    bought = in_win & (lines.amount > 0)
    margin = lines.amount - lines.cost.fill_null(0) if "cost" in lines.columns else None
    aggs = {
        "revenue_t12m": ibis.cases((in_win, lines.amount), else_=0.0).sum(),
        "revenue_prior": ibis.cases((in_prior, lines.amount), else_=0.0).sum(),
    }
    if product_bits:
        one = ibis.literal(1, "int64")
        aggs["_mask"] = ibis.cases((bought & lines._bit.notnull(), one << lines._bit),
                                   else_=ibis.null("int64")).bit_or()
        aggs["_unknown"] = ibis.cases((bought & lines._bit.isnull()
                                       & lines.product_id.notnull(), 1), else_=0).sum()
    else:
        aggs["products_t12m"] = ibis.cases((bought, lines.product_id),
                                           else_=ibis.null()).nunique()
    aggs.update({
        "lines_t12m": ibis.cases((bought, 1), else_=0).sum(),
        "first_purchase": lines.date.min(),
        "last_purchase": lines.date.max(),
    })
    if margin is not None:
        aggs["gross_margin_t12m"] = ibis.cases((in_win, margin), else_=0.0).sum()
    out = lines.group_by(["account_id", "family"]).aggregate(**aggs)
    if margin is None:
        out = out.mutate(gross_margin_t12m=ibis.null("float64"))
    out = out.mutate(
        growth=ibis.cases((out.revenue_prior > 0,
                           out.revenue_t12m / out.revenue_prior - 1), else_=ibis.null("float64")),
    )
    return out.order_by(["account_id", "family"]) if ordered else out


def _bit_lines(transactions: ir.Table, products: ir.Table | None, as_of: dt.date,
               backend: object) -> ir.Table | None:
    """:func:`family_lines` plus ``_bit``, each product's position within its family, or
    ``None`` when the bit mask cannot stand in for a distinct count: no products table,
    an engine without BIT_OR (Spark through Ibis), or a family of more than 63 products."""
    if products is None:
        return None
    try:
        if not backend.has_operation(ops.BitOr):  # type: ignore[attr-defined]
            return None
    except AttributeError:
        return None
    fam = products.family.fill_null(FAMILY_UNASSIGNED)
    p = products.select(product_id=products.product_id, _family=products.family,
                        _bit=ibis.row_number().over(group_by=fam, order_by=products.product_id))
    widest = backend.to_pyarrow(  # type: ignore[attr-defined]
        p.aggregate(n=p._bit.max()))["n"][0].as_py()
    if widest is not None and widest > 62:
        return None
    t = transactions.filter(transactions.date <= as_of)
    t = t.left_join(p, t.product_id == p.product_id).drop("product_id_right")
    return t.mutate(family=t._family.fill_null(FAMILY_UNASSIGNED)).drop("_family")


def _products_from_mask(afv: pa.Table) -> pa.Table:
    """The account x family table with ``_mask`` / ``_unknown`` turned into
    ``products_t12m`` (the mask's popcount), columns in the usual order."""
    mask = afv["_mask"].combine_chunks().fill_null(0).to_numpy(zero_copy_only=False)
    count = np.bitwise_count(mask.astype("int64").view("uint64")).astype("int64")
    cols = [c for c in afv.column_names if c not in ("_mask", "_unknown")]
    t = afv.select(cols).append_column("products_t12m", pa.array(count))
    order = ["account_id", "family", "revenue_t12m", "revenue_prior", "products_t12m",
             "lines_t12m", "first_purchase", "last_purchase", "gross_margin_t12m", "growth"]
    return t.select(order)


def ultimate_parents(accounts: pd.DataFrame) -> pd.Series:
    """Map each account to the top of its corporate family (cycles stop at the account)."""
    parent = accounts.set_index("account_id")["parent_id"]
    parent = parent.where(parent.isin(parent.index))
    top = pd.Series(parent.index, index=parent.index)
    cur = parent.copy()
    for _ in range(32):  # corporate trees are shallow; the bound guards against cycles
        has = cur.notna()
        if not has.any():
            break
        top[has] = cur[has]
        nxt = cur.map(parent)
        cur = nxt.where(nxt.notna() & (nxt != top.index.to_series()))
    return top


def account_value(accounts: ir.Table, afv: ir.Table, as_of: dt.date, measure: str) -> ir.Table:
    """One row per account (prospects included) with value figures and status."""
    per = afv.group_by("account_id").aggregate(
        revenue_t12m=afv.revenue_t12m.sum(),
        revenue_prior=afv.revenue_prior.sum(),
        gross_margin_t12m=afv.gross_margin_t12m.sum(),
        families_t12m=ibis.cases((afv.revenue_t12m > 0, afv.family), else_=ibis.null()).nunique(),
        families_ever=afv.family.nunique(),
        products_t12m=afv.products_t12m.sum(),
        lines_t12m=afv.lines_t12m.sum(),
        first_purchase=afv.first_purchase.min(),
        last_purchase=afv.last_purchase.max(),
    )
    attrs = [c for c in ACCOUNT_ATTRS if c in accounts.columns]
    a = accounts.select("account_id", *attrs)
    j = a.left_join(per, a.account_id == per.account_id).drop("account_id_right")
    zero = ibis.literal(0.0)
    j = j.mutate(
        revenue_t12m=j.revenue_t12m.fill_null(zero),
        revenue_prior=j.revenue_prior.fill_null(zero),
        families_t12m=j.families_t12m.fill_null(0),
        families_ever=j.families_ever.fill_null(0),
        products_t12m=j.products_t12m.fill_null(0),
        lines_t12m=j.lines_t12m.fill_null(0),
    )
    value = j.gross_margin_t12m if measure == "gross_margin" else j.revenue_t12m
    return j.mutate(
        value=value.fill_null(zero),
        growth=ibis.cases((j.revenue_prior > 0, j.revenue_t12m / j.revenue_prior - 1),
                          else_=ibis.null("float64")),
        is_customer=j.lines_t12m > 0,
        status=ibis.cases((j.lines_t12m > 0, "customer"), else_="prospect"),
        ever_bought=j.first_purchase.notnull(),
        recency_days=(ibis.literal(as_of) - j.last_purchase).cast("int64"),
        tenure_days=(ibis.literal(as_of) - j.first_purchase).cast("int64"),
    )


def assign_tiers(t: ir.Table, value_col: str, *, method: str, shares: list[float],
                 bands: list[float], key: str = "account_id") -> ir.Table:
    """Rank by value (ties by key), cumulative share, and the A/B/C/D tier."""
    v = ibis.greatest(t[value_col], 0.0)
    t = t.mutate(_v=v)
    order = [ibis.desc(t._v), t[key]]
    total = t._v.sum().over(ibis.window())
    cum = t._v.sum().over(ibis.cumulative_window(order_by=order))
    t = t.mutate(
        value_rank=ibis.row_number().over(ibis.window(order_by=order)) + 1,
        value_share=ibis.cases((total > 0, t._v / total), else_=0.0),
        cum_share=ibis.cases((total > 0, cum / total), else_=0.0),
    )
    if method == "cumulative_share":
        before = t.cum_share - t.value_share  # share held by accounts ranked above
        tier = ibis.cases(
            (t._v <= 0, "D"),
            (before < shares[0], "A"), (before < shares[1], "B"), (before < shares[2], "C"),
            else_="D")
    else:
        tier = ibis.cases((t._v >= bands[0], "A"), (t._v >= bands[1], "B"),
                          (t._v >= bands[2], "C"), else_="D")
    return t.mutate(value_tier=tier).drop("_v")


def concentration(av: ir.Table, dims: list[str]) -> ir.Table:
    """ARPA, share, Gini, top-20% share and HHI per group of each dimension (and overall).

    Figures are over customers' value clipped at zero (a net-credit account holds no share).
    """
    parts = []
    for dim in ["all", *dims]:
        g = ibis.literal("all") if dim == "all" else av[dim].cast("string").fill_null("(none)")
        t = av.mutate(_g=g, _v=ibis.greatest(av.value, 0.0))
        cust = t.filter(t.is_customer)
        w_asc = ibis.window(group_by=cust._g, order_by=[cust._v, cust.account_id])
        w_desc = ibis.window(group_by=cust._g, order_by=[ibis.desc(cust._v), cust.account_id])
        c = cust.mutate(_i=ibis.row_number().over(w_asc) + 1,
                        _r=ibis.row_number().over(w_desc) + 1)
        c = c.mutate(_n=c.count().over(ibis.window(group_by=c._g)),
                     _s=c._v.sum().over(ibis.window(group_by=c._g)))
        gc = c.group_by("_g").aggregate(
            n_customers=c.count(),
            value=c._v.sum(),
            _ix=(c._i * c._v).sum(),
            top20=ibis.cases((c._r <= (c._n * 0.2).ceil(), c._v), else_=0.0).sum(),
            hhi=ibis.cases((c._s > 0, (c._v / c._s) ** 2), else_=0.0).sum(),
        )
        ga = t.group_by("_g").aggregate(n_accounts=t.count())
        j = ga.left_join(gc, ga._g == gc._g).drop("_g_right")
        n = j.n_customers.fill_null(0)
        val = j.value.fill_null(0.0)
        overall = val.sum().over(ibis.window())
        parts.append(j.select(
            dimension=ibis.literal(dim),
            group=j._g,
            n_accounts=j.n_accounts,
            n_customers=n,
            value=val,
            arpa=ibis.cases((n > 0, val / n), else_=ibis.null("float64")),
            share_of_total=ibis.cases((overall > 0, val / overall), else_=0.0),
            gini=ibis.cases((val > 0, 2 * j._ix / (n * val) - (n + 1) / n),
                            else_=ibis.null("float64")),
            top20_share=ibis.cases((val > 0, j.top20 / val), else_=ibis.null("float64")),
            hhi=j.hhi.fill_null(0.0),
        ))
    out = parts[0]
    for p in parts[1:]:
        out = out.union(p)
    return out.order_by(["dimension", "group"])


def pareto_points(av: ir.Table, points: int = 100) -> ir.Table:
    """The Pareto curve: cumulative share of value held by the top k% of customers."""
    cust = av.filter(av.is_customer).mutate(_v=ibis.greatest(av.value, 0.0))
    order = [ibis.desc(cust._v), cust.account_id]
    c = cust.mutate(_r=ibis.row_number().over(ibis.window(order_by=order)) + 1,
                    _cum=cust._v.sum().over(ibis.cumulative_window(order_by=order)),
                    _n=cust.count().over(ibis.window()),
                    _tot=cust._v.sum().over(ibis.window()))
    c = c.mutate(pct=((c._r * points) / c._n).ceil().cast("int64"))
    out = c.group_by("pct").aggregate(
        accounts=c._r.max(), cum_value=c._cum.max(), n=c._n.max(), tot=c._tot.max())
    return out.select(
        point=out.pct,
        share_of_customers=out.accounts / out.n,
        cum_share_of_value=ibis.cases((out.tot > 0, out.cum_value / out.tot), else_=0.0),
    ).order_by("point")


@register_stage("value", needs=("transactions", "accounts"), optional=("products",),
                provides=("account_family_value", "account_value", "concentration", "pareto"))
def stage(ctx: RunContext) -> None:
    """Current value, concentration and value tiers as of the run date.

    The transactions are scanned once in the engine (the account x family table); the
    account-level figures, tiers, concentration and Pareto curve are then computed from
    that in-memory table by :mod:`growthmap.value.figures` (its docstring says why),
    which gives the same figures as the Ibis functions of this module.
    """
    cfg = ctx.config.value
    tx = ctx.require("transactions", "current value")
    accounts = ctx.require("accounts", "current value")
    products = ctx.input("products")
    if products is None:
        ctx.note("no products table: every transaction counts in the family "
                 f"'{FAMILY_UNASSIGNED}', so per-family figures collapse to one family")
    has_cost = "cost" in tx.columns
    if cfg.measure == "gross_margin" and not has_cost:
        raise ConfigError("value.measure = 'gross_margin' needs a cost column in transactions",
                          hint="load transactions with a cost column or set measure = 'revenue'")
    backend = ctx.source.backend
    bit_lines = _bit_lines(tx, products, ctx.as_of, backend)
    afv = None
    if bit_lines is not None:
        afv = backend.to_pyarrow(_family_value(bit_lines, ctx.as_of, cfg.lookback_months,
                                               product_bits=True, ordered=False))
        # a product missing from the products table has no bit: count those exactly
        afv = None if pc.max(afv["_unknown"]).as_py() else _products_from_mask(afv)
    if afv is None:
        afv = backend.to_pyarrow(_family_value(family_lines(tx, products, ctx.as_of),
                                               ctx.as_of, cfg.lookback_months,
                                               product_bits=False, ordered=False))
    attrs = [c for c in ACCOUNT_ATTRS if c in accounts.columns]
    acc = sort_accounts(backend.to_pyarrow(accounts.select("account_id", *attrs)))
    afv, rows = order_family_value(afv, acc["account_id"].combine_chunks())
    afv = ctx.put("account_family_value", afv)
    av = account_value_table(acc, afv, rows, ctx.as_of, cfg.measure)
    tier_kw = dict(method=cfg.tier_method, shares=cfg.tier_cumulative_shares,
                   bands=cfg.tier_bands)
    position = np.arange(av.num_rows)  # av is in account_id order
    value = av["value"].to_numpy()
    if cfg.rollup_parents and "parent_id" in accounts.columns:
        top = ultimate_parents(acc.select(["account_id", "parent_id"]).to_pandas())
        gid = pa.array(top.reindex(av["account_id"].to_pandas()).to_numpy(), pa.string())
        groups = pc.unique(gid)
        groups = groups.take(pc.sort_indices(groups))
        g = pc.index_in(gid, value_set=groups).to_numpy(zero_copy_only=False).astype("int64")
        g_value = np.zeros(len(groups))
        np.add.at(g_value, g, value)  # members added in account_id order
        g_tiers = tier_columns(g_value, np.arange(len(groups)), **tier_kw)
        tiers = tier_columns(value, position, **tier_kw)
        tiers.pop("value_tier")
        cols = {"group_account_id": gid, **tiers, "group_value": g_value[g],
                "value_tier": g_tiers["value_tier"][g]}
    else:
        if cfg.rollup_parents:
            ctx.note("value.rollup_parents is on but accounts have no parent_id column")
        cols = {**tier_columns(value, position, **tier_kw), "group_account_id": av["account_id"]}
    for name, col in cols.items():
        if isinstance(col, np.ndarray):
            col = pa.array(col, pa.string() if col.dtype == object else None)
        av = av.append_column(name, col)
    av = ctx.put("account_value", av)
    # extra account attributes (a CRM's "Segment") group too: carried for this table only
    extra = [d for d in cfg.group_by if d not in av.column_names and d in accounts.columns]
    by = av
    if extra:
        ext = sort_accounts(backend.to_pyarrow(accounts.select("account_id", *extra)))
        for d in extra:
            by = by.append_column(d, ext[d].cast(pa.string()))
    dims = [d for d in cfg.group_by if d in by.column_names]
    for d in cfg.group_by:
        if d not in by.column_names:
            ctx.note(f"value.group_by names {d!r}, which the accounts table does not have")
    ctx.put("concentration", concentration_table(by, dims))
    ctx.put("pareto", pareto_table(av))
