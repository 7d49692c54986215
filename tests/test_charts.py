"""Charts: every chart function gives a valid Vega-Lite spec, renders, and stays light.

Most checks use small hand-made frames (fast, exact); the views that feed the charts
are checked against the real workspace: concentration and Pareto points recomputed
per scope agree with the value stage's own tables, and the scatter sample is bounded.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import pytest

from growthmap.config import Config
from growthmap.errors import NotFoundError
from growthmap.read import views
from growthmap.read.access import SYSTEM, DataAccess, Principal
from growthmap.report import charts as ch
from growthmap.report.gallery import CHARTS, build_chart, save_chart
from tests.test_web_api import world

ROAD = ["Retain", "Develop", "Acquire", "Opportunistic"]


def _data(chart: alt.TopLevelMixin) -> list[dict[str, Any]]:
    spec = chart.to_dict()
    out = []
    for part in [spec, *spec.get("layer", [])]:
        out += part.get("data", {}).get("values", []) or []
    return out


def _valid(chart: alt.TopLevelMixin) -> dict[str, Any]:
    spec = chart.to_dict(validate=True)  # raises on a spec Vega-Lite would reject
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v")
    return spec


@pytest.fixture
def frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 300
    sample = pd.DataFrame({"account_id": [f"A{i:07d}" for i in range(n)],
                           "name": [f"Co {i}" for i in range(n)],
                           "current": rng.lognormal(9, 2, n) * (rng.random(n) > 0.3),
                           "potential": rng.lognormal(11, 1, n),
                           "road": rng.choice(ROAD, n), "matrix_cell": "x"})
    cells = pd.DataFrame([(v, p, int(rng.integers(1, 90)), 5, 1e5, 3e5, 2e5, i, j)
                          for i, v in enumerate(["low", "mid", "high"])
                          for j, p in enumerate(["low", "mid", "high"])],
                         columns=["value_band", "potential_band", "accounts", "customers",
                                  "current", "potential", "whitespace", "value_order",
                                  "potential_order"])
    return {
        "pareto": pd.DataFrame({"point": range(1, 101),
                                "share_of_customers": np.arange(1, 101) / 100,
                                "cum_share_of_value": np.sqrt(np.arange(1, 101) / 100)}),
        "tiers": pd.DataFrame({"tier": list("ABCD"), "accounts": [5, 10, 20, 65],
                               "customers": [5, 10, 20, 30], "value": [50.0, 30, 15, 5],
                               "share": [0.5, 0.3, 0.15, 0.05]}),
        "sample": sample, "cells": cells,
        "road": pd.DataFrame({"road": ROAD, "accounts": [10, 20, 30, 40],
                              "customers": [10, 20, 3, 4], "value": [9.0, 8, 1, 1],
                              "whitespace": [1.0, 50, 60, 2]}),
        "segtiers": pd.DataFrame({"tier": ["1a", "1b", "2", "3"], "accounts": [3, 4, 30, 63],
                                  "customers": [3, 4, 20, 10], "value": [50.0, 20, 20, 10],
                                  "whitespace": [None, None, None, None]}),
        "family": pd.DataFrame({"family": ["Cloud", "Hardware"], "accounts": [5, 6],
                                "whitespace": [300.0, 100], "whitespace_open": [200.0, 100],
                                "whitespace_competitor": [100.0, 0]}),
        "territories": pd.DataFrame({"territory_id": ["T1", "T2", None],
                                     "territory_name": ["North", None, None],
                                     "current": [10.0, 20, 1], "whitespace": [5.0, 1, 0]}),
        "reps": pd.DataFrame({"rep_id": ["R1", "R2", None], "rep_name": ["Ann", None, None],
                              "accounts": [10, 20, 3], "current": [1e5, 2e5, 0.0],
                              "potential": [5e5, 3e5, 1e4], "quota": [1.2e5, 1.5e5, None],
                              "attainment": [1e5 / 1.2e5, 2e5 / 1.5e5, None]}),
        "migration": pd.DataFrame({"from_class": ["A", "A", "B", "(new)"],
                                   "to_class": ["A", "B", "B", "D"], "accounts": [5, 1, 7, 2]}),
        "markets": pd.DataFrame({"market": ["addressable", "obtainable", "active"],
                                 "accounts": [100, 40, 20], "potential": [1e6, 5e5, 2e5]}),
    }


def test_every_chart_function_gives_a_valid_spec(frames: dict[str, pd.DataFrame]) -> None:
    f = frames
    built = [
        ch.pareto_chart(f["pareto"], {"top20_share": 0.45, "gini": 0.5, "hhi": 0.02}),
        ch.pareto_chart(f["pareto"]),
        ch.value_tier_chart(f["tiers"]),
        ch.matrix_scatter(f["sample"], {"current": [1e4], "potential": [1e5, 1e6]}, total=10**6),
        ch.matrix_scatter(f["sample"].drop(columns=["road", "matrix_cell"])),
        ch.matrix_heatmap(f["cells"]), ch.road_chart(f["road"]), ch.tier_chart(f["segtiers"]),
        ch.whitespace_family_chart(f["family"]),
        ch.whitespace_family_chart(f["family"][["family", "whitespace"]]),
        ch.whitespace_territory_chart(f["territories"]), ch.rep_chart(f["reps"]),
        ch.rep_chart(f["reps"].drop(columns=["quota", "attainment", "potential"])),
        ch.migration_chart(f["migration"], "value_tier"), ch.markets_chart(f["markets"]),
    ]
    for chart in built:
        _valid(chart)


def test_charts_carry_exactly_their_data(frames: dict[str, pd.DataFrame]) -> None:
    scatter = ch.matrix_scatter(frames["sample"], {"current": [1e4]}, total=10**6)
    dots = [v for v in _data(scatter) if "account_id" in v]
    assert len(dots) == len(frames["sample"])
    assert "300 of 1,000,000 accounts shown" in scatter.to_dict()["title"]["subtitle"]
    heat = _data(ch.matrix_heatmap(frames["cells"]))
    assert sum(v["accounts"] for v in heat) == frames["cells"]["accounts"].sum()
    fam = _data(ch.whitespace_family_chart(frames["family"]))
    assert sum(v["amount"] for v in fam) == pytest.approx(frames["family"]["whitespace"].sum())
    pareto = _data(ch.pareto_chart(frames["pareto"], {"top20_share": 0.45, "gini": 0.5,
                                                     "hhi": 0.02}))
    assert {"x": 0.2, "y": 0.45, "label": "top 20% → 45%"} in pareto
    nan_row = ch.rep_chart(frames["reps"])  # missing values become JSON nulls, not NaN
    assert all(v.get("attainment") is None or np.isfinite(v["attainment"])
               for v in _data(nan_row))


def test_png_and_svg_render_without_a_browser(frames: dict[str, pd.DataFrame],
                                              tmp_path) -> None:
    chart = ch.road_chart(frames["road"])
    png = ch.to_png(chart, scale=1.0)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    svg = ch.to_svg(chart)
    assert svg.lstrip().startswith("<svg") and "Develop" in svg


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return world(tmp_path_factory)


@pytest.fixture(scope="module")
def con(w: dict[str, Any]):
    import duckdb

    c = duckdb.connect(str(w["path"]), read_only=True)
    yield c
    c.close()


def test_scoped_views_agree_with_the_value_stage(con: Any, w: dict[str, Any]) -> None:
    sid = w["snapshot"]
    da = DataAccess(con, SYSTEM)
    conc = con.execute(f"SELECT gini, top20_share, hhi FROM snap_{sid}.concentration "
                       "WHERE dimension = 'all'").fetchone()
    got = views.concentration(da)
    assert (got["gini"], got["top20_share"], got["hhi"]) == pytest.approx(conc)
    pareto = con.execute(f"SELECT * FROM snap_{sid}.pareto ORDER BY point").df()
    assert np.allclose(views.pareto(da)["cum_share_of_value"], pareto["cum_share_of_value"])
    # a rep's concentration is that of the rep's own customers, recomputed by brute force
    rep = DataAccess(con, Principal("r", "rep", rep_id=w["rep_a"]))
    v = con.execute(f"SELECT greatest(value, 0) AS v FROM snap_{sid}.account_value WHERE "
                    f"is_customer AND owner_rep_id = ?", [w["rep_a"]]).df()["v"].to_numpy()
    v = np.sort(v)
    n = len(v)
    gini = (2 * np.sum(np.arange(1, n + 1) * v) / (n * v.sum())) - (n + 1) / n
    top = np.sort(v)[::-1][: int(np.ceil(n * 0.2))].sum() / v.sum()
    got = views.concentration(rep)
    assert got["gini"] == pytest.approx(gini) and got["top20_share"] == pytest.approx(top)


def test_scatter_sample_is_bounded_and_keeps_the_largest(con: Any, w: dict[str, Any]) -> None:
    da = DataAccess(con, SYSTEM, scatter_max_points=150)
    sample = views.matrix_sample(da)
    assert len(sample) == 150
    top = con.execute(f"SELECT account_id FROM snap_{w['snapshot']}.potential_account "
                      "ORDER BY potential DESC, account_id LIMIT 15").df()["account_id"]
    assert set(top) <= set(sample["account_id"])
    again = views.matrix_sample(DataAccess(con, SYSTEM, scatter_max_points=150))
    assert list(again["account_id"]) == list(sample["account_id"])  # deterministic


def test_every_named_chart_builds_for_an_admin(con: Any, tmp_path) -> None:
    da = DataAccess(con, SYSTEM, scatter_max_points=500)
    for name in CHARTS:
        _valid(build_chart(da, name))
    out = save_chart(da, "matrix", tmp_path / "m.png", scale=1)
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert (save_chart(da, "pareto", tmp_path / "p.svg")).read_text().startswith("<svg")
    with pytest.raises(NotFoundError, match="no chart"):
        build_chart(da, "pie")


def test_company_wide_charts_are_not_for_reps(con: Any, w: dict[str, Any]) -> None:
    rep = DataAccess(con, Principal("r", "rep", rep_id=w["rep_a"]))
    with pytest.raises(NotFoundError):
        build_chart(rep, "markets")
    reps = _data(build_chart(rep, "reps"))
    assert {v["rep_id"] for v in reps if "rep_id" in v} == {w["rep_a"]}


def test_chart_command_writes_a_png(w: dict[str, Any], tmp_path) -> None:
    from typer.testing import CliRunner

    from growthmap.cli import app

    out = tmp_path / "road.png"
    r = CliRunner().invoke(app, ["-w", str(w["path"]), "chart", "road", "--png", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:4] == b"\x89PNG"
    r = CliRunner().invoke(app, ["-w", str(w["path"]), "chart", "pie", "--png", str(out)])
    assert r.exit_code == 5 and "no chart" in r.output
    assert Config().report.png_scale == 2.0
