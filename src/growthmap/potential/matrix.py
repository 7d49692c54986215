"""Bands, the value x potential matrix, ROAD, markets and the headline sentence.

All of it is rule work on the per-account totals of the potential stage, written as
Ibis expressions so that it runs where the data is.  Thresholds are resolved once
(:func:`resolve_thresholds`) into plain amounts — a quantile setting becomes the amount
it stands for in this run — so every band and quadrant can be explained with a number.

ROAD, on current value x whitespace:

* **Retain** — high value now, little headroom: protect it;
* **Develop** — high value now and much headroom: grow the relationship;
* **Acquire** — low value now (prospects included) but much headroom: win it;
* **Opportunistic** — low value, little headroom: serve efficiently.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np

__all__ = [
    "MARKETS",
    "ROAD",
    "Thresholds",
    "account_bands",
    "band",
    "headline",
    "markets",
    "matrix",
    "resolve_thresholds",
    "road",
]

ROAD = ("Retain", "Develop", "Acquire", "Opportunistic")
MARKETS = ("addressable", "obtainable", "active")


@dataclass
class Thresholds:
    """The amounts a run's bands and quadrants were cut at."""

    value_edges: list[float]
    potential_edges: list[float]
    labels: list[str]
    road_value: float
    road_whitespace: float
    obtainable_potential: float
    headline: float
    currency: str = "EUR"
    sources: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "value_edges", "potential_edges", "labels", "road_value", "road_whitespace",
            "obtainable_potential", "headline", "currency", "sources")}


def _scalar(expr: ir.Scalar, backend: Any) -> float:
    v = backend.execute(expr) if backend is not None else expr.execute()
    try:
        return 0.0 if v is None or v != v else float(v)
    except TypeError:
        return 0.0


def resolve_thresholds(acc: ir.Table, cfg: Any, backend: Any, currency: str = "EUR"
                       ) -> Thresholds:
    """Turn the config's amounts or quantiles into this run's amounts.

    ``acc`` needs current, potential, whitespace and status.  Quantiles of current value
    are over customers, those of potential and whitespace over all accounts.
    """
    cust = acc.filter(acc.status == "customer")
    src: dict[str, str] = {}
    if cfg.band_method == "quantile":
        v_edges = [_scalar(cust.current.quantile(q), backend) for q in cfg.band_quantiles]
        p_edges = [_scalar(acc.potential.quantile(q), backend) for q in cfg.band_quantiles]
        src["bands"] = f"quantiles {cfg.band_quantiles}"
    else:
        v_edges, p_edges = list(cfg.value_bands), list(cfg.potential_bands)
        src["bands"] = "amounts"
        fixed = getattr(cfg, "model_fields_set", set())
        changed = []
        if "value_bands" not in fixed and _leaves_a_band_empty(cust.current, v_edges, backend) \
                and (new := _round_edges(cust.current, cfg.band_quantiles, backend)):
            v_edges = new
            changed.append("value")
        if "potential_bands" not in fixed and _leaves_a_band_empty(
                acc.potential, p_edges, backend) \
                and (new := _round_edges(acc.potential, cfg.band_quantiles, backend)):
            p_edges = new
            changed.append("potential")
        if changed:
            src["bands"] = (
                f"round amounts near the {'/'.join(f'{q:.0%}' for q in cfg.band_quantiles)} "
                f"quantiles for {' and '.join(changed)}: the default amounts "
                f"{' / '.join(f'{e:,.0f}' for e in cfg.value_bands)} left a band empty "
                "(set value_bands / potential_bands to fix them)")
    if cfg.road_value_amount is not None:
        rv = float(cfg.road_value_amount)
        src["road_value"] = "amount"
    else:
        rv = _scalar(cust.current.quantile(cfg.road_value_quantile), backend)
        src["road_value"] = f"quantile {cfg.road_value_quantile} of customers' value"
    if cfg.road_whitespace_amount is not None:
        rw = float(cfg.road_whitespace_amount)
        src["road_whitespace"] = "amount"
    else:
        rw = _scalar(acc.whitespace.quantile(cfg.road_whitespace_quantile), backend)
        src["road_whitespace"] = f"quantile {cfg.road_whitespace_quantile} of whitespace"
    if cfg.obtainable_min_potential is not None:
        ob = float(cfg.obtainable_min_potential)
        src["obtainable"] = "amount"
    else:
        addr = acc.filter(acc.potential > 0)
        ob = _scalar(addr.potential.median(), backend)
        src["obtainable"] = "median potential of addressable accounts"
    hl = cfg.headline_threshold if cfg.headline_threshold is not None else v_edges[0]
    return Thresholds(v_edges, p_edges, list(cfg.band_labels), rv, rw, ob, float(hl),
                      currency, src)


def _leaves_a_band_empty(x: ir.NumericColumn, edges: list[float], backend: Any) -> bool:
    """Whether cutting ``x`` at ``edges`` leaves some band with nobody in it."""
    bounds = [-np.inf, *edges, np.inf]
    for lo, hi in itertools.pairwise(bounds):
        cond = x >= lo if np.isfinite(lo) else x.notnull()
        if np.isfinite(hi):
            cond = cond & (x < hi)
        if _scalar(cond.sum(), backend) == 0:
            return True
    return False


def nice(x: float) -> float:
    """The round amount nearest ``x`` on the 1-2-2.5-5 series (23,456 -> 25,000)."""
    if not x > 0:
        return 0.0
    exp = math.floor(math.log10(x))
    steps = [1, 2, 2.5, 5, 10]
    return float(min((s * 10 ** exp for s in steps), key=lambda v: abs(math.log(v / x))))


def _round_edges(x: ir.NumericColumn, quantiles: list[float], backend: Any
                 ) -> list[float] | None:
    """Round edges near the quantiles of ``x``'s positive values, strictly increasing."""
    edges: list[float] = []
    for q in quantiles:
        v = nice(_scalar(x.quantile(q), backend))
        if v <= 0:
            return None
        if edges and v <= edges[-1]:
            v = nice(edges[-1] * 2.2)
        edges.append(v)
    return edges


def band(x: ir.NumericValue, edges: list[float], labels: list[str]) -> ir.StringValue:
    """The label of the band ``x`` falls in: ``labels[k]`` from ``edges[k-1]`` up."""
    cases = [(x >= e, labels[k + 1]) for k, e in reversed(list(enumerate(edges)))]
    return ibis.cases(*cases, else_=labels[0])


def road(current: ir.NumericValue, whitespace: ir.NumericValue, value_threshold: float,
         whitespace_threshold: float) -> ir.StringValue:
    """ROAD quadrant from current value and whitespace (zero is never 'high')."""
    hv = (current > 0) & (current >= value_threshold)
    hw = (whitespace > 0) & (whitespace >= whitespace_threshold)
    return ibis.cases((hv & hw, "Develop"), (hv, "Retain"), (hw, "Acquire"),
                      else_="Opportunistic")


def account_bands(acc: ir.Table, th: Thresholds) -> ir.Table:
    """Add value_band, potential_band, matrix_cell and road to the account totals."""
    vb = band(acc.current, th.value_edges, th.labels)
    pb = band(acc.potential, th.potential_edges, th.labels)
    t = acc.mutate(value_band=vb, potential_band=pb)
    t = t.mutate(matrix_cell=t.value_band.concat("/", t.potential_band),
                 road=road(t.current, t.whitespace, th.road_value, th.road_whitespace))
    reviewed = [c for c in ("potential_model", "adjusted_by", "adjusted_at") if c in t.columns]
    return t.select("account_id", "current", "potential", "low", "high", "whitespace",
                    "share_of_wallet", "value_band", "potential_band", "matrix_cell", "road",
                    "low_confidence", *reviewed, "status")


def matrix(t: ir.Table) -> ir.Table:
    """Counts and sums per value band x potential band cell."""
    out = t.group_by(["value_band", "potential_band"]).aggregate(
        accounts=t.count(),
        customers=(t.status == "customer").sum().cast("int64"),
        current=t.current.sum(),
        potential=t.potential.sum(),
        whitespace=t.whitespace.sum(),
    )
    return out.order_by(["value_band", "potential_band"])


def markets(t: ir.Table, th: Thresholds | None, icp: ir.Table | None = None,
            min_fit: float = 50.0) -> ir.Table:
    """Addressable (any potential), obtainable (good enough fit or potential), active."""
    addressable = t.potential > 0
    if icp is not None and "icp_fit" in icp.columns:
        fit = icp.select(_acc=icp.account_id, _fit=icp.icp_fit)
        t = t.left_join(fit, t.account_id == fit._acc).drop("_acc")
        obtainable = addressable & (t._fit.fill_null(0) >= min_fit)
        addressable = t.potential > 0
    else:
        obtainable = addressable & (t.potential >= th.obtainable_potential)
    parts = []
    for name, cond in (("addressable", addressable), ("obtainable", obtainable),
                       ("active", t.status == "customer")):
        s = t.filter(cond)
        parts.append(s.aggregate(
            accounts=s.count(), current=s.current.sum().fill_null(0.0),
            potential=s.potential.sum().fill_null(0.0),
            whitespace=s.whitespace.sum().fill_null(0.0),
        ).mutate(market=ibis.literal(name)))
    out = parts[0].union(parts[1]).union(parts[2])
    order = ibis.cases((out.market == "addressable", 0), (out.market == "obtainable", 1),
                       else_=2)
    return out.order_by(order).select("market", "accounts", "current", "potential",
                                      "whitespace")


def headline(t: ir.Table, th: Thresholds, backend: Any) -> str:
    """'Today N customers buy at least X a year; M accounts have the potential to.'"""
    x = th.headline
    now = int(_scalar(((t.status == "customer") & (t.current >= x)).sum(), backend))
    could = int(_scalar((t.potential >= x).sum(), backend))
    amount = f"{x:,.0f} {th.currency}".strip()
    return (f"Today {now:,} customers buy at least {amount} a year; {could:,} accounts have "
            f"the potential to, {max(could - now, 0):,} more than today.")
