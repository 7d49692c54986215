"""Every growthmap chart, as Altair (Vega-Lite) specs built from plain frames.

Each function takes the frame a view returns (see :mod:`growthmap.read.views`) and
returns an ``alt.Chart`` (or a layered chart); it never queries anything itself, so
the dashboard, the HTML report and ``growthmap chart`` draw the very same picture.
Data is inlined as values (already aggregated or sampled server-side, so a chart
stays light at a million accounts); :func:`to_svg` and :func:`to_png` render a chart
without a browser through vl-convert, for the offline report and for slides.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd
from altair.utils.schemapi import debug_mode

__all__ = [
    "ROAD_COLORS",
    "TIER_COLORS",
    "markets_chart",
    "matrix_heatmap",
    "matrix_scatter",
    "migration_chart",
    "pareto_chart",
    "rep_chart",
    "road_chart",
    "tier_chart",
    "to_png",
    "to_spec",
    "to_svg",
    "value_tier_chart",
    "whitespace_family_chart",
    "whitespace_territory_chart",
]

ROAD_COLORS = {"Retain": "#2e7d32", "Develop": "#1565c0", "Acquire": "#ef6c00",
               "Opportunistic": "#9e9e9e"}
TIER_COLORS = {"1a": "#0d47a1", "1b": "#1976d2", "2": "#64b5f6", "3": "#bbdefb",
               "A": "#0d47a1", "B": "#1976d2", "C": "#64b5f6", "D": "#bbdefb"}
ACCENT = "#1565c0"
MONEY = ",.3~s"  # 1.2M, 350k: short money on axes and labels
WIDTH = 560
#: Reps named in the rep chart (the largest books); every rep still gets a dot.
REP_LABELS = 40


def _values(df: pd.DataFrame | Sequence[Mapping[str, Any]]) -> alt.Data:
    """Inline data as JSON-able values (NaN -> null, dates -> ISO text)."""
    rows = df.to_dict("records") if isinstance(df, pd.DataFrame) else list(df)
    clean = []
    for row in rows:
        out = {}
        for k, v in row.items():
            if v is None or v is pd.NaT or (isinstance(v, float) and not math.isfinite(v)):
                out[k] = None
            elif hasattr(v, "isoformat"):
                out[k] = v.isoformat()
            elif hasattr(v, "item"):
                item = v.item()
                out[k] = None if isinstance(item, float) and not math.isfinite(item) else item
            else:
                out[k] = v
        clean.append(out)
    # not validated: checking tens of thousands of plain values against the schema
    # (what Altair does for every new object) took seconds at a million accounts
    with debug_mode(False):
        return alt.Data(values=clean)


def _title(text: str, subtitle: str | None = None) -> alt.TitleParams:
    return alt.TitleParams(text, subtitle=subtitle or alt.Undefined, anchor="start",
                           fontSize=15, subtitleColor="#555")


def _finish(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    return chart.configure_view(stroke=None).configure_axis(
        labelFontSize=11, titleFontSize=12, gridColor="#eee").configure_legend(
        labelFontSize=11, titleFontSize=12)


def pareto_chart(points: pd.DataFrame, figures: Mapping[str, Any] | None = None,
                 width: int = WIDTH) -> alt.TopLevelMixin:
    """The Pareto curve: cumulative share of value against share of customers."""
    f = dict(figures or {})
    sub = None
    if f.get("top20_share") is not None:
        sub = (f"Top 20% of customers hold {f['top20_share']:.0%} of value · Gini "
               f"{f['gini']:.2f} · HHI {f['hhi']:.3f}")
    pts = pd.concat([pd.DataFrame({"share_of_customers": [0.0], "cum_share_of_value": [0.0]}),
                     points[["share_of_customers", "cum_share_of_value"]]], ignore_index=True)
    x = alt.X("share_of_customers:Q", title="share of customers (largest first)",
              axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]))
    y = alt.Y("cum_share_of_value:Q", title="cumulative share of value",
              axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]))
    curve = alt.Chart(_values(pts)).mark_area(
        line={"color": ACCENT, "strokeWidth": 2.5}, color=ACCENT, opacity=0.12).encode(
        x=x, y=y, tooltip=[alt.Tooltip("share_of_customers:Q", format=".0%"),
                           alt.Tooltip("cum_share_of_value:Q", format=".1%")])
    diag = alt.Chart(_values([{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 1.0}])).mark_line(
        strokeDash=[4, 4], color="#999").encode(x="x:Q", y="y:Q")
    layers = [curve, diag]
    if f.get("top20_share") is not None:
        mark = _values([{"x": 0.2, "y": float(f["top20_share"]),
                         "label": f"top 20% → {f['top20_share']:.0%}"}])
        layers.append(alt.Chart(mark).mark_rule(color="#c62828", strokeDash=[2, 2]).encode(
            x="x:Q"))
        layers.append(alt.Chart(mark).mark_point(color="#c62828", filled=True, size=60).encode(
            x="x:Q", y="y:Q"))
        layers.append(alt.Chart(mark).mark_text(align="left", dx=8, dy=12, color="#c62828",
                                                fontWeight="bold").encode(
            x="x:Q", y="y:Q", text="label:N"))
    return _finish(alt.layer(*layers).properties(
        width=width, height=int(width * 0.6), title=_title("Where value is concentrated", sub)))


def value_tier_chart(tiers: pd.DataFrame, width: int = WIDTH) -> alt.TopLevelMixin:
    """Share of value and number of accounts per A/B/C/D value tier."""
    base = alt.Chart(_values(tiers)).encode(
        x=alt.X("tier:N", title="value tier", sort=["A", "B", "C", "D"],
                axis=alt.Axis(labelAngle=0)))
    bars = base.mark_bar(color=ACCENT, cornerRadiusTopLeft=3, cornerRadiusTopRight=3).encode(
        y=alt.Y("share:Q", title="share of value", axis=alt.Axis(format="%")),
        color=alt.Color("tier:N", legend=None, scale=alt.Scale(
            domain=list("ABCD"), range=[TIER_COLORS[t] for t in "ABCD"])),
        tooltip=["tier:N", alt.Tooltip("accounts:Q", format=","),
                 alt.Tooltip("customers:Q", format=","), alt.Tooltip("value:Q", format=",.0f"),
                 alt.Tooltip("share:Q", format=".1%")])
    text = base.mark_text(dy=-7, color="#333").encode(
        y="share:Q", text=alt.Text("accounts:Q", format=",.0f"))
    return _finish(alt.layer(bars, text).properties(
        width=width, height=int(width * 0.45),
        title=_title("Value tiers", "bar = share of value, label = number of accounts")))


def _road_scale(domain: Sequence[str]) -> alt.Scale:
    dom = [d for d in ROAD_COLORS if d in set(domain)] + sorted(
        d for d in set(domain) if d not in ROAD_COLORS)
    return alt.Scale(domain=dom, range=[ROAD_COLORS.get(d, "#6a1b9a") for d in dom])


def matrix_scatter(sample: pd.DataFrame, edges: Mapping[str, Sequence[float]] | None = None,
                   *, total: int | None = None, width: int = WIDTH) -> alt.TopLevelMixin:
    """Value x potential, one dot per account, on log axes with the band limits drawn.

    ``sample`` is already bounded (see ``views.matrix_sample``); zero values sit on the
    axis thanks to a symmetric-log scale.  ``total`` says how many accounts it stands for.
    """
    color_col = "road" if "road" in sample.columns else None
    scale = alt.Scale(type="symlog", constant=1000)
    tooltip: list[Any] = [f"{c}:N" for c in ("account_id", "name", "road", "matrix_cell")
                          if c in sample]
    tooltip += [alt.Tooltip("current:Q", format=",.0f"), alt.Tooltip("potential:Q", format=",.0f")]
    enc: dict[str, Any] = {
        "x": alt.X("current:Q", title="current value (T12M, log scale)", scale=scale,
                   axis=alt.Axis(format=MONEY)),
        "y": alt.Y("potential:Q", title="potential (log scale)", scale=scale,
                   axis=alt.Axis(format=MONEY)),
        "tooltip": tooltip,
    }
    if color_col:
        enc["color"] = alt.Color("road:N", title="ROAD",
                                 scale=_road_scale(sample["road"].dropna().astype(str)))
    dots = alt.Chart(_values(sample)).mark_circle(size=22, opacity=0.55).encode(**enc)
    layers: list[alt.Chart] = [dots]
    e = dict(edges or {})
    if e.get("current"):
        layers.append(alt.Chart(_values([{"v": v} for v in e["current"]])).mark_rule(
            color="#555", strokeDash=[5, 3]).encode(x="v:Q"))
    if e.get("potential"):
        layers.append(alt.Chart(_values([{"v": v} for v in e["potential"]])).mark_rule(
            color="#555", strokeDash=[5, 3]).encode(y="v:Q"))
    shown = len(sample)
    sub = (f"{shown:,} of {total:,} accounts shown (largest potential first, the rest a fixed "
           "sample)" if total and total > shown else f"{shown:,} accounts") + \
        "; dashed lines = band limits"
    return _finish(alt.layer(*layers).properties(
        width=width, height=int(width * 0.75), title=_title("Value × potential", sub)))


def matrix_heatmap(cells: pd.DataFrame, width: int = WIDTH) -> alt.TopLevelMixin:
    """Accounts and value per value band x potential band cell."""
    df = cells.copy()
    df["label"] = [f"{int(a):,} acc · {_short(c)}" for a, c in zip(df["accounts"],
                                                                  df["current"], strict=True)]
    v_order = list(df.sort_values("value_order")["value_band"].drop_duplicates())
    p_order = list(df.sort_values("potential_order", ascending=False)["potential_band"]
                   .drop_duplicates())
    base = alt.Chart(_values(df)).encode(
        x=alt.X("value_band:N", title="current value band", sort=v_order,
                axis=alt.Axis(labelAngle=0)),
        y=alt.Y("potential_band:N", title="potential band", sort=p_order))
    rect = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("accounts:Q", title="accounts", scale=alt.Scale(scheme="blues")),
        tooltip=["value_band:N", "potential_band:N", alt.Tooltip("accounts:Q", format=","),
                 alt.Tooltip("customers:Q", format=","),
                 alt.Tooltip("current:Q", format=",.0f"),
                 alt.Tooltip("potential:Q", format=",.0f"),
                 alt.Tooltip("whitespace:Q", format=",.0f")])
    text = base.mark_text(fontSize=11).encode(
        text="label:N",
        color=alt.condition(alt.datum.accounts > float(df["accounts"].max()) * 0.55,
                            alt.value("white"), alt.value("#222")))
    return _finish(alt.layer(rect, text).properties(
        width=width, height=int(width * 0.6),
        title=_title("Value × potential matrix", "accounts and current value per cell")))


def _short(x: Any) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    x = float(x)
    for div, unit in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.1f}{unit}"
    return f"{x:.0f}"


def road_chart(road: pd.DataFrame, width: int = WIDTH) -> alt.TopLevelMixin:
    """Accounts per ROAD quadrant, with whitespace in the labels."""
    df = road.copy()
    df["label"] = [f"{int(a):,} · ws {_short(w)}" for a, w in
                   zip(df["accounts"], df["whitespace"], strict=True)]
    order = [d for d in ROAD_COLORS if d in set(df["road"])]
    order += sorted(set(df["road"]) - set(order))
    base = alt.Chart(_values(df)).encode(y=alt.Y("road:N", title=None, sort=order))
    bars = base.mark_bar(cornerRadiusEnd=3).encode(
        x=alt.X("accounts:Q", title="accounts"),
        color=alt.Color("road:N", legend=None, scale=_road_scale(df["road"])),
        tooltip=["road:N", alt.Tooltip("accounts:Q", format=","),
                 alt.Tooltip("customers:Q", format=","), alt.Tooltip("value:Q", format=",.0f"),
                 alt.Tooltip("whitespace:Q", format=",.0f")])
    text = base.mark_text(align="left", dx=4, color="#333").encode(x="accounts:Q", text="label:N")
    return _finish(alt.layer(bars, text).properties(
        width=width - 120, height=34 * max(len(df), 1),
        title=_title("ROAD: what to do with each account",
                     "Retain, Develop, Acquire, Opportunistic; ws = whitespace")))


def tier_chart(tiers: pd.DataFrame, width: int = WIDTH) -> alt.TopLevelMixin:
    """Accounts and value per tier 1a / 1b / 2 / 3."""
    order = ["1a", "1b", "2", "3"]
    order += sorted(set(tiers["tier"]) - set(order))
    df = tiers.copy()
    df["label"] = [f"{int(a):,} · {_short(v)}" for a, v in zip(df["accounts"], df["value"],
                                                                strict=True)]
    base = alt.Chart(_values(df)).encode(x=alt.X("tier:N", title="tier", sort=order,
                                                 axis=alt.Axis(labelAngle=0)))
    bars = base.mark_bar(cornerRadiusTopLeft=3, cornerRadiusTopRight=3).encode(
        y=alt.Y("accounts:Q", title="accounts"),
        color=alt.Color("tier:N", legend=None, scale=alt.Scale(
            domain=order, range=[TIER_COLORS.get(t, "#90a4ae") for t in order])),
        tooltip=["tier:N", alt.Tooltip("accounts:Q", format=","),
                 alt.Tooltip("value:Q", format=",.0f"),
                 alt.Tooltip("whitespace:Q", format=",.0f")])
    text = base.mark_text(dy=-7, color="#333").encode(y="accounts:Q", text="label:N")
    return _finish(alt.layer(bars, text).properties(
        width=width, height=int(width * 0.45),
        title=_title("Tiers", "label = accounts · current value")))


def whitespace_family_chart(fam: pd.DataFrame, width: int = WIDTH) -> alt.TopLevelMixin:
    """Whitespace per product family, split into open and competitor-held when known."""
    if {"whitespace_open", "whitespace_competitor"} <= set(fam.columns):
        long = fam.melt(id_vars=["family"], value_vars=["whitespace_open",
                                                        "whitespace_competitor"],
                        var_name="kind", value_name="amount")
        long["kind"] = long["kind"].map({"whitespace_open": "open",
                                         "whitespace_competitor": "held by a competitor"})
        color = alt.Color("kind:N", title=None, legend=alt.Legend(orient="bottom"),
                          scale=alt.Scale(domain=["open", "held by a competitor"],
                                          range=[ACCENT, "#ef9a9a"]))
    else:
        long = fam.assign(kind="whitespace", amount=fam.get("whitespace", fam.get("potential")))
        color = alt.value(ACCENT)
    order = list(fam["family"])
    chart = alt.Chart(_values(long[["family", "kind", "amount"]])).mark_bar().encode(
        y=alt.Y("family:N", title=None, sort=order),
        x=alt.X("amount:Q", title="whitespace", axis=alt.Axis(format=MONEY), stack=True),
        color=color,
        tooltip=["family:N", "kind:N", alt.Tooltip("amount:Q", format=",.0f")])
    return _finish(chart.properties(width=width - 140, height=26 * max(len(order), 1),
                                    title=_title("Whitespace by product family")))


def whitespace_territory_chart(terr: pd.DataFrame, top: int = 25,
                               width: int = WIDTH) -> alt.TopLevelMixin:
    """Current value and whitespace per territory (the ``top`` largest by whitespace)."""
    label = "territory_name" if "territory_name" in terr.columns else "territory_id"
    df = terr.copy()
    df["territory"] = df[label].fillna(df["territory_id"]).fillna("(none)").astype(str)
    has_ws = "whitespace" in df.columns and df["whitespace"].notna().any()
    key = "whitespace" if has_ws else "current"
    df = df.sort_values(key, ascending=False).head(top)
    value_vars = ["current", "whitespace"] if has_ws else ["current"]
    long = df.melt(id_vars=["territory"], value_vars=value_vars, var_name="kind",
                   value_name="amount")
    chart = alt.Chart(_values(long)).mark_bar().encode(
        y=alt.Y("territory:N", title=None, sort=list(df["territory"])),
        x=alt.X("amount:Q", title="amount", axis=alt.Axis(format=MONEY), stack=True),
        color=alt.Color("kind:N", title=None, legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=["current", "whitespace"],
                                        range=["#90caf9", ACCENT])),
        tooltip=["territory:N", "kind:N", alt.Tooltip("amount:Q", format=",.0f")])
    title = "Current value and whitespace by territory" if has_ws else \
        "Current value by territory"
    return _finish(chart.properties(width=width - 150, height=22 * max(len(df), 1),
                                    title=_title(title)))


def rep_chart(reps: pd.DataFrame, width: int = WIDTH) -> alt.TopLevelMixin:
    """Each rep's book potential against attainment (quota attainment when quotas exist,
    else current value), dot size = accounts in the book."""
    df = reps.copy()
    df["rep"] = (df["rep_name"] if "rep_name" in df else df["rep_id"]).fillna(
        df["rep_id"]).fillna("(unowned)").astype(str)
    has_quota = "attainment" in df.columns and df["attainment"].notna().any()
    y_col, y_title, y_fmt = (("attainment", "attainment (booked in the quota period / quota)",
                              "%")
                             if has_quota else ("current", "current value (T12M)", MONEY))
    x_col = "potential" if "potential" in df.columns and df["potential"].notna().any() \
        else "accounts"
    tooltip = ["rep:N", alt.Tooltip("accounts:Q", format=","),
               alt.Tooltip("current:Q", format=",.0f")]
    if x_col == "potential":
        tooltip.append(alt.Tooltip("potential:Q", format=",.0f"))
    if has_quota:
        tooltip += [alt.Tooltip("quota:Q", format=",.0f"),
                    alt.Tooltip("attainment:Q", format=".0%")]
    base = alt.Chart(_values(df)).encode(
        x=alt.X(f"{x_col}:Q", title="book potential" if x_col == "potential" else "accounts",
                axis=alt.Axis(format=MONEY)),
        y=alt.Y(f"{y_col}:Q", title=y_title, axis=alt.Axis(format=y_fmt)))
    dots = base.mark_circle(color=ACCENT, opacity=0.7).encode(
        size=alt.Size("accounts:Q", title="accounts", scale=alt.Scale(range=[40, 500]),
                      legend=alt.Legend(orient="bottom")),
        tooltip=tooltip)
    # name the largest books only: thousands of labels are unreadable, and drawing them
    # was most of the report's SVG rendering at a million accounts
    named = df.nlargest(REP_LABELS, x_col) if len(df) > REP_LABELS else df
    text = alt.Chart(_values(named)).mark_text(
        align="left", dx=8, fontSize=10, color="#444").encode(
        x=f"{x_col}:Q", y=f"{y_col}:Q", text="rep:N")
    layers = [dots, text]
    if has_quota:
        layers.append(alt.Chart(_values([{"y": 1.0}])).mark_rule(
            color="#c62828", strokeDash=[4, 4]).encode(y="y:Q"))
    return _finish(alt.layer(*layers).properties(
        width=width, height=int(width * 0.6),
        title=_title("Reps: potential vs attainment",
                     "dot size = accounts in the book" +
                     ("; red line = quota met" if has_quota else "; no quotas saved yet"))))


def migration_chart(mig: pd.DataFrame, dimension: str = "class",
                    width: int = WIDTH) -> alt.TopLevelMixin:
    """Accounts moving between classes from one snapshot to the next (diagonal = stayed)."""
    order = sorted(set(mig["from_class"]) | set(mig["to_class"]),
                   key=lambda s: (s.startswith("("), s))
    base = alt.Chart(_values(mig)).encode(
        x=alt.X("to_class:N", title=f"{dimension} now", sort=order,
                axis=alt.Axis(labelAngle=0)),
        y=alt.Y("from_class:N", title=f"{dimension} before", sort=order))
    rect = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("accounts:Q", title="accounts", scale=alt.Scale(
            type="sqrt", scheme="oranges")),
        tooltip=["from_class:N", "to_class:N", alt.Tooltip("accounts:Q", format=",")])
    text = base.mark_text(fontSize=11).encode(text=alt.Text("accounts:Q", format=","))
    return _finish(alt.layer(rect, text).properties(
        width=width, height=int(width * 0.6),
        title=_title(f"Migration of {dimension} between snapshots",
                     "rows = before, columns = now; the diagonal stayed put")))


def markets_chart(markets: pd.DataFrame, width: int = WIDTH) -> alt.TopLevelMixin:
    """Addressable, obtainable and active market: accounts and potential."""
    order = ["addressable", "obtainable", "active"]
    measure = "potential" if "potential" in markets.columns else "accounts"
    base = alt.Chart(_values(markets)).encode(y=alt.Y("market:N", title=None, sort=order))
    bars = base.mark_bar(color=ACCENT, cornerRadiusEnd=3).encode(
        x=alt.X(f"{measure}:Q", title=measure, axis=alt.Axis(format=MONEY)),
        tooltip=["market:N", alt.Tooltip("accounts:Q", format=","),
                 alt.Tooltip(f"{measure}:Q", format=",.0f")])
    text = base.mark_text(align="left", dx=4).encode(
        x=f"{measure}:Q", text=alt.Text("accounts:Q", format=",.0f"))
    return _finish(alt.layer(bars, text).properties(
        width=width - 120, height=40 * 3,
        title=_title("Markets", "label = accounts")))


def to_spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The Vega-Lite spec as a dict (what the dashboard hands to vega-embed)."""
    return chart.to_dict(validate=False)


def to_svg(chart: alt.TopLevelMixin) -> str:
    """Render to SVG without a browser (for the self-contained report)."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(to_spec(chart))


def to_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    """Render to PNG without a browser (for slides)."""
    import vl_convert as vlc

    return vlc.vegalite_to_png(to_spec(chart), scale=scale)
