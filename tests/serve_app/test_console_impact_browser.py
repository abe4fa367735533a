"""The console's impact of a change (issue 26) in real headless Chromium: shift- and
ctrl-click several files on the map, and the panel ranks the files likely to need the
same change (GET /api/v1/graph/impact), each saying which chosen files it relates to.
A real history ingested into the embedded stores, served by the ingress under uvicorn."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.serve_app.test_console_browser import CHROMIUM, Server, _axe, _until

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs chromium")]
playwright_api = pytest.importorskip("playwright.sync_api")

READY = "() => document.querySelector('#map-msg').textContent.includes('files')"
LOADED = """() => { const li = document.querySelector('#impact li');
    return !!li && !li.textContent.startsWith('Loading') && li.textContent; }"""


@pytest.fixture
def page():
    """Headless Chromium as tests/serve_app/test_console_browser.py drives it."""
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        pg = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        pg.problems = []  # console errors and CSP violations
        pg.on("console", lambda m: m.type == "error" and pg.problems.append(m.text))
        pg.on("pageerror", lambda e: pg.problems.append(str(e)))
        yield pg
        browser.close()


def _point(page, path: str) -> dict:
    return page.evaluate("""(path) => { const m = window.pharosMap.state;
        const i = m.data.files.findIndex(f => f.path === path);
        const r = document.querySelector('#map').getBoundingClientRect();
        return {i, x: r.left + m.xy[2 * i], y: r.top + m.xy[2 * i + 1]}; }""", path)


def _click(page, path: str, modifier: str | None = None) -> None:
    p = _point(page, path)
    assert p["i"] >= 0, path
    if modifier:
        page.keyboard.down(modifier)
    page.mouse.click(p["x"], p["y"])
    if modifier:
        page.keyboard.up(modifier)


def test_shift_and_ctrl_click_show_the_impact_of_a_change(tmp_path, page, monkeypatch):
    from graph_jobs.pipeline import Stores, run_ingest
    from graph_jobs.stores.vector_store import close_local_clients
    from pharos_cli.settings import Settings
    from serve_app.app import create_app
    from tests.graph_jobs.test_change_impact import change_history

    for var in ("REDIS_URL", "UPSTASH_REDIS_REST_URL", "DATABASE_URL", "QDRANT_URL", "MODE",
                "PHAROS_READ_TOKEN", "PHAROS_ADMIN_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings(_env_file=None, PHAROS_DATA_DIR=str(tmp_path / "data"),
                        PHAROS_ALLOW_LOCAL_REPOS=True)
    res = run_ingest(str(change_history(tmp_path)), settings, stores=Stores.open(settings))
    assert res.status == "complete", res.error
    close_local_clients()
    with Server(create_app(settings)) as url:
        page.goto(f"{url}/#explore?repo={res.repo_url}")
        _until(page, READY)
        page.locator("#map").scroll_into_view_if_needed()
        time.sleep(0.2)  # the next animation frame lays the points out
        # points that share a pixel cannot be told apart by a click: the test needs these apart
        spots = {p: _point(page, p) for p in ("orders/ledger.py", "billing/invoice.py",
                                              "audit/trail.py")}
        assert len({(round(s["x"]), round(s["y"])) for s in spots.values()}) == 3, spots
        _click(page, "orders/ledger.py", "Shift")
        _click(page, "billing/invoice.py", "Control")
        _until(page, "() => window.pharosMap.state.change.length === 2")
        first = _until(page, LOADED)
        assert first.startswith("audit/trail.py"), first
        assert "tied to 2 of the 2 files asked" in first
        panel = page.locator("#file-panel").inner_text()
        assert "A change of 2 files" in panel
        assert page.locator("#change-files li").count() == 2
        texts = page.locator("#impact li").all_inner_texts()
        assert not any(t.startswith(("orders/ledger.py", "billing/invoice.py")) for t in texts)
        # a shift-click on a chosen file takes it out again: the ledger alone asks
        _click(page, "billing/invoice.py", "Shift")
        _until(page, "() => window.pharosMap.state.change.length === 1")
        alone = _until(page, LOADED)
        assert alone.startswith("reports/summary.py"), alone  # the ledger's own partner
        assert "A change of 1 file" in page.locator("#file-panel").inner_text()
        assert not page.problems or all("status of 503" in p for p in page.problems), \
            page.problems
        serious = _axe(page)
        assert not serious, json.dumps(serious)
        # a plain click opens one file as before; the change stays chosen
        _click(page, "mail/sender.py")
        _until(page, "() => document.querySelector('#file-panel h3')?.textContent"
                     " === 'mail/sender.py'")
        page.get_by_role("button", name="Add it to a change (or shift-click it)").click()
        _until(page, "() => window.pharosMap.state.change.length === 2")
        assert "A change of 2 files" in page.locator("#file-panel").inner_text()
        page.get_by_role("button", name="Clear the change").click()
        _until(page, "() => window.pharosMap.state.change.length === 0")
