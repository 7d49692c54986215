"""Account value, tiers, concentration and the Pareto curve from in-memory tables.

The value stage scans the transactions once in the engine (DuckDB or Spark), giving
the account x family table; everything after that works on that table (1.7M rows at
a million accounts) and on the accounts' attributes, both already in memory as Arrow.
As Ibis expressions those steps shipped the tables back into the engine and ran a
dozen window functions and sorts over a million rows (concentration alone, with a
partitioned double sort per dimension, cost more than the transaction scan).  Here
they are array operations: one sort of the accounts by value, one per concentration
dimension, and grouped sums over contiguous runs.

Every sum is taken in a fixed order (accounts sorted by id, or by value then id), so
the figures are the same bit for bit on every run and whatever engine produced the
account x family table.  The Ibis versions in :mod:`growthmap.value.stage` define the same
figures and a test checks that both agree.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["account_value_table", "concentration_table", "order_family_value", "pareto_table",
           "sort_accounts", "tier_columns"]

TIERS = np.array(["A", "B", "C", "D"], dtype=object)
_EPOCH = dt.date(1970, 1, 1)


def _one(a: pa.Array | pa.ChunkedArray) -> pa.Array:
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def _f64(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A float column as numpy, NaN for nulls."""
    return _one(a).cast(pa.float64()).to_numpy(zero_copy_only=False)


def _days(a: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A date column as int64 days since 1970 (nulls as the minimum int64)."""
    arr = _one(a).cast(pa.date32()).cast(pa.int32())
    return arr.fill_null(np.iinfo(np.int32).min).to_numpy().astype("int64")


def _run_starts(keys: np.ndarray) -> np.ndarray:
    """Start of every run of equal consecutive keys."""
    if not len(keys):
        return np.zeros(0, dtype="int64")
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])


def tier_columns(value: np.ndarray, order_key: np.ndarray, *, method: str,
                 shares: list[float], bands: list[float]) -> dict[str, np.ndarray]:
    """value_rank, value_share, cum_share and value_tier of each row.

    Rows are ranked by value (clipped at zero) descending, ties by ``order_key``
    ascending (an integer: the row's position in id order).  The cumulative sum runs in
    rank order, so it is the same on every run.
    """
    v = np.maximum(value, 0.0)
    order = np.lexsort((order_key, -v))
    cum = np.empty_like(v)
    cum[order] = np.cumsum(v[order])
    total = cum[order[-1]] if len(order) else 0.0
    rank = np.empty(len(v), dtype="int64")
    rank[order] = np.arange(1, len(v) + 1)
    share = v / total if total > 0 else np.zeros_like(v)
    cum_share = cum / total if total > 0 else np.zeros_like(v)
    if method == "cumulative_share":
        before = cum_share - share  # share held by accounts ranked above
        tier = np.select([v <= 0, before < shares[0], before < shares[1], before < shares[2]],
                         [3, 0, 1, 2], 3)
    else:
        tier = np.select([v >= bands[0], v >= bands[1], v >= bands[2]], [0, 1, 2], 3)
    return {"value_rank": rank, "value_share": share, "cum_share": cum_share,
            "value_tier": TIERS[tier]}


def sort_accounts(accounts: pa.Table) -> pa.Table:
    """The accounts in account_id order (byte order, as the engines sort text).

    A loaded accounts table usually is in that order already (exports are sorted by
    id, and the loader keeps the file's order): one comparison of neighbours then
    replaces a sort and a copy of every column.
    """
    ids = _one(accounts["account_id"])
    if len(ids) < 2 or (not ids.null_count and pc.all(
            pc.less_equal(ids[:-1], ids[1:])).as_py()):
        return accounts  # sort_indices is stable: the sort would change nothing
    return accounts.take(pc.sort_indices(ids))


def order_family_value(afv: pa.Table, account_ids: pa.Array) -> tuple[pa.Table, np.ndarray]:
    """The account x family table in (account_id, family) order, and each row's account
    as a position in ``account_ids`` (sorted; -1 for an account it does not hold).

    The engine returns the aggregate unordered; sorting here by two integer codes is
    cheaper than an ORDER BY over two text columns in the engine.
    """
    ids = _one(afv["account_id"])
    pos = pc.index_in(ids, value_set=account_ids).to_numpy(zero_copy_only=False)
    fam = pc.dictionary_encode(_one(afv["family"]))
    rank = np.empty(len(fam.dictionary), dtype="int64")
    rank[pc.sort_indices(fam.dictionary).to_numpy()] = np.arange(len(fam.dictionary))
    fam_rank = rank[fam.indices.to_numpy(zero_copy_only=False).astype("int64")] \
        if len(fam.dictionary) else np.zeros(len(ids), dtype="int64")
    if np.isnan(pos).any() or fam.indices.null_count or ids.null_count:
        # transactions of accounts missing from the accounts table (or null keys):
        # order by the text itself
        order = pc.sort_indices(afv, sort_keys=[("account_id", "ascending"),
                                                ("family", "ascending")]).to_numpy()
    else:
        order = np.argsort(pos.astype("int64") * max(len(rank), 1) + fam_rank, kind="stable")
    pos = np.where(np.isnan(pos), -1, pos).astype("int64")[order]
    return afv.take(pa.array(order)), pos


def account_value_table(accounts: pa.Table, afv: pa.Table, rows: np.ndarray, as_of: dt.date,
                        measure: str) -> pa.Table:
    """One row per account (prospects included), in account_id order, without tiers.

    ``accounts`` holds account_id and the attribute columns to carry, in account_id
    order; ``afv`` the account x family table and ``rows`` its rows' accounts, as
    :func:`order_family_value` gives them.  Per-account sums run over the account's
    families in family order.  Columns as :func:`growthmap.value.stage.account_value`.
    """
    n = accounts.num_rows
    ok = rows >= 0
    acc = rows[ok]

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(acc, weights=values[ok], minlength=n)

    def count(flags: np.ndarray) -> np.ndarray:
        return np.bincount(acc, weights=flags[ok].astype("float64"), minlength=n) \
            .astype("int64")

    rev, prior, gm = (_f64(afv[c]) for c in ("revenue_t12m", "revenue_prior",
                                              "gross_margin_t12m"))
    lines = _one(afv["lines_t12m"]).to_numpy(zero_copy_only=False).astype("float64")
    products = _one(afv["products_t12m"]).to_numpy(zero_copy_only=False).astype("float64")
    families = count(np.ones(len(rev), dtype=bool))
    bought = families > 0
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, acc, _days(afv["first_purchase"])[ok])
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, acc, _days(afv["last_purchase"])[ok])
    revenue, revenue_prior = total(rev), total(prior)
    gross = np.where(count(~np.isnan(gm)) > 0, total(np.nan_to_num(gm)), np.nan)
    n_lines = total(lines).astype("int64")
    cols: dict[str, pa.Array | pa.ChunkedArray] = {c: accounts[c] for c in accounts.column_names}
    cols["revenue_t12m"] = pa.array(revenue)
    cols["revenue_prior"] = pa.array(revenue_prior)
    cols["gross_margin_t12m"] = pa.array(gross, from_pandas=True)
    cols["families_t12m"] = pa.array(count(rev > 0))
    cols["families_ever"] = pa.array(families)
    cols["products_t12m"] = pa.array(total(products).astype("int64"))
    cols["lines_t12m"] = pa.array(n_lines)
    cols["first_purchase"] = _dates(first, bought)
    cols["last_purchase"] = _dates(last, bought)
    value = np.where(np.isnan(gross), 0.0, gross) if measure == "gross_margin" else revenue
    cols["value"] = pa.array(value)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(revenue_prior > 0, revenue / revenue_prior - 1, np.nan)
    cols["growth"] = pa.array(growth, from_pandas=True)
    customer = n_lines > 0
    cols["is_customer"] = pa.array(customer)
    cols["status"] = pa.array(np.where(customer, "customer", "prospect").astype(object),
                              type=pa.string())
    cols["ever_bought"] = pa.array(bought)
    today = (as_of - _EPOCH).days
    cols["recency_days"] = pa.array(np.where(bought, today - last, 0), mask=~bought)
    cols["tenure_days"] = pa.array(np.where(bought, today - first, 0), mask=~bought)
    return pa.table(cols)


def _dates(days: np.ndarray, valid: np.ndarray) -> pa.Array:
    return pa.array(np.where(valid, days, 0).astype("int32"), mask=~valid).cast(pa.date32())


def _dim_codes(col: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Group codes of a dimension (its text, nulls as ``(none)``) numbered in sorted order."""
    text = pc.fill_null(col if pa.types.is_string(col.type) or pa.types.is_large_string(
        col.type) else pc.cast(col, pa.string()), "(none)").cast(pa.string())
    enc = pc.dictionary_encode(text)
    order = pc.sort_indices(enc.dictionary).to_numpy()
    rank = np.empty(len(order), dtype="int64")
    rank[order] = np.arange(len(order))
    codes = rank[enc.indices.to_numpy(zero_copy_only=False).astype("int64")]
    return codes, enc.dictionary.take(pa.array(order))


def _by_group(codes: np.ndarray, order: np.ndarray, k: int) -> np.ndarray:
    """``order`` regrouped by code, keeping its order within each group (a stable sort
    of small integers, which numpy does as a radix sort)."""
    c = codes[order]
    c = c.astype(np.uint16) if k <= np.iinfo(np.uint16).max else c
    return order[np.argsort(c, kind="stable")]


def concentration_table(av: pa.Table, dims: list[str]) -> pa.Table:
    """ARPA, share, Gini, top-20% share and HHI per group of each dimension (and overall).

    Figures are over customers' value clipped at zero; ``av`` is the account_value
    table in account_id order.  Columns and meaning as
    :func:`growthmap.value.stage.concentration`; rows by dimension, then group.  Customers
    are ranked by value once (ascending and descending, ties by account_id); each
    dimension only regroups those two orders.
    """
    n_all = av.num_rows
    cust = _one(av["is_customer"]).fill_null(False).to_numpy(zero_copy_only=False)
    v_all = np.maximum(_f64(av["value"]), 0.0)
    v = v_all[cust]
    pos = np.arange(n_all)[cust]  # av is in account_id order: position breaks ties
    asc = np.lexsort((pos, v))
    desc = np.lexsort((pos, -v))
    parts = []
    for dim in sorted(["all", *dims]):
        if dim == "all":
            codes, names = np.zeros(n_all, dtype="int64"), pa.array(["all"], pa.string())
        else:
            codes, names = _dim_codes(_one(av[dim]))
        k = len(names)
        n_accounts = np.bincount(codes, minlength=k).astype("int64")
        c_all = codes[cust]
        order = _by_group(c_all, asc, k)  # by group, then value and id ascending
        c, vs = c_all[order], v[order]
        starts = _run_starts(c)
        size = np.diff(np.r_[starts, len(c)])
        first = np.repeat(starts, size)
        within = np.arange(len(c)) - first
        i = within + 1  # rank ascending within the group
        r_row = np.empty(len(v), dtype="int64")  # rank descending, ties by id ascending
        r_row[_by_group(c_all, desc, k)] = within + 1
        r = r_row[order]
        groups = c[starts]
        value = np.add.reduceat(vs, starts) if len(c) else vs
        total = np.repeat(value, size)
        with np.errstate(divide="ignore", invalid="ignore"):
            sq = np.where(total > 0, (vs / total) ** 2, 0.0)
        top = np.where(r <= np.ceil(np.repeat(size, size) * 0.2), vs, 0.0)
        n_cust = np.zeros(k, dtype="int64")
        val, g_ix, g_top, g_hhi = np.zeros(k), np.zeros(k), np.zeros(k), np.zeros(k)
        if len(c):
            n_cust[groups], val[groups] = size, value
            g_ix[groups] = np.add.reduceat(i * vs, starts)
            g_top[groups] = np.add.reduceat(top, starts)
            g_hhi[groups] = np.add.reduceat(sq, starts)
        overall = np.add.reduce(val)
        with np.errstate(divide="ignore", invalid="ignore"):
            arpa = np.where(n_cust > 0, val / np.maximum(n_cust, 1), np.nan)
            share = val / overall if overall > 0 else np.zeros(k)
            gini = np.where(val > 0, 2 * g_ix / (n_cust * val) - (n_cust + 1) / n_cust, np.nan)
            top20_share = np.where(val > 0, g_top / val, np.nan)
        parts.append(pa.table({
            "dimension": pa.array([dim] * k, pa.string()), "group": names,
            "n_accounts": n_accounts, "n_customers": n_cust, "value": val,
            "arpa": pa.array(arpa, from_pandas=True), "share_of_total": share,
            "gini": pa.array(gini, from_pandas=True),
            "top20_share": pa.array(top20_share, from_pandas=True), "hhi": g_hhi}))
    return pa.concat_tables(parts)


def pareto_table(av: pa.Table, points: int = 100) -> pa.Table:
    """The Pareto curve: cumulative share of value held by the top k% of customers."""
    cust = _one(av["is_customer"]).fill_null(False).to_numpy(zero_copy_only=False)
    v = np.maximum(_f64(av["value"]), 0.0)[cust]
    pos = np.flatnonzero(cust)
    order = np.lexsort((pos, -v))
    cum = np.cumsum(v[order])
    n = len(v)
    if not n:
        return pa.table({"point": pa.array([], pa.int64()),
                         "share_of_customers": pa.array([], pa.float64()),
                         "cum_share_of_value": pa.array([], pa.float64())})
    r = np.arange(1, n + 1)
    pct = np.ceil((r * points) / n).astype("int64")
    ends = np.r_[np.flatnonzero(pct[1:] != pct[:-1]), n - 1]
    tot = cum[-1]
    return pa.table({
        "point": pct[ends], "share_of_customers": r[ends] / n,
        "cum_share_of_value": cum[ends] / tot if tot > 0 else np.zeros(len(ends))})
