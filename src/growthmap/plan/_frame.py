"""The planning frame, assembled in Arrow: one row per account from the run's outputs.

Every output the frame reads is keyed by account_id and already computed (in memory
during a run, in a snapshot afterwards), so the frame is a chain of left joins on a
unique key.  As an Ibis expression those joins ran in the engine: at a million accounts
DuckDB copied and hashed six wide tables (the segments' reasons text alone is 300 MB)
and sorted the result, about 10 s; on Spark the run's in-memory outputs would first be
shipped to the cluster.  Here each output's account ids are lined up with the accounts
by one Arrow hash lookup (none when they are already in the same order, the usual
case), so the frame costs well under a second and is the same whatever the engine.

The join semantics are SQL's: an account without a row in an output gets nulls, a
null key matches nothing.  An output with two rows for one account (never produced by
growthmap) contributes its first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from growthmap.errors import WorkspaceError

if TYPE_CHECKING:
    from growthmap.plan.rollups import PlanSource

__all__ = ["ACCOUNT", "OPTIONAL", "planning_table"]

_TYPES = {"string": pa.large_string(), "float64": pa.float64(), "boolean": pa.bool_()}

ACCOUNT = {"name": "string", "owner_rep_id": "string", "territory_id": "string",
           "region": "string", "industry": "string", "lat": "float64", "lon": "float64",
           "status": "string", "is_customer": "boolean", "value_tier": "string",
           "value": "float64"}
POTENTIAL = {"current": "float64", "potential": "float64", "whitespace": "float64",
             "share_of_wallet": "float64", "road": "string", "matrix_cell": "string",
             "value_band": "string", "potential_band": "string"}
SEGMENTS = {"tier": "string", "care_model": "string", "coverage_role": "string",
            "touches_per_year": "float64", "hours_per_touch": "float64",
            "next_best_offer": "string", "nbo_score": "float64", "reasons": "string",
            "risk_readiness": "string"}
#: output name -> (columns taken, what is lost without it)
OPTIONAL = {
    "potential_account": (POTENTIAL, "potential, whitespace, share of wallet and ROAD"),
    "propensity": ({"ptb": "float64"}, "propensity to buy and expected opportunity"),
    "icp": ({"icp_fit": "float64"}, "ICP fit"),
    "risk": ({"risk": "float64"}, "risk"),
    "segments": (SEGMENTS, "tiers, care models, workload hours and next best offers"),
}


def _one(a: pa.Array | pa.ChunkedArray) -> pa.Array:
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


def _typed(a: pa.Array | pa.ChunkedArray | None, typ: str, n: int
           ) -> pa.Array | pa.ChunkedArray:
    """The column cast to the frame's type, or nulls of that type when absent."""
    want = _TYPES[typ]
    if a is None:
        return pa.nulls(n, want)
    return a if a.type == want else pc.cast(a, want)


def _lookup(keys: pa.Array, table_keys: pa.Array | pa.ChunkedArray) -> pa.Array | None:
    """Row of each key in ``table_keys`` (first match, null when none or a null key);
    ``None`` when the keys are the very same sequence (nothing to look up)."""
    table_keys = _one(_typed(table_keys, "string", 0))
    if table_keys.equals(keys):
        return None
    return pc.index_in(keys, value_set=table_keys, skip_nulls=True)


def _take(t: pa.Table, rows: pa.Array | None, col: str) -> pa.Array | pa.ChunkedArray:
    return t[col] if rows is None else t[col].take(rows)


def planning_table(src: PlanSource, columns: Callable[[str], bool] = lambda c: True
                   ) -> pa.Table:
    """The planning frame as an Arrow table, in account_id order (see
    :func:`growthmap.plan.rollups.planning_frame` for its columns).

    ``columns`` leaves out frame columns it rejects (the plan stage skips the reasons
    text, which it never reads); nothing else changes.
    """
    av = src.output_arrow("account_value", ["account_id", *ACCOUNT])
    if av is None:
        raise WorkspaceError("planning needs the account_value output of the value stage",
                             hint="run `growthmap run` (the value stage runs first)")
    n = av.num_rows
    ids = _one(_typed(av["account_id"], "string", n))
    cols: dict[str, pa.Array | pa.ChunkedArray] = {"account_id": ids}
    for c, typ in ACCOUNT.items():
        cols[c] = _typed(av[c] if c in av.column_names else None, typ, n)
    for name, (wanted, lost) in OPTIONAL.items():
        keep = {c: t for c, t in wanted.items() if columns(c) or c == "current"}
        t = src.output_arrow(name, ["account_id", *keep])
        if t is None:
            src.note(f"plan: no {name} output, so {lost} are left empty in rollups and books")
            cols.update({c: pa.nulls(n, _TYPES[typ]) for c, typ in keep.items()})
            continue
        rows = _lookup(ids, t["account_id"])
        for c, typ in keep.items():
            got = _take(t, rows, c) if c in t.column_names else None
            cols[c] = _typed(got, typ, n)
    cols["current"] = pc.coalesce(cols["current"], cols.pop("value"))
    terr = src.input_arrow("territories", ["territory_id", "region"])
    if terr is not None and "region" in terr.column_names:
        rows = pc.index_in(cols["territory_id"], skip_nulls=True,
                           value_set=_one(_typed(terr["territory_id"], "string", 0)))
        cols["region"] = pc.coalesce(cols["region"],
                                     _typed(terr["region"], "string", 0).take(rows))
    reps = src.input_arrow("reps", ["rep_id", "manager_id"])
    if reps is not None and "manager_id" in reps.column_names:
        rows = pc.index_in(cols["owner_rep_id"], skip_nulls=True,
                           value_set=_one(_typed(reps["rep_id"], "string", 0)))
        manager = _typed(reps["manager_id"], "string", 0).take(rows)
    else:
        manager = pa.nulls(n, pa.large_string())
    # column order as the frame always had: the optional outputs' columns, then these
    cols["manager_id"] = manager
    cols["expected_opportunity"] = pc.multiply(cols["ptb"], cols["whitespace"])
    cols["workload_hours"] = pc.multiply(cols["touches_per_year"], cols["hours_per_touch"])
    table = pa.table({c: a for c, a in cols.items() if columns(c) or c == "account_id"})
    if n > 1 and (ids.null_count or not pc.all(pc.less(ids[:-1], ids[1:])).as_py()):
        table = table.take(pc.sort_indices(ids))
    return table
