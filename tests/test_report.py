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
    own = {"label": "accounts that buy", "n": 400, "positives": 120,
           "auc": {"model": {"auc": 0.81, "lo": 0.77, "hi": 0.85},
                   "rfm": {"auc": 0.70, "lo": 0.66, "hi": 0.74}},
           "vs": {"rfm": {"diff": 0.11, "lo": 0.07, "hi": 0.15}}}
    risk_own = {"label": "customers whose revenue falls", "n": 300, "positives": 60,
                "auc": {"model": {"auc": 0.52, "lo": 0.45, "hi": 0.59}}, "vs": {}}
    secs = methodology({"value": {"lookback_months": 6, "measure": "gross_margin",
                                  "tier_method": "absolute", "tier_bands": [5e5, 5e4, 5e3]}},
                       {"propensity": {"backtest": {"pooled": {"roc_auc": 0.81,
                                                               "top_decile_lift": 3.2},
                                                    "folds": [{"cutoff": "2024-12-31",
                                                               "roc_auc": 0.7}]},
                                       "comparison": {"source": "backtest",
                                                      "labels": {"own": own}}},
                        "risk": {"backtest": {"folds": []}, "not_informative": [
                            "its AUC interval (0.45 to 0.59) includes 0.5"],
                                 "comparison": {"source": "out_of_fold",
                                                "labels": {"own": risk_own}}},
                        "potential": {"truth": {"nominal_coverage": 0.8, "account": {
                            "all": {"spearman": 0.972, "coverage": 0.57}}},
                            "truth_next_year": {"account": {"spearman": 0.02, "lift": 1.4}}}},
                       ["account_value"], ["no products table"])
    text = " ".join(p for s in secs for p in s.paragraphs)
    assert "gross margin each account brought in the 6 months" in text
    assert "A from 500,000" in text
    # the words follow the numbers: each figure read from its own path, judged by its band
    assert "ROC AUC 0.81, 90% interval 0.77 to 0.85: good" in text
    assert "beats the recency / frequency / monetary rank" in text
    assert "customers whose revenue falls" in text and "went on to buy" not in text
    assert "Risk is not informative" in text
    assert "rank correlation 0.97 (1 = the same order): very close to the true order" in text
    assert "rank correlation 0.02 (1 = the same order): no better than chance" in text
    assert "57% of accounts where 80% was stated: too narrow" in text
    assert "Potential was not computed in this snapshot." in text
    assert "no products table" in text
    table = {m["figure"]: m["value"] for s in secs for m in s.metrics}
    assert table["backtest.pooled.roc_auc"] == "0.81"
    assert table["truth.account.all.coverage"] == "57%"
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
