"""The dashboard in a real browser (Debian's chromium, driven by Playwright).

Logs in, watches numbers change while synthetic studies flow through a real
radiology pipeline, opens a result (thumbnail and timeline), releases a
quarantined input, runs SQL, and checks that the API refuses strangers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from streamgale.dashboard import DashboardServer, RadiologyBackend
from tests.dashboard.conftest import Running

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def dashboard(radiology: Running) -> Iterator[DashboardServer]:
    backend = RadiologyBackend(radiology.app)
    server = DashboardServer(backend, state_dir=radiology.state_dir, port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        backend.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        # A missing peer fails rather than skips: make test installs it.
        pytest.fail(
            "Debian's chromium is missing at /usr/bin/chromium: apt-get install chromium "
            "(make test does, through scripts/install-system-deps.sh)"
        )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def number(page: Any, selector: str) -> float:
    text = page.locator(selector).inner_text().replace(",", "")
    return float(text) if text not in ("", "\u2013") else 0.0  # an en dash: no value yet


def test_an_operator_session(browser: Any, dashboard: DashboardServer, radiology: Running) -> None:
    app = radiology.app
    token = dashboard.first_token
    assert token is not None, "a fresh state directory must get a new admin token"
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)

    # Strangers get nothing: the API says 401, the page sends them to the login form.
    for path in ("api/steps", "api/results", "metrics"):
        assert context.request.get(dashboard.url + path).status == 401
    page.goto(dashboard.url)
    assert page.url.endswith("/login")
    page.fill("#token", "not-the-token")
    page.click("#login")
    assert page.locator("#error").is_visible()
    page.fill("#token", token)
    page.click("#login")
    page.wait_for_url(dashboard.url)
    page.wait_for_selector('#graph g.node[data-step="infer-demo-lesion"]')

    # Live numbers change while studies flow.
    received = '#steps-table tr[data-step="instances"] td.records-out'
    page.wait_for_selector(received)
    before = number(page, received)
    sender = threading.Thread(
        target=lambda: [radiology.send(seed=10 + i, lesion=i == 0) for i in range(2)]
    )
    sender.start()
    page.wait_for_function(
        """([selector, before]) => Number(document.querySelector(selector)
             .textContent.replace(/,/g, "")) >= before + 12""",
        arg=[received, before],
    )
    page.wait_for_function(
        """() => Number(document.querySelector(
             '#steps-table tr[data-step="instances"] td.rate-out').textContent) > 0"""
    )
    sender.join(30)
    radiology.wait(lambda: len(app.summaries) >= 2, "two results")

    # A result: its thumbnail loads and its timeline has stages.
    lesion = next(s for s in app.summaries if s.present)
    page.click('nav a[data-tab="results"]')
    page.click(f'#results-table tr[data-result="{lesion.result_id}"]')
    page.wait_for_function(
        "() => { const img = document.querySelector('#thumbnail');"
        " return img.complete && img.naturalWidth > 0; }"
    )
    page.wait_for_selector("#timeline g.stage")
    stages = page.locator("#timeline g.stage").evaluate_all(
        "nodes => nodes.map(n => n.dataset.stage)"
    )
    assert len(stages) >= 3, stages
    assert "lesion" in page.locator("#finding").inner_text()

    # A broken input is quarantined; the operator releases it.
    radiology.send(seed=20, lesion=False, slices=3, broken=True)
    radiology.wait(lambda: app.quarantine.list(status="quarantined"), "a quarantined input")
    [entry] = app.quarantine.list(status="quarantined")
    page.click('nav a[data-tab="quarantine"]')
    row = page.locator(f'#quarantine-table tr[data-entry="{entry.id}"]')
    assert entry.reason in row.locator("td.reason").inner_text()
    row.locator("button.release").click()
    page.wait_for_function(
        "() => document.querySelector('#quarantine-message').textContent.includes('again')"
    )
    radiology.wait(
        lambda: app.quarantine.get(entry.id).status == "released", "the pipeline to re-ingest it"
    )

    # SQL over the lake: a query, then a canned report with one click.
    page.click('nav a[data-tab="sql"]')
    page.fill("#sql-input", "SELECT 6 * 7 AS answer")
    page.click("#sql-run")
    page.wait_for_selector("#sql-output table.result td")
    assert page.locator("#sql-output th").all_inner_texts() == ["answer"]
    assert page.locator("#sql-output td").all_inner_texts() == ["42"]
    page.click('button.report[data-report="stage-latency"]')
    page.wait_for_function(
        "() => document.querySelector('#sql-meta').textContent.startsWith('stage-latency:')"
    )
    assert "stage" in page.locator("#sql-output th").all_inner_texts()

    # The session cookie is HttpOnly: scripts in the page cannot read it.
    assert page.evaluate("document.cookie") == ""
    context.close()
