"""The data-access layer: every read of a snapshot goes through a user's scope.

Roles decide which accounts a user may see, and the rule is enforced here, once, for
the dashboard, the JSON API, the exports and the charts alike:

* ``admin`` / ``ops`` — every account;
* ``manager`` — accounts whose ``territory_id`` lies in the subtree of the manager's
  territory (``territories.parent_id`` links children to parents);
* ``rep`` — accounts whose ``owner_rep_id`` is the rep's own id.

Each query starts from ``snap_<n>.account_value AS av`` filtered by the scope predicate
(:meth:`DataAccess.scope_sql`) and joins the other outputs on ``account_id``; an account
outside the scope is *not found* (HTTP 404), never an empty page.  Figures are computed
from the scoped rows, so a rep's overview only sums the rep's book.  Identifiers in the
SQL come from whitelists; every value a user typed is a bound parameter.

Snapshots never change, so aggregate views are cached per (snapshot, scope).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from growthmap.contract.outputs import OUTPUTS
from growthmap.errors import ConfigError, NotFoundError, WorkspaceError
from growthmap.read._store import SEARCH_TABLE, Catalog, Page, ensure_indexes, records
from growthmap.read.scope import scope_predicate
from growthmap.workspace import resolve_snapshot

__all__ = [
    "ROLES",
    "SEARCH_TABLE",
    "SORTABLE",
    "SYSTEM",
    "AccountQuery",
    "Catalog",
    "DataAccess",
    "Page",
    "Principal",
    "ensure_indexes",
    "records",
]

ROLES = ("admin", "ops", "manager", "rep")

#: account_value columns offered to views (those present in the snapshot are used).
AV_COLUMNS = (
    "account_id", "name", "industry", "country", "region", "city", "territory_id",
    "owner_rep_id", "status", "is_customer", "value", "revenue_t12m", "revenue_prior",
    "growth", "gross_margin_t12m", "families_t12m", "value_tier", "value_rank", "value_share",
    "first_purchase", "last_purchase", "recency_days", "employees", "annual_revenue",
    "group_account_id", "lat", "lon",
)
#: other per-account outputs: table -> (alias, {column in table: column in views}).
JOINED: dict[str, tuple[str, dict[str, str]]] = {
    "potential_account": ("pa", {
        "potential": "potential", "low": "potential_low", "high": "potential_high",
        "whitespace": "whitespace", "share_of_wallet": "share_of_wallet",
        "value_band": "value_band", "potential_band": "potential_band",
        "matrix_cell": "matrix_cell", "road": "road", "low_confidence": "low_confidence"}),
    "segments": ("sg", {
        "tier": "tier", "risk_readiness": "risk_readiness", "care_model": "care_model",
        "coverage_role": "coverage_role", "touches_per_year": "touches_per_year",
        "hours_per_touch": "hours_per_touch", "next_best_offer": "next_best_offer",
        "nbo_score": "nbo_score", "reasons": "reasons"}),
    "propensity": ("pr", {"ptb": "ptb", "ptb_decile": "ptb_decile"}),
    "icp": ("ic", {"icp_fit": "icp_fit", "is_best": "is_best"}),
    "risk": ("rk", {"risk": "risk"}),
}
#: output -> the stage a user must run to get it (for "not computed" messages), from
#: the output contract, which is where every output says who provides it.
PRODUCED_BY = {o.name: o.stage for o in OUTPUTS.values()}
SORTABLE = ("value", "revenue_t12m", "growth", "potential", "whitespace", "share_of_wallet",
            "ptb", "icp_fit", "risk", "nbo_score", "name", "account_id", "employees",
            "recency_days")
FILTERABLE = ("status", "value_tier", "road", "tier", "matrix_cell", "territory_id",
              "owner_rep_id", "industry", "region", "country", "care_model")


@dataclass(frozen=True)
class Principal:
    """Who is asking: the user as the access layer sees it."""

    username: str
    role: str
    territory_id: str | None = None
    rep_id: str | None = None

    @property
    def sees_everything(self) -> bool:
        return self.role in ("admin", "ops")


#: The CLI's own principal: the report and exports from the command line see everything.
SYSTEM = Principal("system", "admin")


class AccountQuery(BaseModel):
    """Search, filter, sort and page an account list; every field is validated.

    Unknown keys are ignored rather than refused because the same query string also
    carries other parameters (``snapshot``).
    """

    model_config = ConfigDict(extra="ignore")

    q: str | None = Field(None, max_length=100,
                          description="Text in the account name, or an exact account id.")
    status: Literal["customer", "prospect"] | None = Field(None, description="Status.")
    value_tier: Literal["A", "B", "C", "D"] | None = Field(None, description="Value tier.")
    road: str | None = Field(None, max_length=40, description="ROAD quadrant.")
    tier: str | None = Field(None, max_length=10, description="Tier 1a/1b/2/3.")
    matrix_cell: str | None = Field(None, max_length=40, description="Matrix cell.")
    territory_id: str | None = Field(None, max_length=100, description="Territory.")
    owner_rep_id: str | None = Field(None, max_length=100, description="Owning rep.")
    industry: str | None = Field(None, max_length=100, description="Industry.")
    region: str | None = Field(None, max_length=100, description="Region.")
    country: str | None = Field(None, max_length=100, description="Country.")
    care_model: str | None = Field(None, max_length=100, description="Care model.")
    sort: Literal[SORTABLE] = Field("value", description="Column to sort by.")  # type: ignore[valid-type]
    order: Literal["asc", "desc"] = Field("desc", description="Sort direction.")
    page: int = Field(1, ge=1, le=1_000_000, description="Page number, from 1.")
    page_size: int | None = Field(None, ge=1, le=10_000, description="Rows per page.")


class DataAccess:
    """Scoped, read-mostly access to one snapshot for one user.

    ``con`` is a DuckDB connection or cursor used by one thread; ``catalog`` may be
    shared between requests (the web app keeps one).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, user: Principal,
                 snapshot: int | str | None = "latest", *, catalog: Catalog | None = None,
                 scatter_max_points: int = 4000) -> None:
        if user.role not in ROLES:
            raise ConfigError(f"user {user.username!r} has unknown role {user.role!r}",
                              hint=f"give the user one of: {', '.join(ROLES)}")
        self.con = con
        self.user = user
        self.catalog = catalog or Catalog()
        self.scatter_max_points = scatter_max_points
        self._ref = snapshot
        self.snapshot_id = self._resolve(snapshot)
        self.schema = f"snap_{self.snapshot_id}"
        if not self.has("account_value"):
            raise WorkspaceError(f"snapshot {self.snapshot_id} has no account_value table",
                                 hint="run `growthmap run` to create a complete snapshot")
        self._scope: tuple[str, list[Any]] | None = None

    # -- plumbing ----------------------------------------------------------------------
    def _resolve(self, ref: int | str | None) -> int:
        return resolve_snapshot(self.con, ref)

    def sql(self, query: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Run a query and return a pandas frame."""
        return self.con.execute(query, params or []).fetch_arrow_table().to_pandas()

    def columns(self, table: str, schema: str | None = None) -> tuple[str, ...]:
        return self.catalog.columns(self.con, schema or self.schema, table)

    def columns_of(self, schema: str, table: str) -> tuple[str, ...]:
        """Columns of ``schema.table`` (the order the card's reader asks in)."""
        return self.catalog.columns(self.con, schema, table)

    def has(self, table: str, schema: str | None = None) -> bool:
        """Whether the snapshot (or ``schema``) holds ``table``."""
        return bool(self.columns(table, schema))

    def missing(self, table: str) -> str:
        """The plain sentence shown where a view's table is absent."""
        stage = PRODUCED_BY.get(table, table)
        return (f"Not computed in snapshot {self.snapshot_id}: run `growthmap run` with the "
                f"{stage} stage (and the data it needs) to see this.")

    def cached(self, name: str, make: Callable[[], Any], *extra: Hashable) -> Any:
        """A view computed once per snapshot, scope and arguments."""
        pred, params = self.scope_sql()
        key = (name, self.snapshot_id, pred, json.dumps(params, default=str), *extra)
        return self.catalog.cache.get(key, make)

    def snapshot_info(self) -> dict[str, Any]:
        """This snapshot's row of gm.snapshots, its JSON fields parsed (cached: a
        snapshot's row never changes once written)."""
        return dict(self.catalog.cache.get(("snapshot_info", self.snapshot_id), self._info))

    def _info(self) -> dict[str, Any]:
        cur = self.con.execute("SELECT * FROM gm.snapshots WHERE snapshot_id = ?",
                               [self.snapshot_id])
        cols = [d[0] for d in cur.description]
        info = dict(zip(cols, cur.fetchone(), strict=True))
        for k in ("evaluations", "notes", "tables", "config_json"):
            with contextlib.suppress(ValueError):
                info[k] = json.loads(info.get(k) or "null")
        return info

    def snapshot_dates(self) -> list[tuple[int, Any]]:
        """(snapshot id, as-of date) of every snapshot, oldest first."""
        return [(r[0], r[1]) for r in self.con.execute(
            "SELECT snapshot_id, as_of FROM gm.snapshots ORDER BY snapshot_id").fetchall()]

    def snapshots(self) -> pd.DataFrame:
        return self.sql("SELECT snapshot_id, as_of, created_at, label FROM gm.snapshots "
                        "ORDER BY snapshot_id")

    # -- scope -------------------------------------------------------------------------
    def territory_subtree(self, root: str) -> list[str]:
        """``root`` and every territory below it through ``territories.parent_id``."""
        if not self.has("territories", "main") or "parent_id" not in self.columns(
                "territories", "main"):
            return [root]
        rows = self.con.execute(
            "WITH RECURSIVE sub(t) AS (SELECT ?::VARCHAR UNION "
            "SELECT tr.territory_id::VARCHAR FROM main.territories tr JOIN sub "
            "ON tr.parent_id::VARCHAR = sub.t) SELECT t FROM sub ORDER BY t", [root]).fetchall()
        return [r[0] for r in rows]

    def scope_sql(self, alias: str = "av") -> tuple[str, list[Any]]:
        """The predicate (over ``account_value AS alias``) of what this user may see.

        This is the one scope rule: it is decided on the snapshot being read (a rep's
        book in snapshot 3 is the accounts ``snap_3.account_value`` gives the rep), and
        every route, export, chart and the account card's history go through it.
        """
        if self._scope is None:
            self._scope = scope_predicate(self, self.user, self.schema)
        pred, params = self._scope
        return pred.format(a=alias), list(params)

    def for_snapshot(self, snapshot: int | str | None) -> DataAccess:
        """The same user's access to another snapshot (sharing connection and catalog)."""
        if snapshot == self.snapshot_id or (snapshot in (None, "", "latest")
                                            and self._ref in (None, "", "latest")):
            return self
        return DataAccess(self.con, self.user, snapshot, catalog=self.catalog,
                          scatter_max_points=self.scatter_max_points)

    def in_scope(self, account_id: str) -> bool:
        """Whether the account is in this snapshot and in this user's book there."""
        pred, params = self.scope_sql()
        row = self.con.execute(
            f"SELECT count(*) FROM {self.schema}.account_value av "
            f"WHERE av.account_id = ? AND {pred}", [account_id, *params]).fetchone()
        return bool(row and row[0])

    def current_book(self) -> DataAccess:
        """Access to the latest snapshot: today's book, where feedback is written."""
        return self.for_snapshot("latest")

    def _visible_mask(self, df: pd.DataFrame) -> pd.Series:
        """The scope rule of :meth:`scope_sql`, applied to fetched rows in Python."""
        pred, params = self.scope_sql()
        if pred == "TRUE":
            return pd.Series(True, index=df.index)
        if self.user.role == "manager" and pred != "FALSE":
            return df["territory_id"].isin(params)
        if self.user.role == "rep" and pred != "FALSE":
            return df["owner_rep_id"] == params[0]
        return pd.Series(False, index=df.index)

    def visible_reps(self) -> list[str] | None:
        """Rep ids this user may see (``None`` = all)."""
        if self.user.sees_everything:
            return None
        if self.user.role == "rep":
            return [self.user.rep_id] if self.user.rep_id else []
        pred, params = self.scope_sql()
        reps = {r[0] for r in self.con.execute(
            f"SELECT DISTINCT owner_rep_id FROM {self.schema}.account_value av WHERE {pred} "
            "AND owner_rep_id IS NOT NULL", params).fetchall()}
        if self.has("reps", "main") and "territory_id" in self.columns("reps", "main"):
            terr = self.territory_subtree(self.user.territory_id or "")
            reps |= {r[0] for r in self.con.execute(
                "SELECT rep_id FROM main.reps WHERE territory_id IN (SELECT unnest(?::VARCHAR[]))",
                [terr]).fetchall()}
        return sorted(reps)

    def require_account(self, account_id: str) -> None:
        """Raise *not found* unless the account exists and this user may see it."""
        if not self.in_scope(account_id):
            raise NotFoundError(f"no account {account_id!r}",
                                hint="check the id; you can only open accounts in your book")

    def require_rep(self, rep_id: str) -> None:
        reps = self.visible_reps()
        if reps is not None and rep_id not in reps:
            raise NotFoundError(f"no rep {rep_id!r}", hint="check the rep id")
        if reps is None:
            known = self.con.execute(
                f"SELECT count(*) FROM {self.schema}.account_value WHERE owner_rep_id = ?",
                [rep_id]).fetchone()[0]
            if not known and not (self.has("reps", "main") and self.con.execute(
                    "SELECT count(*) FROM main.reps WHERE rep_id = ?", [rep_id]).fetchone()[0]):
                raise NotFoundError(f"no rep {rep_id!r}", hint="check the rep id")

    # -- the wide account frame ----------------------------------------------------------
    def available(self) -> dict[str, str]:
        """view column -> SQL expression, for every column this snapshot can offer."""
        av_cols = set(self.columns("account_value"))
        out = {c: f"av.{c}" for c in AV_COLUMNS if c in av_cols}
        for table, (alias, cols) in JOINED.items():
            have = set(self.columns(table))
            for src, dst in cols.items():
                if src in have and dst not in out:
                    out[dst] = f"{alias}.{src}"
        return out

    def _joins(self, needed: set[str], only: str = "") -> str:
        """LEFT JOINs for the aliases that ``needed`` expressions use.

        ``only`` (a SQL set of account ids) narrows each joined table before the join,
        so fetching a page joins a few rows instead of hashing whole tables.
        """
        parts = []
        for table, (alias, _) in JOINED.items():
            if alias in needed and self.has(table):
                src = (f"(SELECT * FROM {self.schema}.{table} WHERE account_id IN {only})"
                       if only else f"{self.schema}.{table}")
                parts.append(f"LEFT JOIN {src} {alias} ON {alias}.account_id = av.account_id")
        return " ".join(parts)

    def _where(self, query: AccountQuery, cols: dict[str, str]) -> tuple[str, list[Any], set[str]]:
        pred, params = self.scope_sql()
        clauses, aliases = [pred], set()
        for f in FILTERABLE:
            value = getattr(query, f)
            if value is None or value == "":
                continue
            if f not in cols:
                raise ConfigError(f"cannot filter by {f}: " + self._why_absent(f),
                                  hint="drop the filter or run the stage that computes it")
            expr = cols[f]
            aliases.add(expr.split(".")[0])
            clauses.append(f"{expr}::VARCHAR = ?")
            params.append(value)
        if query.q:
            text = query.q.strip()
            if "name" in cols and self.has(SEARCH_TABLE):  # lower-cased once, when indexed
                # one IN over a UNION (not "id = ? OR id IN ...", which DuckDB cannot run
                # as a semi-join: measured 2.6x slower at a million accounts)
                clauses.append(f"av.account_id IN (SELECT s.account_id FROM {self.schema}."
                               f"{SEARCH_TABLE} s WHERE contains(s.name_lc, lower(?)) "
                               "UNION ALL SELECT ?::VARCHAR)")
                params += [text, text]
            elif "name" in cols:  # a plain substring test: no LIKE wildcards to escape
                clauses.append("(av.account_id = ? OR contains(lower(av.name), lower(?)))")
                params += [text, text]
            else:
                clauses.append("av.account_id = ?")
                params.append(text)
        return " AND ".join(clauses), params, aliases

    def _why_absent(self, column: str) -> str:
        for table, (_, cols) in JOINED.items():
            if column in cols.values():
                return self.missing(table)
        return f"the snapshot has no {column} column"

    def accounts(self, query: AccountQuery, *, page_size: int = 50,
                 max_page_size: int = 500) -> Page:
        """One page of the accounts this user may see, filtered, searched and sorted.

        The page's ids are found with only the joins the filter and sort need; the
        other columns are then fetched for those ids alone, which keeps a page of a
        million-account snapshot fast.
        """
        cols = self.available()
        size = min(query.page_size or page_size, max_page_size)
        if query.sort not in cols:
            raise ConfigError(f"cannot sort by {query.sort}: " + self._why_absent(query.sort),
                              hint="sort by value, or run the stage that computes it")
        where, params, aliases = self._where(query, cols)
        sort_expr = cols[query.sort]
        sort_alias = sort_expr.split(".")[0]
        direction = "DESC" if query.order == "desc" else "ASC"
        # LIMIT / OFFSET as literals (validated ints): DuckDB's top-N needs constants
        limit, offset = int(size), int((query.page - 1) * size)
        if query.sort == "value" and "value_rank" in cols:
            # the value tiers' own ranking (value desc, then id): an int sorts fast, and
            # with nothing filtered a page is just a range of ranks
            sort_expr, direction = "av.value_rank", ("ASC" if direction == "DESC" else "DESC")
            if where.strip() == "TRUE":
                return self._rank_page(direction, limit, offset, query.page)
        if sort_alias != "av" and aliases <= {sort_alias} and not query.q and \
                self.scope_sql()[0] == "TRUE":
            total, ids = self._page_on(sort_alias, where, params, sort_expr, direction,
                                       limit, offset)
            return Page(self.rows_for(ids), total, query.page, size)
        aliases.add(sort_alias)
        joins = self._joins(aliases)
        if query.q:  # few rows match: find them once, then count them and take the page
            total, ids = self.con.execute(
                f"WITH m AS MATERIALIZED (SELECT av.account_id AS id, {sort_expr} AS k "
                f"FROM {self.schema}.account_value av {joins} WHERE {where}) "
                "SELECT (SELECT count(*) FROM m), (SELECT list(id ORDER BY k "
                f"{direction} NULLS LAST, id) FROM (SELECT id, k FROM m ORDER BY k "
                f"{direction} NULLS LAST, id LIMIT {limit} OFFSET {offset}))",
                params).fetchone()
            return Page(self.rows_for(list(ids or [])), int(total), query.page, size)
        total = self.con.execute(
            f"SELECT count(*) FROM {self.schema}.account_value av {joins} WHERE {where}",
            params).fetchone()[0]
        ids = [r[0] for r in self.con.execute(
            f"SELECT av.account_id FROM {self.schema}.account_value av {joins} WHERE {where} "
            f"ORDER BY {sort_expr} {direction} NULLS LAST, av.account_id "
            f"LIMIT {limit} OFFSET {offset}", params).fetchall()]
        rows = self.rows_for(ids)
        return Page(rows, int(total), query.page, size)

    def _rank_page(self, direction: str, limit: int, offset: int, page: int) -> Page:
        """A page of everyone by value: ranks ``offset+1 ..`` (or from the bottom)."""
        n = self.con.execute(f"SELECT count(*) FROM {self.schema}.account_value").fetchone()[0]
        lo, hi = ((offset + 1, offset + limit) if direction == "ASC"
                  else (n - offset - limit + 1, n - offset))
        ids = [r[0] for r in self.con.execute(
            f"SELECT account_id FROM {self.schema}.account_value WHERE value_rank BETWEEN ? "
            f"AND ? ORDER BY value_rank {direction}", [lo, hi]).fetchall()]
        return Page(self.rows_for(ids), int(n), page, limit)

    def _page_on(self, alias: str, where: str, params: list[Any], sort_expr: str,
                 direction: str, limit: int, offset: int) -> tuple[int, list[str]]:
        """A page sorted (and filtered) by one joined table alone, for a user who sees
        everything: sorting that table is far cheaper than sorting its join with
        account_value.  Accounts the table lacks sort last (as NULLs), by id."""
        table = next(t for t, (a, _) in JOINED.items() if a == alias)
        src = f"{self.schema}.{table} {alias}"
        n = self.con.execute(f"SELECT count(*) FROM {src} WHERE {where}", params).fetchone()[0]
        ids = [r[0] for r in self.con.execute(
            f"SELECT {alias}.account_id FROM {src} WHERE {where} ORDER BY {sort_expr} "
            f"{direction} NULLS LAST, {alias}.account_id LIMIT {limit} OFFSET {offset}",
            params).fetchall()]
        if where.strip() != "TRUE":  # a filter on the table: absent accounts never match
            return int(n), ids
        rest_sql = (f"FROM {self.schema}.account_value av WHERE av.account_id NOT IN "
                    f"(SELECT account_id FROM {self.schema}.{table})")
        missing = self.cached(f"absent:{table}", lambda: self.con.execute(
            f"SELECT count(*) {rest_sql}").fetchone()[0])
        if missing and len(ids) < limit:
            ids += [r[0] for r in self.con.execute(
                f"SELECT av.account_id {rest_sql} ORDER BY av.account_id "
                f"LIMIT {limit - len(ids)} OFFSET {max(0, offset - n)}").fetchall()]
        return int(n + missing), ids

    def rows_for(self, ids: list[str]) -> pd.DataFrame:
        """The wide rows of ``ids`` in that order (callers pass only scoped ids)."""
        cols = self.available()
        select = ", ".join(f"{expr} AS {name}" for name, expr in cols.items())
        joins = self._joins({e.split(".")[0] for e in cols.values()},
                            only="(SELECT account_id FROM page_ids)")
        df = self.sql(
            "WITH page_ids AS (SELECT unnest(?::VARCHAR[]) AS account_id) "
            f"SELECT {select} FROM (SELECT * FROM {self.schema}.account_value WHERE "
            f"account_id IN (SELECT account_id FROM page_ids)) av {joins}", [ids])
        df = df[self._visible_mask(df)]  # defence in depth: ids should already be scoped
        order = {a: i for i, a in enumerate(ids)}
        return df.sort_values("account_id", key=lambda s: s.map(order)).reset_index(drop=True)

    def export_accounts(self) -> pd.DataFrame:
        """Every account this user may see with every column the snapshot offers, then
        the accounts' extra attributes as loaded now (a CRM's ``segment``)."""
        from growthmap.read.card import extra_names

        cols = self.available()
        select = ", ".join(f"{expr} AS {name}" for name, expr in cols.items())
        joins = self._joins({e.split(".")[0] for e in cols.values()})
        extra = [c for c in extra_names(self.columns("accounts", "main")) if c not in cols]
        if extra:
            select += "".join(f', ax."{c}" AS "{c}"' for c in extra)
            joins += " LEFT JOIN main.accounts ax ON ax.account_id = av.account_id"
        pred, params = self.scope_sql()
        order = "av.value DESC NULLS LAST, " if "value" in cols else ""
        return self.sql(f"SELECT {select} FROM {self.schema}.account_value av {joins} "
                        f"WHERE {pred} ORDER BY {order}av.account_id", params)

    def export_families(self) -> pd.DataFrame:
        """Per account x family figures (potential when computed, else current value)."""
        pred, params = self.scope_sql()
        if self.has("potential"):
            cols = [c for c in ("family", "current", "potential", "low", "high", "whitespace",
                                "whitespace_open", "whitespace_competitor", "share_of_wallet",
                                "method", "low_confidence") if c in self.columns("potential")]
            sel = ", ".join(f"p.{c}" for c in cols)
            return self.sql(
                f"SELECT p.account_id, av.name, av.owner_rep_id, {sel} FROM "
                f"{self.schema}.potential p JOIN {self.schema}.account_value av "
                f"ON av.account_id = p.account_id WHERE {pred} ORDER BY p.account_id, p.family",
                params)
        return self.sql(
            f"SELECT f.account_id, av.name, av.owner_rep_id, f.family, f.revenue_t12m, "
            f"f.revenue_prior, f.growth, f.last_purchase FROM "
            f"{self.schema}.account_family_value f JOIN {self.schema}.account_value av "
            f"ON av.account_id = f.account_id WHERE {pred} ORDER BY f.account_id, f.family",
            params)

    # -- one account -------------------------------------------------------------------
    def account(self, account_id: str) -> dict[str, Any]:
        """The account card (:func:`growthmap.read.card.account_card`) plus its feedback, for an
        account this user may see in this snapshot.

        What the card shows beyond this snapshot is scoped too: a history point only for
        the snapshots in which the account was in the user's book (so a rep who lost the
        account does not follow it afterwards, and a rep who gained it does not see its
        past under someone else); the feedback only while it is in today's book; the
        parent and group ids and similar accounts only when those are visible as well.
        """
        from growthmap.read.card import extra_names, read_card
        from growthmap.read.feedback import feedback_records

        scope = None if self.user.sees_everything else (
            lambda schema: scope_predicate(self, self.user, schema))
        card = read_card(self.con, self.columns_of, self.snapshot_info(), account_id,
                         self.snapshot_dates(), scope=scope,
                         extras=extra_names(self.columns("accounts", "main")))
        if card is None:
            raise NotFoundError(f"no account {account_id!r}",
                                hint="check the id; you can only open accounts in your book")
        out = card.model_dump(mode="json")
        today = self.current_book()
        out["feedback"] = (feedback_records(self.con, account_id)
                           if today is self or today.in_scope(account_id) else [])
        return out

    def visible_ids(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` this user may see in this snapshot."""
        if not ids:
            return set()
        pred, params = self.scope_sql()
        return {r[0] for r in self.con.execute(
            f"SELECT av.account_id FROM {self.schema}.account_value av WHERE "
            f"av.account_id IN (SELECT unnest(?::VARCHAR[])) AND {pred}",
            [ids, *params]).fetchall()}

    def families(self) -> list[str]:
        """Product families known to the snapshot."""
        table = "potential" if self.has("potential") else "account_family_value"
        return [r[0] for r in self.con.execute(
            f"SELECT DISTINCT family FROM {self.schema}.{table} ORDER BY 1").fetchall()]

    def add_feedback(self, account_id: str, data: dict[str, Any]) -> int:
        """Validate and store a verdict on an account of the user's book *today*.

        Feedback is written against the latest snapshot whatever snapshot is being
        read: an account that has left the user's book since cannot be written on, and
        the estimate recorded beside the verdict is the current one.
        """
        from growthmap.read.feedback import add_feedback, parse_feedback

        now = self.current_book()
        if now is not self and not now.in_scope(account_id):
            raise NotFoundError(f"no account {account_id!r} in your current book",
                                hint="feedback is given on the latest snapshot's book; "
                                "open the account there")
        now.require_account(account_id)
        fb = parse_feedback(data)
        if fb.family is not None and fb.family not in now.families():
            raise ConfigError(f"unknown product family {fb.family!r}",
                              hint="leave family empty for the account total, or use one of: "
                              + ", ".join(now.families()))
        estimate = None
        if fb.family is None and "potential" in now.columns("potential_account"):
            row = self.con.execute(f"SELECT potential FROM {now.schema}.potential_account "
                                   "WHERE account_id = ?", [account_id]).fetchone()
            estimate = row[0] if row else None
        elif fb.family is not None and "potential" in now.columns("potential"):
            row = self.con.execute(f"SELECT potential FROM {now.schema}.potential "
                                   "WHERE account_id = ? AND family = ?",
                                   [account_id, fb.family]).fetchone()
            estimate = row[0] if row else None
        return add_feedback(self.con, account_id, self.user.username, fb,
                            current_potential=estimate)

    def feedback(self) -> pd.DataFrame:
        """Every verdict on the accounts of the user's book today, newest first.

        Feedback is live, not part of a snapshot, so it follows today's book whatever
        snapshot is being read.
        """
        now = self.current_book()
        pred, params = now.scope_sql()
        return self.sql(
            "SELECT f.* FROM gm.feedback f WHERE f.account_id IN (SELECT av.account_id FROM "
            f"{now.schema}.account_value av WHERE {pred}) "
            "ORDER BY f.created_at DESC, f.feedback_id DESC", params)
