"""Headline figures of a snapshot, as plain data (the CLI and the report render them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from growthmap.workspace import Workspace

__all__ = ["Headline", "headline"]


@dataclass
class Headline:
    """The figures ``growthmap summary`` prints, grouped into titled tables."""

    snapshot_id: int
    as_of: Any
    figures: dict[str, Any]
    tiers: list[dict[str, Any]]
    sentences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def headline(ws: Workspace, snapshot: int | str | None = "latest") -> Headline:
    """Read a snapshot's headline figures: accounts, value, concentration, tiers."""
    import json

    info = ws.snapshot_info(snapshot)
    sid = info["snapshot_id"]
    q = ws.con.execute
    (n, cust, value, arpa) = q(
        f"SELECT count(*), count(*) FILTER (is_customer), sum(value), "
        f"sum(value) FILTER (is_customer) / nullif(count(*) FILTER (is_customer), 0) "
        f"FROM snap_{sid}.account_value").fetchall()[0]
    conc = q(f"SELECT gini, top20_share, hhi FROM snap_{sid}.concentration "
             "WHERE dimension = 'all'").fetchall()
    gini, top20, hhi = conc[0] if conc else (None, None, None)
    tiers = q(
        f"SELECT value_tier, count(*) AS accounts, count(*) FILTER (is_customer) AS customers, "
        f"sum(value) AS value, sum(value) / nullif(sum(sum(value)) OVER (), 0) AS share "
        f"FROM snap_{sid}.account_value GROUP BY value_tier ORDER BY value_tier").fetchall()
    figures = {
        "accounts": n, "customers": cust, "prospects": n - cust, "value": value or 0.0,
        "arpa": arpa, "gini": gini, "top20_share": top20, "hhi": hhi,
    }
    sentences = []
    if top20 is not None:
        sentences.append(
            f"The top 20% of customers bring {top20:.0%} of current value (Gini {gini:.2f}).")
    from growthmap.scores.evaluate import headline_sentences

    sentences += headline_sentences(json.loads(info["evaluations"] or "{}"))
    return Headline(
        snapshot_id=sid, as_of=info["as_of"], figures=figures,
        tiers=[dict(zip(["tier", "accounts", "customers", "value", "share"], r, strict=True))
               for r in tiers],
        sentences=sentences, notes=json.loads(info["notes"] or "[]"))
