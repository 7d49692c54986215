"""The HTML report: one self-contained file with findings, charts, tables, methodology."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from growthmap.config import Config
from growthmap.errors import ConfigError
from growthmap.read.access import Principal
from growthmap.report.html import REPORT_CHARTS, render_report
from growthmap.report.methodology import methodology, metric_sentences
from growthmap.workspace import Workspace
from tests.test_web_api import world


class _Refs(HTMLParser):
    """Every URL-bearing attribute and every tag, to prove the file needs no network."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: list[str] = []
        self.figures: dict[str, dict[str, str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        a = dict(attrs)
        for k, v in attrs:
            if k in ("src", "href", "xlink:href", "action", "data", "poster") and v:
                self.refs.append(v)
        if tag == "figure":
            self.figures[a.get("id", "")] = {k: v or "" for k, v in attrs}


@pytest.fixture(scope="module")
def w(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return world(tmp_path_factory)


@pytest.fixture(scope="module")
def report(w: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    from typer.testing import CliRunner

    from growthmap.cli import app

    out = tmp_path_factory.mktemp("report") / "report.html"
    r = CliRunner().invoke(app, ["-w", str(w["path"]), "report", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out.read_text(encoding="utf-8")


def test_report_is_self_contained(report: str) -> None:
    p = _Refs()
    p.feed(report)
    external = [u for u in p.refs if re.match(r"^(https?:)?//", u.strip(), re.I)]
    assert external == []
    assert "script" not in p.tags and "iframe" not in p.tags and "link" not in p.tags
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", report)
    assert "@import" not in report


def test_report_has_every_chart_inline(report: str) -> None:
    p = _Refs()
    p.feed(report)
    drawn = {f["data-chart"] for f in p.figures.values() if "data-chart" in f}
    assert set(REPORT_CHARTS) == drawn, set(REPORT_CHARTS) - drawn
    assert report.count("<svg") >= len(REPORT_CHARTS)
    assert "Where value is concentrated" in report  # the Pareto chart's own title


def test_report_figures_and_findings_match_the_snapshot(report: str, w: dict[str, Any]) -> None:
    ws = Workspace.open(w["path"], read_only=True)
    try:
        n, cust = ws.con.execute(f"SELECT count(*), count(*) FILTER (is_customer) FROM "
                                 f"snap_{w['snapshot']}.account_value").fetchone()
        evals = json.loads(ws.snapshot_info()["evaluations"])
    finally:
        ws.close()
    assert f"{cust:,} of {n:,} accounts bought in the last twelve months" in report
    assert "Methodology: how these figures were made" in report
    assert "The top 20% of customers bring" in report
    assert evals, "the snapshot stored no evaluation"
    for model in evals:
        assert "How accurate: " in report and model.replace("_", " ")[:4].lower() in \
            report.lower()
    prop = evals.get("propensity")
    if prop:  # the AUC it measured is what the report says, in words and figures
        sentences = metric_sentences("propensity", prop)
        assert sentences and all(s in report.replace("&#39;", "'") for s in sentences)


def test_a_reps_report_holds_only_the_reps_book(w: dict[str, Any]) -> None:
    ws = Workspace.open(w["path"], read_only=True)
    try:
        html = render_report(ws, Config(), user=Principal("rep_a", "rep", rep_id=w["rep_a"]))
        ids = set(ws.con.execute(f"SELECT account_id FROM snap_{w['snapshot']}.account_value "
                                 "WHERE owner_rep_id = ?", [w["rep_a"]]).df()["account_id"])
    finally:
        ws.close()
    shown = set(re.findall(r"A\d{7}", html))
    assert shown and shown <= ids
    assert "the book of rep_a" in html
    assert 'data-chart="markets"' not in html  # company-wide: not drawn for a rep


def test_methodology_is_written_from_what_was_stored() -> None:
    secs = methodology({"value": {"lookback_months": 6, "measure": "gross_margin",
                                  "tier_method": "absolute", "tier_bands": [5e5, 5e4, 5e3]}},
                       {"propensity": {"pooled": {"roc_auc": 0.81, "top_decile_lift": 3.2},
                                       "folds": [{"roc_auc": 0.7}]},
                        "potential": {"coverage": 0.78, "spearman": 0.66}},
                       ["account_value"], ["no products table"])
    text = " ".join(p for s in secs for p in s.paragraphs)
    assert "gross margin each account brought in the 6 months" in text
    assert "A from 500,000" in text
    assert "81% of the time (AUC 0.81): strong" in text  # pooled, not the fold's 0.70
    assert "3.2 times as often" in text
    assert "inside the stated low-high range for 78%" in text
    assert "Potential was not computed in this snapshot." in text
    assert "no products table" in text
    table = {m["figure"]: m["value"] for s in secs for m in s.metrics}
    assert table["pooled.roc_auc"] == "0.81" and table["coverage"] == "78%"
    none = methodology({}, {}, [], [])
    assert any("no accuracy is claimed" in p for s in none for p in s.paragraphs)


def test_report_config_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"report\.titel: unknown key"):
        Config.from_dict({"report": {"titel": "x"}})
    with pytest.raises(ConfigError, match="scatter_max_points"):
        Config.from_dict({"report": {"scatter_max_points": 10}})
    for section in (Config().report, Config().web):
        for name, field in type(section).model_fields.items():
            assert field.description, f"{name} has no description"
