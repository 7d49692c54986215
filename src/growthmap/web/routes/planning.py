"""Planning for managers and ops: the week's review list, quotas with their explanation,
the capacity gap by role and region, and the alignment proposal with its map.

The page and the API make one library call (:func:`growthmap.plan.align_accounts`) on
the snapshot the user reads.  Ops and admins align every rep of a role; a manager aligns
the reps and accounts of their own territory subtree only, so a proposal never moves an
account the manager cannot see.  A rep has no alignment to read.  Proposals are cached
per snapshot, scope and settings: the solver runs once, not on every page view.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from growthmap.errors import NotFoundError
from growthmap.read.access import DataAccess, records
from growthmap.web._deps import Access, page_context

router = APIRouter(tags=["planning"])
_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_LOCK = threading.Lock()
_CACHE_SIZE = 16

Role = Annotated[str, Query(max_length=60, pattern=r"^[A-Za-z0-9_ -]+$",
                            description="The coverage role whose books are aligned.")]
Tolerance = Annotated[float, Query(gt=0, le=1, description="Allowed deviation, 0.1 = ±10%.")]
MaxMoved = Annotated[str | None, Query(max_length=9, pattern=r"^\d*$",
                                       description="Most accounts that may change rep.")]
Rep = Annotated[str | None, Query(max_length=100, description="Show this rep only.")]
Region = Annotated[str | None, Query(max_length=100, description="Show this region only.")]


def _scope(da: DataAccess) -> tuple[list[str] | None, list[str] | None]:
    """(reps, accounts) the user may align; ``None`` = all."""
    if da.user.sees_everything:
        return None, None
    if da.user.role != "manager":
        raise NotFoundError("the alignment is for managers and sales operations",
                            hint="your own book is on the Reps page")
    pred, params = da.scope_sql()
    ids = [r[0] for r in da.con.execute(
        f"SELECT account_id FROM {da.schema}.account_value av WHERE {pred}", params).fetchall()]
    return da.visible_reps() or [], ids


def proposal(request: Request, da: DataAccess, role: str, tolerance: float,
             max_moved: str | None) -> Any:
    """The (cached) alignment of ``role`` for this user's scope (an empty cap: none)."""
    cap = int(max_moved) if max_moved else None
    from growthmap.plan import PlanSource, align_accounts
    from growthmap.workspace import Workspace

    state = request.app.state.gm
    reps, accounts = _scope(da)
    key = (str(state.path), da.snapshot_id, role, tolerance, cap,
           tuple(reps or ()), len(accounts or ()), da.user.role, da.user.territory_id)
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    with state.cursor() as cur:
        src = PlanSource.from_workspace(Workspace(state.path, cur), da.snapshot_id)
        out = align_accounts(src, state.config.plan, role=role, tolerance=tolerance,
                             max_moved=cap, reps=reps, accounts=accounts)
        out.summary["notes"] = list(src.notes)
    with _LOCK:
        _CACHE[key] = out
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return out


def _tables(out: Any, rep: str | None, region: str | None) -> tuple[list, list]:
    reps, moves = out.reps, out.reassignment
    if rep:
        reps = reps[reps.rep_id == rep]
        moves = moves[(moves.from_rep == rep) | (moves.to_rep == rep)]
    if region and "group" in reps:
        reps = reps[reps.group.astype(str).str.startswith(region)]
        moves = moves[moves.region == region]
    moves = moves[moves.moved].sort_values("potential", ascending=False)
    return records(reps), records(moves)


@router.get("/plan/alignment", response_class=HTMLResponse, include_in_schema=False)
def alignment_page(request: Request, da: Access, role: Role = "field",
                   tolerance: Tolerance = 0.1, max_moved: MaxMoved = None, rep: Rep = None,
                   region: Region = None) -> Response:
    from growthmap.report.charts import to_spec
    from growthmap.report.maps import alignment_map

    out = proposal(request, da, role, tolerance, max_moved)
    rep_rows, moves = _tables(out, rep, region)
    chart = {"name": "alignment_map", "title": "Accounts and rep bases by rep",
             "chart": to_spec(alignment_map(out.reassignment, out.reps, width=900)),
             "missing": None}
    regions = sorted(out.reassignment.region.dropna().astype(str).unique())
    ctx = page_context(request, da, "plan", summary=out.summary, reps=rep_rows,
                       moves=moves[:200], n_moves=len(moves), map_chart=chart, role=role,
                       tolerance=tolerance, max_moved=max_moved, rep=rep or "",
                       region=region or "", regions=regions,
                       rep_ids=out.reps.rep_id.astype(str).tolist())
    return request.app.state.gm.templates.TemplateResponse(request, "plan_alignment.html", ctx)


@router.get("/api/plan/alignment")
def alignment_api(request: Request, da: Access, role: Role = "field",
                  tolerance: Tolerance = 0.1, max_moved: MaxMoved = None, rep: Rep = None,
                  region: Region = None) -> dict[str, Any]:
    """A proposed alignment of one role's books: summary, reps before/after, moves."""
    out = proposal(request, da, role, tolerance, max_moved)
    reps, moves = _tables(out, rep, region)
    summary = _plain(out.summary)
    return {"snapshot_id": da.snapshot_id, "summary": summary, "reps": reps, "moves": moves}


def _plain(v: Any) -> Any:
    """numpy scalars inside dicts and lists as Python numbers (for JSON)."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v.item() if hasattr(v, "item") else v


def _capacity_gap(da: DataAccess) -> list[dict[str, Any]]:
    """Heads needed vs in place per role and region (the plan stage's ``headcount``);
    a manager sees the rows of their own region."""
    if not da.has("headcount"):
        return []
    df = da.sql(f"SELECT * FROM {da.schema}.headcount WHERE level LIKE 'role_%'")
    if not da.user.sees_everything:
        terr = da.territory_subtree(da.user.territory_id or "")
        region = da.sql("SELECT DISTINCT region FROM main.territories WHERE territory_id IN "
                        "(SELECT unnest(?::VARCHAR[]))", [terr])
        mine = set(terr) | set(region.region.dropna().astype(str))
        group = df.key.astype(str).str.split(" / ", n=1).str[-1]
        df = df[group.isin(mine).to_numpy()]
    return records(df.sort_values("heads_gap", ascending=False))


Territory = Annotated[str | None, Query(max_length=100,
                                         description="Show this territory's reps only.")]
Region = Annotated[str | None, Query(max_length=100, description="Show this region only.")]


def _places(cur: Any, reps: list[str]) -> dict[str, tuple[str, str]]:
    """rep -> (territory_id, region) for the reps shown, from the reps and territories."""
    rows = cur.execute(
        "SELECT r.rep_id, r.territory_id, t.region FROM main.reps r LEFT JOIN "
        "main.territories t ON t.territory_id = r.territory_id "
        "WHERE r.rep_id IN (SELECT unnest(?::VARCHAR[]))", [reps]).fetchall()
    return {str(a): (str(b or ""), str(c or "")) for a, b, c in rows}


@router.get("/plan", response_class=HTMLResponse, include_in_schema=False)
def plan_page(request: Request, da: Access, rep: Rep = None, territory: Territory = None,
              region: Region = None) -> Response:
    from growthmap.plan import PlanSource, review_list
    from growthmap.read import views
    from growthmap.workspace import Workspace

    reps, _ = _scope(da)
    state = request.app.state.gm
    with state.cursor() as cur:
        visible = reps if reps is not None else [r[0] for r in cur.execute(
            f"SELECT DISTINCT owner_rep_id FROM {da.schema}.account_value "
            "WHERE owner_rep_id IS NOT NULL ORDER BY 1").fetchall()]
        try:
            places = _places(cur, visible)
        except duckdb.CatalogException:  # a workspace without a reps or territories table
            places = {}
        regions = sorted({p[1] for p in places.values() if p[1]})
        territories = sorted({p[0] for r, p in places.items() if p[0]
                              and (not region or p[1] == region)})
        visible = [r for r in visible
                   if (not region or places.get(r, ("", ""))[1] == region)
                   and (not territory or places.get(r, ("", ""))[0] == territory)]
        chosen = rep if rep in visible else (visible[0] if visible else None)
        review = []
        ws = Workspace(state.path, cur)
        if chosen:
            src = PlanSource.from_workspace(ws, da.snapshot_id)
            review = records(review_list(src, chosen))
        cards, card_note = _scorecards(ws, state.config.plan, da.snapshot_id, visible)
    quotas = views.quota_rows(da)
    quota_rows = [] if quotas is None else records(
        quotas[quotas.key == chosen] if chosen and (quotas.key == chosen).any() else quotas)
    capacity = _capacity_gap(da)
    if region:
        capacity = [c for c in capacity if str(c["key"]).split(" / ", 1)[-1] == region]
    ctx = page_context(request, da, "planning", rep=chosen or "", rep_ids=visible,
                       review=review, quotas=quota_rows, capacity=capacity,
                       scorecards=cards, scorecard_note=card_note, region=region or "",
                       regions=regions, territory=territory or "", territories=territories)
    return state.templates.TemplateResponse(request, "plan.html", ctx)


def _scorecards(ws: Any, config: Any, snapshot_id: int, reps: list[str]
                ) -> tuple[list[dict[str, Any]], str | None]:
    """Each visible rep's scorecard (previous snapshot to this one), or why there is none."""
    from growthmap.errors import GrowthmapError
    from growthmap.plan import scorecard

    try:
        card = scorecard(ws, config, by="rep", snapshot=snapshot_id)
    except GrowthmapError as exc:
        return [], exc.message
    table = card.table[card.table.key.isin(reps)]
    note = f"snapshot {card.previous} ({card.previous_as_of}) → {card.snapshot} ({card.as_of})"
    return records(table), note
