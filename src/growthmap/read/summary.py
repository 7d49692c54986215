"""What ``growthmap summary`` says about a snapshot, as plain data (the CLI renders it).

It leads with the thesis of the product — value *and* potential: the headline sentence
("today N customers buy at least X; M accounts have the potential to"), the value ×
potential matrix, where the whitespace is (by product family and by territory), the
ROAD and Tier counts, and the ten accounts to call first with why.  The value-only
figures (T12M, concentration, A–D tiers) follow.  Every figure is read through the
scoped read layer (:mod:`growthmap.read.views`) that the report and the dashboard use.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from growthmap.workspace import Workspace

__all__ = ["Headline", "headline"]

#: Accounts listed under "call first".
CALL_FIRST = 10


@dataclass
class Headline:
    """The figures ``growthmap summary`` prints, thesis first.

    ``thesis`` holds the headline sentence(s); ``matrix`` the value-band rows with one
    column per potential band; ``sections`` further titled tables (whitespace by family
    and by territory, ROAD, tiers, accounts to call first) in the order shown.
    """

    snapshot_id: int
    as_of: Any
    figures: dict[str, Any]
    tiers: list[dict[str, Any]]
    sentences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    thesis: list[str] = field(default_factory=list)
    matrix: list[dict[str, Any]] = field(default_factory=list)
    currency: str = ""
    thresholds: dict[str, Any] = field(default_factory=dict)


def _records(df: Any, columns: dict[str, str], limit: int | None = None) -> list[dict]:
    """Rows of ``df`` with the columns renamed for display (absent ones skipped)."""
    if df is None or not len(df):
        return []
    keep = {c: label for c, label in columns.items() if c in df.columns}
    rows = df[list(keep)].rename(columns=keep)
    if limit is not None:
        rows = rows.head(limit)
    return [{k: (None if v != v else v) if isinstance(v, float) else v
             for k, v in r.items()} for r in rows.to_dict("records")]


def _matrix(cells: Any) -> list[dict[str, Any]]:
    """Value bands (rows, highest first) × potential bands (columns): accounts per cell."""
    if cells is None or not len(cells):
        return []
    p_bands = list(dict.fromkeys(cells.sort_values("potential_order")["potential_band"]))
    out = []
    for vb, grp in sorted(cells.groupby("value_band", sort=False),
                          key=lambda kv: -kv[1]["value_order"].iloc[0]):
        row: dict[str, Any] = {"value \\ potential": vb}
        got = dict(zip(grp["potential_band"], grp["accounts"], strict=True))
        for pb in p_bands:
            row[pb] = int(got.get(pb, 0))
        out.append(row)
    return out


def _call_first(da: Any) -> list[dict[str, Any]]:
    """The ten accounts the segments stage ranks first (its priority), with its reasons."""
    if "priority_rank" not in da.columns("segments"):
        return []
    cols = set(da.columns("segments"))
    pick = [c for c in ("account_id", "name", "tier", "road", "value", "whitespace",
                        "next_best_offer", "reasons") if c in cols]
    df = da.sql(f"SELECT {', '.join(pick)} FROM {da.schema}.segments "
                f"ORDER BY priority_rank NULLS LAST, account_id LIMIT {CALL_FIRST}")
    if "reasons" in df.columns:  # the first two reasons (tier and ROAD); the card has all
        df["reasons"] = df["reasons"].fillna("").map(
            lambda r: "; ".join(p.split("(")[0].strip() for p in str(r).split(";")[:2]))
    return _records(df, {"account_id": "account", "name": "name", "tier": "tier",
                         "road": "ROAD", "value": "value", "whitespace": "whitespace",
                         "next_best_offer": "next best offer", "reasons": "why"})


def headline(ws: Workspace, snapshot: int | str | None = "latest") -> Headline:
    """Read a snapshot's summary: the thesis first, then value and concentration."""
    from growthmap.read import views
    from growthmap.read.access import SYSTEM, DataAccess

    info = ws.snapshot_info(snapshot)
    sid = info["snapshot_id"]
    da = DataAccess(ws.con, SYSTEM, sid)
    config = json.loads(info.get("config_json") or "{}")
    evaluations = json.loads(info.get("evaluations") or "{}")
    pot = evaluations.get("potential") or {}
    th = pot.get("thresholds") or {}
    currency = th.get("currency") or (config.get("run") or {}).get("currency", "")
    h = views.headline(da)
    figures = {
        "accounts": h["accounts"], "customers": h["customers"], "prospects": h["prospects"],
        "value": h["value"] or 0.0, "arpa": h["arpa"], "gini": h["gini"],
        "top20_share": h["top20_share"], "hhi": h["hhi"], "potential": h.get("potential"),
        "whitespace": h.get("whitespace"), "share_of_wallet": h.get("share_of_wallet"),
    }
    tiers = views.value_tiers(da)
    thesis = [pot["headline"]] if pot.get("headline") else []
    sections: dict[str, list[dict[str, Any]]] = {}
    fam = views.whitespace_by_family(da)
    sections["Whitespace by product family"] = _records(fam, {
        "family": "family", "accounts": "accounts", "current": "current",
        "potential": "potential", "whitespace": "whitespace"})
    terr, key, title = views.territories(da), "territory_id", "Whitespace by territory"
    for alt in ("region", "country"):  # no territories: the regions, else the countries
        if (terr is None or not len(terr) or terr[key].isna().all()) \
                and alt in da.columns("account_value"):
            terr, key, title = views._rollup(da, alt), alt, f"Whitespace by {alt}"
    if terr is not None and "whitespace" in terr.columns:
        terr = terr.sort_values("whitespace", ascending=False)
    sections[title] = _records(terr, {
        key: key.removesuffix("_id"), "accounts": "accounts", "current": "current",
        "potential": "potential", "whitespace": "whitespace"}, limit=10)
    sections["ROAD (current value x whitespace)"] = _records(views.road_counts(da), {
        "road": "ROAD", "accounts": "accounts", "customers": "customers", "value": "value",
        "whitespace": "whitespace"})
    sections["Tiers (value and need)"] = _records(views.tier_counts(da), {
        "tier": "tier", "accounts": "accounts", "customers": "customers", "value": "value",
        "whitespace": "whitespace"})
    sections["Accounts to call first"] = _call_first(da)
    from growthmap.scores.evaluate import headline_sentences

    return Headline(
        snapshot_id=sid, as_of=info["as_of"], figures=figures,
        tiers=_records(tiers, {"tier": "tier", "accounts": "accounts",
                               "customers": "customers", "value": "value", "share": "share"}),
        sentences=views.sentences(da, currency) + headline_sentences(evaluations),
        notes=json.loads(info["notes"] or "[]"),
        sections=sections, thesis=thesis, matrix=_matrix(views.matrix_cells(da)),
        currency=currency, thresholds=th)
