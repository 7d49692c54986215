"""The account card: everything a rep needs about one account, and why.

:func:`account_card` reads one snapshot (and the account's line in every other
snapshot, for its history) and returns an :class:`AccountCard` — a typed pydantic
object that the CLI prints, the API returns as JSON (``card.model_dump(mode="json")``)
and the report renders.  It computes nothing new: every figure is read from the
snapshot, so the card always agrees with the tables.  Outputs a snapshot lacks (a
stage that did not run) leave their fields empty and add a note.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import duckdb
from pydantic import BaseModel, Field

from growthmap.errors import NotFoundError
from growthmap.read._card_sql import Columns, Scope, card_row, history_rows, linked_rows
from growthmap.workspace import Workspace

__all__ = [
    "AccountCard",
    "CompetitorHolding",
    "CriterionScore",
    "FamilyLine",
    "HistoryPoint",
    "SimilarAccount",
    "account_card",
    "close_matches",
    "extra_columns",
    "extra_names",
    "read_card",
]

_ATTRS = ("industry", "country", "region", "city", "territory_id", "owner_rep_id",
          "employees", "annual_revenue", "parent_id", "group_account_id")


class FamilyLine(BaseModel):
    """Current value and potential of one product family at the account."""

    family: str = Field(description="Product family.")
    current: float = Field(0.0, description="Revenue in the trailing window.")
    revenue_prior: float | None = Field(None, description="Revenue in the window before.")
    potential: float | None = Field(None, description="Estimated annual wallet.")
    low: float | None = Field(None, description="Lower end of the potential's interval.")
    high: float | None = Field(None, description="Upper end of the potential's interval.")
    whitespace: float | None = Field(None, description="max(potential - current, 0).")
    whitespace_open: float | None = Field(None, description="Whitespace no competitor holds.")
    whitespace_competitor: float | None = Field(None,
                                                description="Whitespace held by competitors.")
    share_of_wallet: float | None = Field(None, description="current / potential.")
    ptb: float | None = Field(None, description="Propensity to buy this family.")
    method: str | None = Field(None, description="How the potential was estimated.")
    peer_group: str | None = Field(None, description="Peers the potential was read from.")
    low_confidence: bool | None = Field(None, description="Too few peers or wide interval.")
    drivers: list[dict[str, Any]] = Field(default_factory=list,
                                          description="Features that moved the potential.")
    potential_model: float | None = Field(None, description="The model's own figure, when a "
                                          "rep's reviewed figure is published instead.")
    adjusted_by: str | None = Field(None, description="Who reviewed this family's figure.")


class CompetitorHolding(BaseModel):
    """A competitor's estimated hold on the account's wallet in a family."""

    family: str = Field(description="Product family.")
    competitor: str = Field(description="Competitor.")
    held: float | None = Field(None, description="Amount of the wallet the competitor holds.")


class SimilarAccount(BaseModel):
    """One of the best customers this account resembles most."""

    account_id: str = Field(description="Account id.")
    name: str | None = Field(None, description="Account name.")


class CriterionScore(BaseModel):
    """One need/value/behaviour criterion's 0-1 score."""

    name: str = Field(description="Criterion name from the config.")
    group: str | None = Field(None, description="need, value or behaviour.")
    score: float | None = Field(None, description="0-1 score.")
    missing: bool = Field(False, description="No data: the configured missing score was used.")


class HistoryPoint(BaseModel):
    """The account's segment in one snapshot."""

    snapshot_id: int = Field(description="Snapshot id.")
    as_of: dt.date | None = Field(None, description="As-of date of the snapshot.")
    value: float | None = Field(None, description="Current value then.")
    value_tier: str | None = Field(None, description="Value tier then.")
    road: str | None = Field(None, description="ROAD quadrant then.")
    tier: str | None = Field(None, description="Tier then.")
    risk_readiness: str | None = Field(None, description="Risk/readiness quadrant then.")
    care_model: str | None = Field(None, description="Care model then.")


class AccountCard(BaseModel):
    """One account as of one snapshot: value, potential, scores, segment and history."""

    account_id: str = Field(description="Account id.")
    name: str | None = Field(None, description="Account name.")
    snapshot_id: int = Field(description="Snapshot the card reads.")
    as_of: dt.date | None = Field(None, description="As-of date of that snapshot.")
    attributes: dict[str, Any] = Field(default_factory=dict,
                                       description="Industry, region, territory, owner, size.")
    status: str | None = Field(None, description="customer or prospect.")
    value_tier: str | None = Field(None, description="A-D by current value.")
    current: float | None = Field(None, description="Current value (the configured measure).")
    revenue_t12m: float | None = Field(None, description="Revenue in the trailing window.")
    growth: float | None = Field(None, description="Revenue growth on the prior window.")
    potential: float | None = Field(None, description="Total potential (wallet).")
    potential_low: float | None = Field(None, description="Lower end of the total potential.")
    potential_high: float | None = Field(None, description="Upper end of the total potential.")
    potential_model: float | None = Field(
        None, description="The model's own total potential (differs from potential when a "
        "rep's reviewed figure was applied).")
    potential_adjusted_by: str | None = Field(
        None, description="Who gave the reviewed figure that the published potential uses.")
    potential_adjusted_at: str | None = Field(None, description="When that figure was given.")
    whitespace: float | None = Field(None, description="Total whitespace.")
    whitespace_open: float | None = Field(None, description="Whitespace no competitor holds.")
    whitespace_competitor: float | None = Field(None,
                                                description="Whitespace competitors hold.")
    share_of_wallet: float | None = Field(None, description="Current / potential.")
    value_band: str | None = Field(None, description="Value band of the matrix.")
    potential_band: str | None = Field(None, description="Potential band of the matrix.")
    matrix_cell: str | None = Field(None, description="Cell of the value x potential matrix.")
    road: str | None = Field(None, description="Retain, Develop, Acquire or Opportunistic.")
    families: list[FamilyLine] = Field(default_factory=list, description="Per product family.")
    competitors: list[CompetitorHolding] = Field(default_factory=list,
                                                 description="Competitor-held whitespace.")
    peers: list[dict[str, Any]] = Field(default_factory=list,
                                        description="Potential methods and peer groups used.")
    ptb: float | None = Field(None, description="Propensity to buy.")
    ptb_decile: int | None = Field(None, description="PtB decile (10 = most likely).")
    ptb_drivers: list[dict[str, Any]] = Field(default_factory=list,
                                              description="What drives the PtB.")
    icp_fit: float | None = Field(None, description="ICP fit 0-100.")
    is_best: bool | None = Field(None, description="Is one of the best customers.")
    similar_best: list[SimilarAccount] = Field(default_factory=list,
                                               description="Most similar best customers.")
    risk: float | None = Field(None, description="Probability of decline or churn.")
    score_notes: list[str] = Field(
        default_factory=list, description="What the run published for PtB and risk (a "
        "baseline instead of the model) and why a score is left empty (not informative).")
    risk_readiness: str | None = Field(None, description="Grow, Defend, Nurture or Rescue.")
    need: float | None = Field(None, description="Need score 0-1.")
    value_score: float | None = Field(None, description="Value score 0-1.")
    behaviour: float | None = Field(None, description="Behaviour score 0-1.")
    criteria: list[CriterionScore] = Field(default_factory=list,
                                           description="Every criterion's score.")
    flags: list[str] = Field(default_factory=list, description="Missing data, neutral used.")
    tier: str | None = Field(None, description="1a, 1b, 2 or 3.")
    priority_rank: int | None = Field(None, description="Rank on value and need together.")
    reasons: list[str] = Field(default_factory=list, description="Why, in plain words.")
    care_model: str | None = Field(None, description="Care model.")
    coverage_role: str | None = Field(None, description="Who covers the account.")
    touches_per_year: float | None = Field(None, description="Planned contacts per year.")
    hours_per_touch: float | None = Field(None, description="Hours per contact.")
    next_best_offer: str | None = Field(None, description="Family to offer next.")
    nbo_score: float | None = Field(None, description="Whitespace x PtB of that family.")
    history: list[HistoryPoint] = Field(default_factory=list,
                                        description="Segment in every snapshot.")
    notes: list[str] = Field(default_factory=list, description="What this card lacks and why.")


# -- reading -----------------------------------------------------------------------
def _clean(v: Any) -> Any:
    """NaN -> None, numpy scalars -> Python, nested structs cleaned: the card is plain JSON."""
    if v is None:
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _one(row: dict[str, Any], key: str) -> dict[str, Any]:
    return _clean(row.get(key)) or {}


def _many(row: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [_clean(r) for r in row.get(key) or []]


def extra_names(columns: tuple[str, ...] | list[str]) -> list[str]:
    """Of the accounts table's columns, its extra attributes (a CRM's ``segment``)."""
    from growthmap.contract.inputs import TABLES

    contract = set(TABLES["accounts"].column_names)
    return [c for c in columns if c not in contract and not c.startswith("_")]


def extra_columns(con: Any) -> list[str]:
    """The accounts table's extra attributes (a CRM's ``segment``), not contract columns."""
    return extra_names([r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name = 'accounts' ORDER BY ordinal_position").fetchall()])


def _json_list(text: Any) -> list:
    if text is None:
        return []
    if isinstance(text, list):
        return text
    try:
        v = json.loads(text)
    except (TypeError, ValueError):
        return [text]
    return v if isinstance(v, list) else [v]


def close_matches(ws: Workspace, sid: int, text: str, n: int = 3) -> list[str]:
    """Account ids (with names) that look like ``text``: for the not-found message.

    Ids are compared by edit distance (a typo in one character ranks first), names by
    fuzzy token matching, so both a mistyped id and a company name find the account.
    """
    from rapidfuzz import fuzz, process
    from rapidfuzz.distance import Levenshtein

    has_name = "name" in _schema_columns(ws.con)(f"snap_{sid}", "account_value")
    rows = ws.con.execute(
        f"SELECT account_id, {'name' if has_name else 'NULL'} "
        f"FROM snap_{sid}.account_value").fetchall()
    names = {r[0]: r[1] for r in rows}
    by_id = process.extract(text.lower(), {i: str(i).lower() for i in names},
                            scorer=Levenshtein.normalized_similarity, limit=n,
                            score_cutoff=0.5)
    by_name = process.extract(text, {i: v for i, v in names.items() if v},
                              scorer=fuzz.WRatio, limit=n, score_cutoff=80)
    hits = sorted([(s * 100, i) for _, s, i in by_id] + [(s, i) for _, s, i in by_name],
                  key=lambda h: (-h[0], str(h[1])))
    out: list[str] = []
    for _, i in hits:
        label = f"{i} ({names[i]})" if names[i] else str(i)
        if label not in out:
            out.append(label)
    return out[:n]


def _schema_columns(con: duckdb.DuckDBPyConnection) -> Columns:
    """``columns(schema, table)`` read from the catalog once per schema (a one-off card)."""
    from growthmap.read._store import Catalog

    catalog = Catalog()
    return lambda schema, table: catalog.columns(con, schema, table)


def _families(row: dict[str, Any]) -> list[FamilyLine]:
    cur = {r["family"]: r for r in _many(row, "afv")}
    pot = {r["family"]: r for r in _many(row, "pot")}
    fam_ptb = {r["family"]: r.get("ptb") for r in _many(row, "pfam")}
    lines = []
    for fam in sorted(set(cur) | set(pot)):
        c, p = cur.get(fam, {}), pot.get(fam, {})
        lines.append(FamilyLine(
            family=fam, current=c.get("revenue_t12m") or p.get("current") or 0.0,
            revenue_prior=c.get("revenue_prior"),
            **{k: p.get(k) for k in ("potential", "low", "high", "whitespace", "whitespace_open",
                                     "whitespace_competitor", "share_of_wallet", "method",
                                     "peer_group", "low_confidence", "potential_model",
                                     "adjusted_by")},
            ptb=fam_ptb.get(fam), drivers=_json_list(p.get("drivers"))))
    return lines


def account_card(ws: Workspace, account_id: str,
                 snapshot: int | str | None = "latest") -> AccountCard:
    """The card of ``account_id`` as of ``snapshot``; :class:`NotFoundError` when unknown."""
    sid = ws.resolve_snapshot(snapshot)
    columns = _schema_columns(ws.con)
    snapshots = [tuple(r) for r in ws.con.execute(
        "SELECT snapshot_id, as_of FROM gm.snapshots ORDER BY snapshot_id").fetchall()]
    card = read_card(ws.con, columns, ws.snapshot_info(sid), account_id, snapshots,
                     extras=extra_names(columns("main", "accounts")))
    if card is None:
        near = close_matches(ws, sid, str(account_id))
        raise NotFoundError(
            f"no account {account_id!r} in snapshot {sid}",
            hint=("did you mean: " + ", ".join(near)) if near else
            "check the id with `growthmap summary`, or run again after loading the account")
    return card


def read_card(con: duckdb.DuckDBPyConnection, columns: Columns, info: dict[str, Any],
              account_id: str, snapshots: list[tuple[int, Any]], *, scope: Scope = None,
              extras: list[str] | None = None) -> AccountCard | None:
    """The card of ``account_id`` in the snapshot ``info`` describes (its gm.snapshots
    row), or ``None`` when the snapshot lacks it or ``scope`` hides it.

    With ``scope`` (``schema -> predicate``, see :mod:`growthmap.read.scope`) the card
    shows no more than the reader may see: a history point only for the snapshots in
    which the account was in the reader's book, similar accounts and the parent and
    group ids only when those are visible too.  Three queries, whatever the outputs.
    """
    sid = int(info["snapshot_id"])
    row = card_row(con, columns, sid, account_id, scope=scope, extras=extras)
    if row is None or not row["visible"]:
        return None
    av = _one(row, "av")
    pa_, seg, cs = _one(row, "pa"), _one(row, "seg"), _one(row, "cs")
    prop, icp, risk = _one(row, "prop"), _one(row, "icp"), _one(row, "risk")
    notes = [f"snapshot {sid} has no {table} for this account: fields left empty"
             for table, part in (("potential_account", pa_), ("segments", seg),
                                 ("propensity", prop), ("icp", icp), ("risk", risk))
             if not part]
    families = _families(row)
    competitors = [CompetitorHolding(family=r["family"], competitor=r["competitor"],
                                     held=r.get("held")) for r in _many(row, "wc")]
    similar_ids = [str(x) for x in _json_list(icp.get("similar_best"))]
    attributes = {**{k: av[k] for k in _ATTRS if av.get(k) is not None},
                  **{k: v for k, v in _one(row, "extras").items() if v is not None}}
    linked = [str(attributes[k]) for k in ("parent_id", "group_account_id")
              if attributes.get(k) and str(attributes[k]) != account_id]
    known = linked_rows(con, columns, sid, sorted({*similar_ids, *linked}), scope=scope)
    if scope is not None:
        similar_ids = [i for i in similar_ids if known.get(i, (None, False))[1]]
        for k in ("parent_id", "group_account_id"):
            v = attributes.get(k)
            if v and str(v) != account_id and not known.get(str(v), (None, False))[1]:
                del attributes[k]
    groups = _criteria_groups(info.get("config_json"))
    flags = [f for f in (cs.get("flags") or "").split("; ") if f]
    criteria = [CriterionScore(name=k[2:], group=groups.get(k[2:]), score=v,
                               missing=any(f.startswith(f"{k[2:]}: ") for f in flags))
                for k, v in cs.items() if k.startswith("c_")]
    peers = sorted({(f.method, f.peer_group) for f in families if f.method or f.peer_group},
                   key=str)
    pick = {**av, **pa_, **seg}
    score_notes, hidden = _score_notes(info.get("evaluations"))
    if "propensity" in hidden:  # no figure where the score knows nothing
        prop = {**prop, "ptb": None, "ptb_decile": None, "drivers": "[]"}
    if "risk" in hidden:
        risk = {**risk, "risk": None}
    history = [HistoryPoint(
        snapshot_id=h["snapshot_id"], as_of=h["as_of"], value=_clean(h["value"]),
        value_tier=h["value_tier"] or h["av_tier"], road=h["road"], tier=h["tier"],
        risk_readiness=h["risk_readiness"], care_model=h["care_model"])
        for h in history_rows(con, columns, account_id, snapshots, scope=scope)]
    return AccountCard(
        account_id=account_id, name=av.get("name"), snapshot_id=sid, as_of=info["as_of"],
        attributes=attributes,
        status=av.get("status"), value_tier=av.get("value_tier"), current=av.get("value"),
        revenue_t12m=av.get("revenue_t12m"), growth=av.get("growth"),
        potential=pa_.get("potential"), potential_low=pa_.get("low"),
        potential_high=pa_.get("high"), whitespace=pa_.get("whitespace"),
        potential_model=pa_.get("potential_model"),
        potential_adjusted_by=pa_.get("adjusted_by"),
        potential_adjusted_at=(str(pa_["adjusted_at"])[:10] if pa_.get("adjusted_at")
                               is not None else None),
        whitespace_open=_sum(f.whitespace_open for f in families),
        whitespace_competitor=_sum(f.whitespace_competitor for f in families),
        share_of_wallet=pa_.get("share_of_wallet"),
        **{k: pick.get(k) for k in ("value_band", "potential_band", "matrix_cell", "road",
                                     "risk_readiness", "tier", "priority_rank", "care_model",
                                     "coverage_role", "touches_per_year", "hours_per_touch",
                                     "next_best_offer", "nbo_score")},
        families=families, competitors=competitors,
        peers=[{"method": m, "peer_group": g} for m, g in peers],
        ptb=prop.get("ptb"), ptb_decile=prop.get("ptb_decile"),
        ptb_drivers=_json_list(prop.get("drivers")),
        icp_fit=icp.get("icp_fit"), is_best=icp.get("is_best"),
        similar_best=[SimilarAccount(account_id=i, name=known.get(i, (None,))[0])
                      for i in similar_ids],
        risk=risk.get("risk"), score_notes=score_notes,
        need=cs.get("need"), value_score=cs.get("value_score"),
        behaviour=cs.get("behaviour"), criteria=criteria,
        flags=flags,
        reasons=[r for r in (seg.get("reasons") or "").split("; ") if r],
        history=history, notes=notes)


def _parsed(text: Any) -> Any:
    """A JSON field of gm.snapshots, whether still text or already parsed."""
    return json.loads(text or "{}") if isinstance(text, str | None) else text


def _score_notes(evaluations: Any) -> tuple[list[str], set[str]]:
    """Sentences about the published PtB and risk, and the scores to leave empty."""
    from growthmap.quality import not_informative_sentence

    try:
        evs = _parsed(evaluations) or {}
    except ValueError:
        return [], set()
    notes, hidden = [], set()
    for model, what in (("propensity", "Propensity to buy"), ("risk", "Risk")):
        ev = evs.get(model) or {}
        if ev.get("not_informative"):
            hidden.add(model)
            notes.append(not_informative_sentence(what, ev["not_informative"]))
        pub = ev.get("published") or {}
        if pub.get("score", "model") != "model" and pub.get("sentence"):
            notes.append(pub["sentence"])
    return notes, hidden


def _sum(values: Any) -> float | None:
    vals = [v for v in values if v is not None]
    return float(sum(vals)) if vals else None


def _criteria_groups(config_json: Any) -> dict[str, str]:
    """Criterion name -> group, from the config the snapshot was run with."""
    try:
        crit = (_parsed(config_json) or {}).get("segments", {}).get("criteria", [])
    except (ValueError, AttributeError):
        return {}
    return {c.get("name"): c.get("group") for c in crit if isinstance(c, dict)}
