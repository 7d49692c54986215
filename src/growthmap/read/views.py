"""Aggregate views of a snapshot, computed over the rows a user may see.

Each function takes a :class:`~growthmap.read.access.DataAccess` and starts its SQL from
``account_value AS av`` filtered by the user's scope predicate, so a manager's
concentration figures are those of the manager's territories and a rep's whitespace
is the rep's own.  A view whose table the snapshot lacks returns ``None``; callers show
``da.missing(table)`` instead.  Results are cached per snapshot and scope.

The dashboard, the JSON API, the HTML report, the Excel workbook and the chart
command all read these same functions.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from growthmap.errors import ConfigError, NotFoundError
from growthmap.read.access import DataAccess
from growthmap.read.migration import between

__all__ = [
    "MIGRATION_DIMENSIONS",
    "band_edges",
    "concentration",
    "headline",
    "markets",
    "matrix_cells",
    "matrix_sample",
    "migration",
    "pareto",
    "quota_rows",
    "reps",
    "road_counts",
    "sentences",
    "territories",
    "tier_counts",
    "value_tiers",
    "whitespace_by_family",
]

#: dimension -> (table, column) compared between two snapshots.
MIGRATION_DIMENSIONS = {
    "value_tier": ("account_value", "value_tier"),
    "status": ("account_value", "status"),
    "road": ("potential_account", "road"),
    "matrix_cell": ("potential_account", "matrix_cell"),
    "tier": ("segments", "tier"),
}


def headline(da: DataAccess) -> dict[str, Any]:
    """Counts and totals of the visible book: accounts, value, ARPA, potential, whitespace."""
    def make() -> dict[str, Any]:
        pred, params = da.scope_sql()
        cols = da.available()
        pot = ("sum(pa.potential) AS potential, sum(pa.whitespace) AS whitespace, "
               "sum(pa.current) AS current_in_potential"
               if {"potential", "whitespace"} <= set(cols) and "current" in da.columns(
                   "potential_account") else
               "NULL::DOUBLE AS potential, NULL::DOUBLE AS whitespace, "
               "NULL::DOUBLE AS current_in_potential")
        join = da._joins({"pa"}) if "potential" in cols else ""
        row = da.sql(
            f"SELECT count(*) AS accounts, count(*) FILTER (av.is_customer) AS customers, "
            f"coalesce(sum(av.value), 0) AS value, "
            f"sum(av.value) FILTER (av.is_customer) / nullif(count(*) FILTER (av.is_customer), 0)"
            f" AS arpa, {pot} FROM {da.schema}.account_value av {join} WHERE {pred}",
            params).iloc[0].to_dict()
        out = {k: (None if pd.isna(v) else (int(v) if k in ("accounts", "customers") else
                                             float(v))) for k, v in row.items()}
        out["prospects"] = out["accounts"] - out["customers"]
        cur = out.pop("current_in_potential")
        out["share_of_wallet"] = (cur / out["potential"]
                                  if out.get("potential") and cur is not None else None)
        out.update(concentration(da))
        return out
    return da.cached("headline", make)


def concentration(da: DataAccess) -> dict[str, Any]:
    """Gini, top-20% share and HHI of customers' value (clipped at zero), as the value stage."""
    pred, params = da.scope_sql()
    row = da.con.execute(
        f"WITH c AS (SELECT greatest(av.value, 0) AS v, av.account_id FROM "
        f"{da.schema}.account_value av WHERE av.is_customer AND {pred}), "
        "r AS (SELECT v, row_number() OVER (ORDER BY v, account_id) AS i, "
        "row_number() OVER (ORDER BY v DESC, account_id) AS d, count(*) OVER () AS n, "
        "sum(v) OVER () AS s FROM c) "
        "SELECT CASE WHEN s > 0 THEN 2 * sum(i * v) / (n * s) - (n + 1) / n END, "
        "CASE WHEN s > 0 THEN sum(v) FILTER (d <= ceil(n * 0.2)) / s END, "
        "CASE WHEN s > 0 THEN sum((v / s) ^ 2) ELSE 0 END FROM r GROUP BY n, s",
        params).fetchone()
    gini, top20, hhi = row if row else (None, None, None)
    return {"gini": gini, "top20_share": top20, "hhi": hhi}


def pareto(da: DataAccess, points: int = 100) -> pd.DataFrame:
    """Cumulative share of value held by the top k% of visible customers (k = 1..points)."""
    def make() -> pd.DataFrame:
        pred, params = da.scope_sql()
        return da.sql(
            f"WITH c AS (SELECT greatest(av.value, 0) AS v, av.account_id FROM "
            f"{da.schema}.account_value av WHERE av.is_customer AND {pred}), "
            "r AS (SELECT row_number() OVER (ORDER BY v DESC, account_id) AS r, "
            "sum(v) OVER (ORDER BY v DESC, account_id ROWS UNBOUNDED PRECEDING) AS cum, "
            "count(*) OVER () AS n, sum(v) OVER () AS tot FROM c), "
            f"p AS (SELECT ceil(r * {int(points)} / n)::BIGINT AS point, max(r) AS k, "
            "max(cum) AS cum, max(n) AS n, max(tot) AS tot FROM r GROUP BY 1) "
            "SELECT point, k / n AS share_of_customers, "
            "CASE WHEN tot > 0 THEN cum / tot ELSE 0 END AS cum_share_of_value "
            "FROM p ORDER BY point", params)
    return da.cached("pareto", make, points)


def value_tiers(da: DataAccess) -> pd.DataFrame:
    """Accounts, customers and value per A/B/C/D value tier."""
    def make() -> pd.DataFrame:
        pred, params = da.scope_sql()
        return da.sql(
            f"SELECT av.value_tier AS tier, count(*) AS accounts, "
            f"count(*) FILTER (av.is_customer) AS customers, sum(av.value) AS value, "
            f"sum(av.value) / nullif(sum(sum(av.value)) OVER (), 0) AS share "
            f"FROM {da.schema}.account_value av WHERE {pred} GROUP BY 1 ORDER BY 1", params)
    return da.cached("value_tiers", make)


def _grouped(da: DataAccess, table: str, column: str, name: str) -> pd.DataFrame | None:
    if column not in da.columns(table):
        return None

    def make() -> pd.DataFrame:
        pred, params = da.scope_sql()
        alias = {"potential_account": "pa", "segments": "sg"}[table]
        ws = ("sum(pa.whitespace)" if "whitespace" in da.columns("potential_account")
              else "NULL::DOUBLE")
        joins = da._joins({alias, "pa"})
        return da.sql(
            f"SELECT coalesce({alias}.{column}::VARCHAR, '(none)') AS {name}, "
            f"count(*) AS accounts, count(*) FILTER (av.is_customer) AS customers, "
            f"sum(av.value) AS value, {ws} AS whitespace FROM {da.schema}.account_value av "
            f"{joins} WHERE {pred} GROUP BY 1 ORDER BY 1", params)
    return da.cached(f"grouped:{table}.{column}", make)


def road_counts(da: DataAccess) -> pd.DataFrame | None:
    """Accounts, value and whitespace per ROAD quadrant (None before the potential stage)."""
    return _grouped(da, "potential_account", "road", "road")


def tier_counts(da: DataAccess) -> pd.DataFrame | None:
    """Accounts, value and whitespace per tier 1a/1b/2/3 (None before the segments stage)."""
    return _grouped(da, "segments", "tier", "tier")


def _band_order(da: DataAccess, column: str, measure: str) -> list[str]:
    pred, params = da.scope_sql()
    rows = da.con.execute(
        f"SELECT pa.{column}::VARCHAR, min(pa.{measure}) FROM {da.schema}.account_value av "
        f"JOIN {da.schema}.potential_account pa ON pa.account_id = av.account_id "
        f"WHERE {pred} GROUP BY 1 ORDER BY 2, 1", params).fetchall()
    return [r[0] for r in rows if r[0] is not None]


def matrix_cells(da: DataAccess) -> pd.DataFrame | None:
    """Value band x potential band: accounts, customers, current, potential, whitespace."""
    cols = set(da.columns("potential_account"))
    if not {"value_band", "potential_band", "current", "potential"} <= cols:
        return None

    def make() -> pd.DataFrame:
        pred, params = da.scope_sql()
        ws = "sum(pa.whitespace)" if "whitespace" in cols else "NULL::DOUBLE"
        df = da.sql(
            f"SELECT pa.value_band::VARCHAR AS value_band, "
            f"pa.potential_band::VARCHAR AS potential_band, count(*) AS accounts, "
            f"count(*) FILTER (av.is_customer) AS customers, sum(pa.current) AS current, "
            f"sum(pa.potential) AS potential, {ws} AS whitespace "
            f"FROM {da.schema}.account_value av JOIN {da.schema}.potential_account pa "
            f"ON pa.account_id = av.account_id WHERE {pred} GROUP BY 1, 2", params)
        v_order = _band_order(da, "value_band", "current")
        p_order = _band_order(da, "potential_band", "potential")
        df["value_order"] = df["value_band"].map({b: i for i, b in enumerate(v_order)})
        df["potential_order"] = df["potential_band"].map({b: i for i, b in enumerate(p_order)})
        return df.sort_values(["value_order", "potential_order"]).reset_index(drop=True)
    return da.cached("matrix_cells", make)


def matrix_sample(da: DataAccess, max_points: int | None = None) -> pd.DataFrame | None:
    """Accounts for the value x potential scatter: the largest by potential plus a
    deterministic hash sample of the rest, at most ``max_points`` in all."""
    cols = set(da.columns("potential_account"))
    if not {"current", "potential"} <= cols:
        return None
    n = int(max_points or da.scatter_max_points)

    def make() -> pd.DataFrame:
        pred, params = da.scope_sql()
        extra = ", ".join(f"pa.{c}::VARCHAR AS {c}" for c in ("road", "matrix_cell")
                          if c in cols)
        extra = (", " + extra) if extra else ""
        name = ", av.name" if "name" in da.columns("account_value") else ""
        top = max(1, n // 10)
        return da.sql(
            f"WITH s AS (SELECT av.account_id{name}, pa.current, pa.potential{extra}, "
            f"row_number() OVER (ORDER BY pa.potential DESC NULLS LAST, av.account_id) AS rk, "
            f"hash(av.account_id) AS h FROM {da.schema}.account_value av "
            f"JOIN {da.schema}.potential_account pa ON pa.account_id = av.account_id "
            f"WHERE {pred}) "
            f"SELECT * EXCLUDE (rk, h) FROM s ORDER BY (rk <= {top}) DESC, h LIMIT {n}",
            params)
    return da.cached("matrix_sample", make, n)


def band_edges(da: DataAccess) -> dict[str, list[float]]:
    """Where one band starts (its smallest member), for the scatter's guide lines."""
    cols = set(da.columns("potential_account"))
    out: dict[str, list[float]] = {"current": [], "potential": []}
    if not {"value_band", "potential_band", "current", "potential"} <= cols:
        return out
    pred, params = da.scope_sql()
    for band, measure in (("value_band", "current"), ("potential_band", "potential")):
        mins = [r[1] for r in da.con.execute(
            f"SELECT pa.{band}, min(pa.{measure}) FROM {da.schema}.account_value av "
            f"JOIN {da.schema}.potential_account pa ON pa.account_id = av.account_id "
            f"WHERE {pred} GROUP BY 1 ORDER BY 2", params).fetchall()]
        out[measure] = [float(m) for m in mins[1:] if m is not None and m > 0]
    return out


def whitespace_by_family(da: DataAccess) -> pd.DataFrame | None:
    """Current, potential and whitespace (open / competitor-held) per product family."""
    cols = set(da.columns("potential"))
    if not {"family", "potential"} <= cols:
        return None

    def make() -> pd.DataFrame:
        pred, params = da.scope_sql()
        agg = ", ".join(f"sum(p.{c}) AS {c}" for c in (
            "current", "potential", "whitespace", "whitespace_open", "whitespace_competitor")
            if c in cols)
        return da.sql(
            f"SELECT p.family, count(DISTINCT p.account_id) AS accounts, {agg} "
            f"FROM {da.schema}.potential p JOIN {da.schema}.account_value av "
            f"ON av.account_id = p.account_id WHERE {pred} GROUP BY 1 "
            f"ORDER BY {'whitespace' if 'whitespace' in cols else 'potential'} DESC, 1", params)
    return da.cached("whitespace_by_family", make)


def _rollup(da: DataAccess, key: str) -> pd.DataFrame:
    """Per ``key`` (territory_id / owner_rep_id) of the visible accounts."""
    pred, params = da.scope_sql()
    cols = da.available()
    pot = ""
    if {"potential", "whitespace"} <= set(cols) and "current" in da.columns("potential_account"):
        pot = (", sum(pa.potential) AS potential, sum(pa.whitespace) AS whitespace, "
               "sum(pa.current) / nullif(sum(pa.potential), 0) AS share_of_wallet")
    tiers = ""
    if "tier" in cols:
        tiers = "".join(f", count(*) FILTER (sg.tier = '{t}') AS tier_{t}"
                        for t in ("1a", "1b", "2", "3"))
    joins = da._joins({"pa", "sg"})
    return da.sql(
        f"SELECT av.{key} AS {key}, count(*) AS accounts, "
        f"count(*) FILTER (av.is_customer) AS customers, "
        f"count(*) FILTER (NOT av.is_customer) AS prospects, sum(av.value) AS current"
        f"{pot}{tiers} FROM {da.schema}.account_value av {joins} WHERE {pred} "
        f"GROUP BY 1 ORDER BY current DESC NULLS LAST, 1", params)


def territories(da: DataAccess) -> pd.DataFrame:
    """Per territory: customers, prospects, current, potential, whitespace, tiers."""
    if "territory_id" not in da.columns("account_value"):
        return pd.DataFrame(columns=["territory_id", "accounts"])

    def make() -> pd.DataFrame:
        df = _rollup(da, "territory_id")
        tcols = da.columns("territories", "main")
        if tcols:
            names = [c for c in ("name", "region", "parent_id") if c in tcols]
            if names:
                t = da.sql(f"SELECT territory_id::VARCHAR AS territory_id, "
                           f"{', '.join(names)} FROM main.territories")
                df = df.merge(t.rename(columns={"name": "territory_name"}),
                              on="territory_id", how="left")
        return df
    return da.cached("territories", make)


def reps(da: DataAccess) -> pd.DataFrame:
    """Per rep: book size, current value, potential, whitespace, and quota attainment
    when the plan stage produced quotas."""
    if "owner_rep_id" not in da.columns("account_value"):
        return pd.DataFrame(columns=["rep_id", "accounts"])

    def make() -> pd.DataFrame:
        df = _rollup(da, "owner_rep_id").rename(columns={"owner_rep_id": "rep_id"})
        rcols = da.columns("reps", "main")
        keep = [c for c in ("name", "role", "territory_id") if c in rcols]
        if keep:
            r = da.sql(f"SELECT rep_id::VARCHAR AS rep_id, {', '.join(keep)} FROM main.reps")
            df = df.merge(r.rename(columns={"name": "rep_name", "territory_id": "rep_territory"}),
                          on="rep_id", how="left")
        q = _quotas(da)
        if q is not None:
            df = df.merge(_attained(da, q), on="rep_id", how="left")
        return df
    return da.cached("reps", make)


def quota_rows(da: DataAccess) -> pd.DataFrame | None:
    """The latest saved quota plan (``gm.plan_quotas``), rows the user may see only:
    rep rows of visible reps and territory rows of visible territories."""
    cols = da.columns("plan_quotas", "gm")
    if not {"quota_set", "level", "key", "quota_cents"} <= set(cols):
        return None
    df = da.sql("SELECT * FROM gm.plan_quotas WHERE quota_set = "
                "(SELECT max(quota_set) FROM gm.plan_quotas) ORDER BY level, key, family")
    df["quota"] = df["quota_cents"] / 100.0
    if da.user.sees_everything:
        return df
    reps_ = set(da.visible_reps() or [])
    pred, params = da.scope_sql()
    terr = {r[0] for r in da.con.execute(
        f"SELECT DISTINCT av.territory_id FROM {da.schema}.account_value av WHERE {pred}",
        params).fetchall()} if "territory_id" in da.columns("account_value") else set()
    if da.user.role == "manager" and da.user.territory_id:
        terr |= set(da.territory_subtree(da.user.territory_id))
    if da.user.role == "rep":
        terr = set()  # a territory quota is a team's figure, not the rep's
    keep = ((df["level"] == "rep") & df["key"].isin(reps_)) | (
        (df["level"] == "territory") & df["key"].isin(terr))
    return df[keep].reset_index(drop=True)


def _quotas(da: DataAccess) -> pd.DataFrame | None:
    """Rep quotas (total, not per family) of the latest saved quota plan."""
    q = quota_rows(da)
    if q is None:
        return None
    q = q[(q["level"] == "rep") & q["family"].isna()]
    if q.empty:
        return None
    first = q.iloc[0]
    out = q.groupby("key", as_index=False)["quota"].sum().rename(columns={"key": "rep_id"})
    out.attrs["period"] = (first["as_of"], int(first["period_months"]))
    return out


def _attained(da: DataAccess, q: pd.DataFrame) -> pd.DataFrame:
    """Quota, revenue booked in the quota period and attainment per rep: the scorecard's
    definition (:mod:`growthmap.plan.attainment`), credited to today's owner."""
    from growthmap.plan.attainment import QuotaPeriod, measure

    as_of = pd.Timestamp(da.snapshot_info()["as_of"]).date()
    period = QuotaPeriod.of(*q.attrs["period"], as_of)
    pred, params = da.scope_sql()
    owner = da.sql(f"SELECT account_id::VARCHAR AS account_id, owner_rep_id::VARCHAR AS rep "
                   f"FROM {da.schema}.account_value av WHERE {pred} "
                   "AND owner_rep_id IS NOT NULL", params)
    out = measure(da.con, q.set_index("rep_id")["quota"], owner.set_index("account_id").rep,
                  period)
    return out.rename(columns={"key": "rep_id", "actual": "quota_actual"})[
        ["rep_id", "quota", "quota_actual", "attainment", "pace"]]


def markets(da: DataAccess) -> pd.DataFrame | None:
    """Addressable / obtainable / active market (company-wide, so admins and ops only)."""
    if not da.user.sees_everything or not da.has("markets"):
        return None
    return da.sql(f"SELECT * FROM {da.schema}.markets")


def migration(da: DataAccess, dimension: str = "value_tier",
              from_snapshot: int | str = "previous") -> pd.DataFrame:
    """How visible accounts moved between two snapshots along ``dimension``: counts by
    (class before, class now), from the one migration of ``read/migration.py``, which
    scopes each side on its own snapshot (``(moved in)`` / ``(moved out)``)."""
    if dimension not in MIGRATION_DIMENSIONS:
        raise ConfigError(f"unknown migration dimension {dimension!r}",
                          hint=f"use one of: {', '.join(MIGRATION_DIMENSIONS)}")
    table, col = MIGRATION_DIMENSIONS[dimension]
    earlier = DataAccess(da.con, da.user, from_snapshot, catalog=da.catalog)
    if earlier.snapshot_id == da.snapshot_id:
        raise NotFoundError("both sides of the migration are the same snapshot",
                            hint="compare with an earlier snapshot (--from previous)")
    for side in (da, earlier):
        if col not in side.columns(table):
            raise NotFoundError(
                f"snapshot {side.snapshot_id} has no {dimension}: " + side.missing(table),
                hint="compare along value_tier, or run the stage in both snapshots")

    def make() -> pd.DataFrame:
        counts = between(da, earlier, col, (table, table)).counts
        long = counts.rename_axis(index="from_class", columns="to_class").stack()
        long = long[long > 0].rename("accounts").reset_index()
        return long.sort_values(["from_class", "to_class"]).reset_index(drop=True)

    return da.cached("migration", make, dimension, earlier.snapshot_id)


def _money(x: float | None) -> str:
    if x is None:
        return "-"
    for div, unit in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:,.1f}{unit}"
    return f"{x:,.0f}"


def sentences(da: DataAccess, currency: str = "") -> list[str]:
    """Headline findings in plain sentences, from the visible book."""
    h = headline(da)
    cur = f" {currency}" if currency else ""
    out = [f"{h['customers']:,} of {h['accounts']:,} accounts bought in the last twelve "
           f"months, for {_money(h['value'])}{cur} of current value."]
    if h.get("top20_share") is not None:
        out.append(f"The top 20% of customers bring {h['top20_share']:.0%} of that value "
                   f"(Gini {h['gini']:.2f}): losing a few large accounts would hurt.")
    if h.get("potential"):
        sow = h.get("share_of_wallet")
        out.append(f"Estimated potential is {_money(h['potential'])}{cur}, leaving "
                   f"{_money(h['whitespace'])}{cur} of whitespace"
                   + (f"; we hold about {sow:.0%} of our accounts' wallets." if sow else "."))
    fam = whitespace_by_family(da)
    if fam is not None and len(fam) and "whitespace" in fam:
        top = fam.iloc[0]
        out.append(f"The largest whitespace is in {top['family']} "
                   f"({_money(top['whitespace'])}{cur}).")
    road = road_counts(da)
    if road is not None and len(road):
        develop = road[road["road"].str.lower() == "develop"]
        acquire = road[road["road"].str.lower() == "acquire"]
        if len(develop):
            out.append(f"{int(develop['accounts'].iloc[0]):,} accounts are worth developing: "
                       f"valuable today with room to grow.")
        if len(acquire) and acquire["whitespace"].notna().all():
            out.append(f"{int(acquire['accounts'].iloc[0]):,} low-value accounts and prospects "
                       f"hold {_money(float(acquire['whitespace'].iloc[0]))}{cur} of whitespace "
                       f"to acquire.")
    return out
