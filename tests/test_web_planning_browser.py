"""The alignment page in a real browser (Debian's chromium), for ops and for a manager.

The map is drawn by vega-embed from the vendored bundle, with the country outlines
inlined in the page: nothing is fetched from another host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_web_api import PASSWORD
from tests.test_web_browser import (  # noqa: F401  (fixtures)
    CHROMIUM,
    _charts_drawn,
    _watch,
    browser,
    server,
    shots,
)

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")]


def _sign_in(page: Any, url: str, user: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")


@pytest.mark.parametrize("user", ["ops", "manager"])
def test_alignment_page_with_map_and_filters(server: dict[str, Any], browser: Any,  # noqa: F811
                                             shots: Path, user: str) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside = _watch(page, server["url"])
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _sign_in(page, server["url"], user)
    page.click("nav >> text=Alignment")
    page.wait_for_selector("#align-kpis")
    page.fill("input[name=tolerance]", "0.3")
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    page.wait_for_selector("#align-reps tbody tr")
    _charts_drawn(page, 1)
    assert page.locator("div.vega svg path").count() > 10  # land outlines and marks
    kpis = page.locator("#align-kpis").inner_text()
    assert "accounts change region" in kpis and "km" in kpis and "EUR" in kpis
    n_reps = page.locator("#align-reps tbody tr").count()
    assert n_reps >= 1
    page.screenshot(path=str(shots / f"alignment-{user}.png"), full_page=True)
    # filter by one rep: one row left, every listed move touches that rep
    rep = page.locator("select[name=rep] option").nth(1).get_attribute("value")
    page.select_option("select[name=rep]", rep)
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    page.wait_for_selector("#align-reps tbody tr")
    assert page.locator("#align-reps tbody tr").count() == 1
    assert rep in page.locator("#align-reps tbody tr").inner_text()
    assert outside == [] and errors == []
    page.close()


def test_a_rep_has_no_alignment(server: dict[str, Any], browser: Any) -> None:  # noqa: F811
    page = browser.new_page()
    _sign_in(page, server["url"], "rep_a")
    assert page.locator("nav >> text=Alignment").count() == 0
    assert page.goto(server["url"] + "/plan/alignment").status == 404
    page.close()


def test_invalid_feedback_keeps_what_the_rep_typed(server: dict[str, Any],  # noqa: F811
                                                   browser: Any) -> None:  # noqa: F811
    page = browser.new_page()
    _sign_in(page, server["url"], "rep_a")
    page.goto(server["url"] + "/accounts?sort=whitespace")
    page.locator("#accounts tbody tr td a").first.click()
    page.wait_for_selector("form.feedback")
    before = page.locator("#feedback + div table tbody tr").count()
    page.select_option("select[name=verdict]", "too_high")  # yet a figure far above it
    page.fill("input[name=figure]", "9999999999")
    page.fill("input[name=reason]", "the parent company buys centrally")
    with page.expect_navigation():
        page.click("form.feedback button[type=submit]")
    assert "is not below the estimate" in page.locator("#feedback-error").inner_text()
    assert page.input_value("input[name=figure]") == "9999999999"
    assert page.input_value("input[name=reason]") == "the parent company buys centrally"
    assert page.locator("select[name=verdict]").input_value() == "too_high"
    assert page.locator("#feedback + div table tbody tr").count() == before  # nothing stored
    page.close()


@pytest.mark.parametrize("user", ["ops", "manager"])
def test_plan_page_review_quotas_capacity(server: dict[str, Any], browser: Any,  # noqa: F811
                                          shots: Path, user: str) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside = _watch(page, server["url"])
    _sign_in(page, server["url"], user)
    page.click("nav >> text=Plan")
    page.wait_for_selector("#review tbody tr")
    reps = [o.get_attribute("value") for o in page.locator("select[name=rep] option").all()]
    assert reps
    if user == "manager":  # only the manager's own team
        assert server["rep_b"] not in reps
    # filter by another rep: the review list is that rep's
    other = reps[-1]
    page.select_option("select[name=rep]", other)
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert other in page.locator("h2").first.inner_text()
    heads = (page.locator("#review thead").inner_text()
             + page.locator("#capacity thead").inner_text())
    assert "EUR" in heads and "hours a year" in heads
    assert page.locator("#capacity tbody tr").count() >= 1
    cards = page.locator("#scorecards tbody tr td:first-child").all_inner_texts()
    assert cards and set(cards) <= set(reps)  # scorecards of the visible reps only
    assert page.locator("#capacity tbody td.muted").count() == 0  # real rows, not "none"
    keys = page.locator("#capacity tbody tr td:first-child").all_inner_texts()
    assert all(" / " in k for k in keys)
    # filter by region, then by territory: the reps listed narrow to that place
    def options(name: str) -> list[str]:
        return [o.get_attribute("value") or "" for o in
                page.locator(f"select[name={name}] option").all()]

    regions = [g for g in options("region") if g]
    assert regions
    page.select_option("select[name=region]", regions[0])
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    in_region = options("rep")
    assert in_region and set(in_region) <= set(reps)
    keys = page.locator("#capacity tbody tr td:first-child").all_inner_texts()
    assert all(k.endswith(" / " + regions[0]) for k in keys if " / " in k)
    terrs = [t for t in options("territory") if t]
    assert terrs
    page.select_option("select[name=territory]", terrs[0])
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    in_terr = options("rep")
    assert in_terr and set(in_terr) <= set(in_region)
    assert page.locator("select[name=territory]").input_value() == terrs[0]
    assert page.locator("select[name=region]").input_value() == regions[0]
    page.screenshot(path=str(shots / f"plan-{user}.png"), full_page=True)
    assert outside == []
    page.close()
