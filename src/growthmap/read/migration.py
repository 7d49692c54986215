"""Migration between snapshots: who moved between segments, and how much value moved.

:func:`migration` compares one segment dimension (tier, value tier, ROAD, care model,
...) of two snapshots: a transition matrix of account counts and of value, and the
list of accounts whose segment changed.  Accounts only in the later snapshot come
from ``(new)``, accounts only in the earlier one go to ``(gone)``; an empty value is
``(none)``.  For ordered dimensions (tier 1a > 1b > 2 > 3, value tier A > D, ...) a
move is *up* or *down*; for the others it is *moved*.  Read for one user (the
dashboard's :func:`between`), each side is scoped on its own snapshot: an account that
joined the user's book in between comes from ``(moved in)`` and one that left it goes
to ``(moved out)``, so no class is shown from a snapshot in which it was someone else's.

Value in the matrix is each account's current value in the later snapshot (in the
earlier one for gone accounts), so a row's value says how much business now sits
where those accounts went.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from growthmap.config._segments import ROLES
from growthmap.errors import ConfigError
from growthmap.read.access import SYSTEM, DataAccess
from growthmap.workspace import Workspace

__all__ = ["GONE", "MOVED_IN", "MOVED_OUT", "NEW", "NONE", "ORDERS", "Migration",
           "between", "dimensions", "migration"]

NEW, GONE, NONE = "(new)", "(gone)", "(none)"
#: A reader's account that was someone else's before / is someone else's now.
MOVED_IN, MOVED_OUT = "(moved in)", "(moved out)"
#: Known orders, best first; a dimension whose values all fit one is ordinal.
ORDERS: dict[str, tuple[str, ...]] = {
    "tier": ("1a", "1b", "2", "3"),
    "value_tier": ("A", "B", "C", "D"),
    "status": ("customer", "prospect"),
    "coverage_role": ROLES,
}
_GENERIC_ORDERS = (("A", "B", "C", "D"), ("high", "medium", "low"), ("High", "Medium", "Low"),
                   ("H", "M", "L"), ("top", "high", "medium", "low"))
#: Outputs searched for a dimension, in order.
_SOURCES = ("segments", "potential_account", "account_value", "propensity")
_NOT_DIMENSIONS = {"account_id", "name", "reasons", "flags", "group_account_id", "parent_id",
                   "city", "drivers", "similar_best"}


@dataclass
class Migration:
    """Transition matrices and movers of one dimension between two snapshots."""

    from_snapshot: int
    to_snapshot: int
    dimension: str
    #: from-category (rows, ``(new)`` last) x to-category (columns, ``(gone)`` last): accounts.
    counts: pd.DataFrame
    #: the same matrix holding value (later snapshot's; the earlier one's for gone).
    values: pd.DataFrame
    #: account_id, name, from, to, direction (up / down / moved / new / gone),
    #: value_from, value_to — only accounts whose category changed.
    movers: pd.DataFrame
    ordered: bool

    def summary(self) -> dict[str, int]:
        """How many accounts stayed, moved up, down, sideways, arrived or left
        (and, for a reader's book, moved in from or out to another book)."""
        d = self.movers["direction"].value_counts()
        stayed = int(self.counts.to_numpy().sum()) - len(self.movers)
        out = {"stayed": stayed, **{k: int(d.get(k, 0))
                                    for k in ("up", "down", "moved", "new", "gone")}}
        out.update({k: int(d[k]) for k in ("moved in", "moved out") if d.get(k, 0)})
        return out


def _columns(ws: Workspace, sid: int, table: str) -> list[tuple[str, str]]:
    return ws.con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [f"snap_{sid}", table]).fetchall()


def dimensions(ws: Workspace, snapshot: int | str | None = "latest") -> dict[str, str]:
    """Dimensions a snapshot can be tracked by: text columns -> the output holding them."""
    sid = ws.resolve_snapshot(snapshot)
    out: dict[str, str] = {}
    for table in _SOURCES:
        for col, dtype in _columns(ws, sid, table):
            if (dtype == "VARCHAR" or col.endswith("_decile")) and col not in _NOT_DIMENSIONS:
                out.setdefault(col, table)
    return out


def _side(da: DataAccess, dimension: str, table: str) -> pd.DataFrame:
    """One snapshot's accounts: class, name, value and whether they are in the reader's book.

    The book is decided on this snapshot (the one scope rule of ``read/scope.py``), so a
    class is only shown from a snapshot in which the account was the reader's.
    """
    pred, params = da.scope_sql("v")
    t = "v" if table == "account_value" else "t"
    src = f"{da.schema}.account_value v" if t == "v" else (
        f"{da.schema}.{table} t LEFT JOIN {da.schema}.account_value v USING (account_id)")
    name = "v.name" if "name" in da.columns("account_value") else "NULL"
    df = da.sql(f'SELECT {t}.account_id, {name} AS name, CAST({t}."{dimension}" AS VARCHAR) '
                "AS cat, "
                f"v.value AS value, coalesce(({pred}), false) AS in_book FROM {src}", params)
    df["cat"] = df["cat"].astype("object").where(df["cat"].notna(), NONE)
    return df.drop_duplicates("account_id").set_index("account_id")


def _band_labels(ws: Workspace, sid: int) -> tuple[str, ...] | None:
    """The potential stage's band labels (lowest first in the config), best first."""
    info = ws.snapshot_info(sid)
    try:
        labels = json.loads(info.get("config_json") or "{}").get("potential", {}) \
            .get("band_labels")
    except ValueError:
        return None
    return tuple(reversed(labels)) if isinstance(labels, list) and labels else None


def _order(values: set[str], dimension: str,
           bands: tuple[str, ...] | None = None) -> tuple[list[str], bool]:
    """Categories sorted best first when the dimension is ordinal, else alphabetically."""
    known = values - {NONE, NEW, GONE, MOVED_IN, MOVED_OUT}
    candidates = [ORDERS[dimension]] if dimension in ORDERS else []
    if bands and dimension in ("value_band", "potential_band"):
        candidates.append(bands)
    candidates += list(_GENERIC_ORDERS)
    if dimension.endswith("_decile"):
        candidates.insert(0, tuple(str(i) for i in range(10, 0, -1)))
    for k, seq in enumerate(candidates):
        if known and known <= set(seq):
            full = k == 0 and dimension in ORDERS  # a known dimension shows every category
            return [v for v in seq if full or v in known], True
    return sorted(known), False


def migration(ws: Workspace, from_: int | str, to: int | str,
              dimension: str = "tier") -> Migration:
    """Transition matrix of ``dimension`` from snapshot ``from_`` to snapshot ``to``.

    The whole workspace's view (the CLI's); a reader's view is :func:`between` on their
    scoped access, which the dashboard uses.
    """
    a_id, b_id = ws.resolve_snapshot(from_), ws.resolve_snapshot(to)
    dims_a, dims_b = dimensions(ws, a_id), dimensions(ws, b_id)
    if dimension not in dims_a or dimension not in dims_b:
        both = sorted(set(dims_a) & set(dims_b))
        missing = [s for s, d in ((a_id, dims_a), (b_id, dims_b)) if dimension not in d]
        raise ConfigError(
            f"--dimension {dimension!r} is not in snapshot "
            f"{' and '.join(map(str, missing))}",
            hint="use one of: " + ", ".join(both) if both else "run the segments stage first")
    return between(DataAccess(ws.con, SYSTEM, b_id), DataAccess(ws.con, SYSTEM, a_id),
                   dimension, (dims_a[dimension], dims_b[dimension]), _band_labels(ws, b_id))


def between(now: DataAccess, earlier: DataAccess, dimension: str,
            tables: tuple[str, str], bands: tuple[str, ...] | None = None) -> Migration:
    """How the reader's accounts moved along ``dimension`` from ``earlier`` to ``now``.

    ``tables`` names the output holding the dimension in each snapshot.  An account of
    the reader's book now that was in the snapshot before but someone else's comes from
    ``(moved in)``; one that left the book but is still in the snapshot goes to
    ``(moved out)``; for the whole workspace neither occurs.
    """
    a = _side(earlier, dimension, tables[0])
    b = _side(now, dimension, tables[1])
    j = a.join(b, how="outer", suffixes=("_from", "_to"))
    in_a = j["in_book_from"].eq(True)
    in_b = j["in_book_to"].eq(True)
    j = j[in_a | in_b].copy()
    in_a, in_b = in_a[j.index], in_b[j.index]
    j["from"] = j["cat_from"].where(in_a, j["cat_from"].notna().map(
        {True: MOVED_IN, False: NEW}))
    j["to"] = j["cat_to"].where(in_b, j["cat_to"].notna().map({True: MOVED_OUT, False: GONE}))
    j["name"] = j["name_to"].where(in_b, j["name_from"])
    # no figure from a snapshot in which the account was someone else's
    j["value_from"] = j["value_from"].where(in_a)
    j["value_to"] = j["value_to"].where(in_b)
    j["value"] = j["value_to"].where(in_b, j["value_from"]).fillna(0.0)
    seen = set(j["from"]) | set(j["to"])
    rows, ordered = _order(seen, dimension, bands)
    rows_all = [*rows, NONE] if NONE in seen else rows
    index, columns = [*rows_all, NEW, MOVED_IN], [*rows_all, GONE, MOVED_OUT]
    counts = pd.crosstab(j["from"], j["to"]).reindex(index=index, columns=columns,
                                                     fill_value=0)
    values = j.pivot_table(index="from", columns="to", values="value", aggfunc="sum",
                           fill_value=0.0).reindex(index=index, columns=columns,
                                                   fill_value=0.0)
    special = {NEW, MOVED_IN, GONE, MOVED_OUT}
    counts = counts.loc[(counts.sum(axis=1) > 0) | ~counts.index.isin(special),
                        (counts.sum(axis=0) > 0) | ~counts.columns.isin(special)]
    values = values.loc[counts.index, counts.columns]
    a_id, b_id = earlier.snapshot_id, now.snapshot_id
    counts.index.name, counts.columns.name = f"from snapshot {a_id}", f"to snapshot {b_id}"
    values.index.name, values.columns.name = counts.index.name, counts.columns.name
    pos = {c: i for i, c in enumerate(rows)}
    moved = j[j["from"] != j["to"]].copy()

    def direction(f: str, t: str) -> str:
        if f in (NEW, MOVED_IN):
            return "new" if f == NEW else "moved in"
        if t in (GONE, MOVED_OUT):
            return "gone" if t == GONE else "moved out"
        if ordered and f in pos and t in pos:
            return "up" if pos[t] < pos[f] else "down"
        return "moved"

    moved["direction"] = [direction(f, t) for f, t in zip(moved["from"], moved["to"],
                                                          strict=True)]
    movers = moved.reset_index()[["account_id", "name", "from", "to", "direction",
                                  "value_from", "value_to"]]
    movers = movers.sort_values(["direction", "account_id"]).reset_index(drop=True)
    return Migration(a_id, b_id, dimension, counts.astype("int64"), values, movers, ordered)
