"""A real browser (Debian's chromium through Playwright) signs in and looks around.

The server is uvicorn on 127.0.0.1 in a thread; the browser opens the overview, the
matrix and an account card, waits until vega-embed has drawn the charts from the
vendored bundle, records any request to another host (there must be none), and saves
screenshots.  The offline HTML report is opened from disk the same way.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from growthmap.config import Config
from tests.test_web_api import PASSWORD, world

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import uvicorn

    from growthmap.web.app import create_app

    w = world(tmp_path_factory)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(w["path"], Config()), host="127.0.0.1",
                                        port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield {**w, "url": f"http://127.0.0.1:{port}"}
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = os.environ.get("GROWTHMAP_SCREENSHOTS")
    path = Path(out) if out else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _watch(page: Any, origin: str) -> list[str]:
    """Requests to any host but the app (there must be none: no CDN, no fonts)."""
    outside: list[str] = []
    page.on("request", lambda req: outside.append(req.url)
            if not req.url.startswith((origin, "data:", "blob:", "file:", "about:")) else None)
    return outside


def _charts_drawn(page: Any, n: int) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('div.vega[data-rendered] svg').length >= {n}",
        timeout=30_000)


def test_sign_in_overview_matrix_and_card(server: dict[str, Any], browser: Any,
                                          shots: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    outside = _watch(page, server["url"])
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server["url"] + "/matrix")
    assert "/login" in page.url  # not signed in yet
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server["url"] + "/matrix")
    _charts_drawn(page, 2)
    page.screenshot(path=str(shots / "matrix.png"), full_page=True)

    page.goto(server["url"] + "/")
    assert page.locator("h1").first.inner_text().startswith("Overview")
    _charts_drawn(page, 4)
    assert page.locator(".kpi").count() >= 6
    page.screenshot(path=str(shots / "overview.png"), full_page=True)

    page.goto(server["url"] + "/accounts?sort=whitespace")
    page.locator("#accounts tbody tr td a").first.click()
    page.wait_for_selector("#families")
    title = page.locator("h1").inner_text()
    assert title and page.locator("#families tbody tr").count() >= 1
    page.select_option("select[name=verdict]", "too_low")
    page.fill("input[name=figure]", "99999999")
    page.fill("input[name=reason]", "opening two new sites <next year>")
    page.click("form.feedback button[type=submit]")
    page.wait_for_selector("text=opening two new sites <next year>")
    page.screenshot(path=str(shots / "account.png"), full_page=True)
    assert outside == [] and errors == []
    page.close()


def test_a_rep_cannot_open_another_reps_card(server: dict[str, Any], browser: Any) -> None:
    page = browser.new_page()
    page.goto(server["url"] + "/login")
    page.fill("input[name=username]", "rep_a")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(server["url"] + "/")
    resp = page.goto(server["url"] + "/api/accounts?owner_rep_id=" + server["rep_b"])
    assert resp.status == 200 and '"total":0' in page.content()
    resp = page.goto(server["url"] + "/reps/" + server["rep_b"])
    assert resp.status == 404
    page.close()


def test_report_opens_offline(server: dict[str, Any], browser: Any, shots: Path,
                              tmp_path: Path) -> None:
    import httpx

    hdr = {"Authorization": f"Bearer {server['tokens']['admin']}"}
    html = httpx.get(server["url"] + "/export/report.html", headers=hdr, timeout=120).text
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    context = browser.new_context(offline=True)
    page = context.new_page()
    outside = _watch(page, "file://")
    page.goto(path.as_uri())
    assert page.locator("figure.chart svg").count() >= 8
    page.screenshot(path=str(shots / "report.png"), full_page=False)
    assert outside == []
    context.close()
