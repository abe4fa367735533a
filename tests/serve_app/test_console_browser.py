"""The web console in real headless Chromium (Debian's /usr/bin/chromium driven by
Playwright), against a real ingress (uvicorn), real Redis, and a real edge worker that
embeds with the real pipeline.

Set PHAROS_SCREENSHOTS=docs/img to write the screenshots the README shows."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from devkit.uvicorn_thread import Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run)"),
]
playwright_api = pytest.importorskip("playwright.sync_api")
AXE = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture
def stack(tmp_path, redis_url, repos_for_console):
    """Two ingresses over the same services (insecure local mode, and one with a token)
    and an edge worker whose every step takes a little while (so the page sees the job
    move through its stages)."""
    from cluster.edge_worker import EdgeWorker
    from cluster.job_queue import JobQueue
    from graph_jobs.pipeline import Stores
    from pharos_cli.settings import Settings
    from serve_app.app import create_app
    from serve_app.services import IngressServices

    env = dict(_env_file=None, PHAROS_DATA_DIR=str(tmp_path / "data"), REDIS_URL=redis_url,
               PHAROS_ALLOW_LOCAL_REPOS=True, PHAROS_LEASE_SECONDS=3,
               PHAROS_IDLE_POLL_MAX_S=0.3)
    open_settings = Settings(**env, PHAROS_INSECURE_LOCAL=True, PHAROS_ADMIN_TOKEN="")
    token_settings = Settings(**env, PHAROS_ADMIN_TOKEN="right-token")
    stores = Stores.open(open_settings)
    services = IngressServices(open_settings, vectors=stores.vectors, metadata=stores.metadata)
    stop = threading.Event()

    def slow_steps(step):
        time.sleep(1.0)

    worker = EdgeWorker(JobQueue.from_settings(open_settings), open_settings, worker_id="edge-0",
                        stores=stores, idle_poll_min_s=0.1, idle_poll_max_s=0.3,
                        faults=slow_steps)
    th = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    th.start()
    with Server(create_app(open_settings, services)) as open_url, \
            Server(create_app(token_settings, IngressServices(
                token_settings, vectors=stores.vectors, metadata=stores.metadata))) as token_url:
        yield {"open": open_url, "token": token_url, "repo": repos_for_console}
    stop.set()
    th.join(10)


@pytest.fixture
def repos_for_console(tmp_path_factory) -> Path:
    from devkit.repos import repo_from_packages

    return repo_from_packages(tmp_path_factory.mktemp("console") / "requests", ["requests"])


@pytest.fixture
def page():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = ctx.new_page()
        pg.problems = []  # console errors and CSP violations
        pg.on("console", lambda m: m.type == "error" and pg.problems.append(m.text))
        pg.on("pageerror", lambda e: pg.problems.append(str(e)))
        yield pg
        browser.close()


def _until(page, fn: str, timeout: float = 30.0):
    """Poll ``fn`` (a JavaScript function) until it is truthy. ``page.evaluate`` goes
    through the DevTools protocol; ``wait_for_function`` would ``eval`` in the page,
    which the console's CSP forbids (as it should)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if got := page.evaluate(fn):
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {fn}")


def _open_map_and_find(page, repo: str, path: str) -> list[str]:
    """Open ``repo``'s map, find ``path`` with the search box: its related files."""
    page.get_by_label("Repository", exact=True).fill(repo)
    page.get_by_role("button", name="Open its map").click()
    _until(page, "() => document.querySelector('#map-msg').textContent.includes('files')")
    page.get_by_label("Find a file").fill(path)
    page.get_by_role("button", name="Find").click()
    _until(page, """() => { const li = document.querySelector('#related li');
        return !!li && !li.textContent.startsWith('Loading'); }""")
    return page.locator("#related li").all_inner_texts()


def _shot(page, name: str) -> None:
    out = os.environ.get("PHAROS_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(out) / f"console-{name}.png"), full_page=True)


def _axe(page) -> list[dict]:
    """axe-core run in the page (evaluated through the DevTools protocol, which the
    page's CSP does not govern): the serious and critical violations."""
    page.evaluate(AXE.read_text())
    res = page.evaluate("async () => (await axe.run(document)).violations"
                        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))")
    return [v for v in res if v["impact"] in ("serious", "critical")]


def test_submit_watch_progress_explore_and_related_files(stack, page):
    repo = str(stack["repo"].resolve())
    page.goto(stack["open"] + "/")
    page.get_by_label("Repository URL").fill(repo)
    page.get_by_role("button", name="Submit").click()
    _until(page, "() => document.querySelector('#submit-msg').textContent.startsWith('Queued')")

    stages, bars = set(), []
    deadline = time.time() + 120
    done = False
    while time.time() < deadline and not done:
        seen = page.evaluate("""() => [...document.querySelectorAll('#workers li')].map(li => ({
            text: li.textContent, bar: li.querySelector('progress')?.value ?? null}))""")
        for w in seen:
            if w["bar"] is not None:
                bars.append(w["bar"])
                stages.add(w["text"].split("Stage: ")[1].split(" ")[0])
                if len(bars) == 1:
                    _shot(page, "status")  # a worker training, its progress bar
        done = page.evaluate("""() => [...document.querySelectorAll('#jobs-table tbody tr')]
            .some(tr => tr.textContent.includes('complete'))""")
        time.sleep(0.25)
    assert done, ("the job never showed complete: " + page.evaluate(
        "() => document.querySelector('#jobs-table').innerText + ' | ' + "
        "document.querySelector('#queue').textContent + ' | ' + "
        "document.querySelector('#workers').innerText"))
    assert len(stages) >= 2, f"the progress bar never moved through the stages: {stages}"
    assert max(bars) > min(bars), f"the progress bar never moved: {bars}"
    _shot(page, "jobs")
    row = page.locator("#jobs-table tbody tr", has_text="complete").first
    assert repo in row.inner_text()
    row.get_by_role("button").click()
    assert "Stage timings" in page.locator("#job-detail").inner_html()

    related = _open_map_and_find(page, repo, "requests/sessions.py")
    assert len(related) >= 3 and all(" — " in r for r in related), related
    assert any("imports it" in r or "imported by it" in r for r in related), related
    panel = page.locator("#file-panel").inner_text()
    assert "requests/sessions.py" in panel and "Imported by" in panel

    # a click on another point of the canvas opens that file
    page.get_by_role("button", name="Reset view").click()
    page.locator("#map").scroll_into_view_if_needed()
    time.sleep(0.2)  # the next animation frame redraws
    target = page.evaluate("""() => { const m = window.pharosMap.state;
        const i = m.data.files.findIndex(f => f.path === 'requests/models.py');
        const r = document.querySelector('#map').getBoundingClientRect();
        return {i, x: r.left + m.xy[2 * i], y: r.top + m.xy[2 * i + 1]}; }""")
    page.mouse.click(target["x"], target["y"])
    _until(page, "() => document.querySelector('#file-panel h3')?.textContent"
                 " === 'requests/models.py'")
    _shot(page, "explore")
    assert not page.problems, page.problems
    serious = _axe(page)
    assert not serious, json.dumps(serious)


def test_a_wrong_token_is_a_sentence_and_is_not_kept(stack, page):
    page.goto(stack["token"] + "/")
    page.get_by_label("Repository URL").fill(str(stack["repo"]))
    page.get_by_label("Admin token").fill("wrong-token")
    page.get_by_role("button", name="Submit").click()
    msg = page.locator("#submit-msg")
    msg.wait_for()
    _until(page, "() => document.querySelector('#submit-msg').textContent.length > 0")
    assert "admin token is missing or wrong" in msg.inner_text()
    assert page.evaluate("sessionStorage.length") == 0  # a refused token is not kept
    assert page.evaluate("document.cookie") == ""
    page.get_by_label("Admin token").fill("right-token")
    page.get_by_role("button", name="Submit").click()
    _until(page, "() => document.querySelector('#submit-msg').textContent"
                 ".startsWith('Queued')")
    assert page.evaluate("sessionStorage.getItem('pharos-admin-token')") == "right-token"
    page.locator("#submit-msg").get_by_role("button", name="Cancel job").click()
    got = _until(page, "() => /^Job \\w+: (cancelled|cancelling)\\.$/"
                       ".test(document.querySelector('#submit-msg').textContent)"
                       " && document.querySelector('#submit-msg').textContent")
    assert got
    assert "right-token" not in page.url
    page.get_by_label("Repository URL").fill("ftp://example.com/x")
    page.get_by_role("button", name="Submit").click()
    _until(page, "() => document.querySelector('#submit-msg').textContent"
                 ".startsWith('That repository was refused')")
    _shot(page, "submit")
    # Chromium logs the refused requests themselves; nothing else may show up
    expected = ("status of 401", "status of 400")
    assert all(any(e in p for e in expected) for p in page.problems), page.problems


def test_docs_render_offline_under_the_csp(stack, page):
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith(
        stack["open"]) else route.continue_())  # nothing but the ingress can be reached
    page.goto(stack["open"] + "/docs")
    page.get_by_text("/api/v1/ingestion/worker/status", exact=True).wait_for(timeout=20000)
    assert not page.problems, page.problems
    resp = page.request.get(stack["open"] + "/")
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1]


def test_pharos_console_explores_the_embedded_stores_without_redis(tmp_path, page,
                                                                   repos_for_console):
    """`pharos console` (a real subprocess) over what `run_ingest` stored in the embedded
    default: no Redis anywhere; the map and the related files work, and the status says
    there is no queue instead of polling for one."""
    import socket
    import subprocess
    import sys

    from graph_jobs.pipeline import Stores, run_ingest
    from graph_jobs.stores.vector_store import close_local_clients
    from pharos_cli.settings import Settings

    env = {k: v for k, v in os.environ.items()
           if k not in ("REDIS_URL", "UPSTASH_REDIS_REST_URL", "DATABASE_URL", "QDRANT_URL")}
    env["PHAROS_DATA_DIR"] = str(tmp_path / "data")
    settings = Settings(_env_file=None, PHAROS_DATA_DIR=env["PHAROS_DATA_DIR"])
    stores = Stores.open(settings)
    res = run_ingest(str(repos_for_console), settings, stores=stores)
    assert res.status == "complete"
    stores.metadata.dispose()
    close_local_clients()  # the console process opens the local Qdrant directory itself
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "pharos_cli", "console", "--port", str(port)],
                            env=env, cwd=Path(__file__).resolve().parents[2],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.time() < deadline, "console did not start"
                time.sleep(0.2)
        page.goto(f"http://127.0.0.1:{port}/")
        _until(page, "() => document.querySelector('#queue').textContent.includes('No job queue')")
        assert page.locator("#submit-form").is_hidden()
        # the jobs `pharos ingest` recorded, from the metadata store
        _until(page, "() => document.querySelector('#jobs-table tbody')"
                     ".textContent.includes('complete')")
        assert res.repo_url in page.locator("#jobs-table tbody").inner_text()
        assert len(_open_map_and_find(page, res.repo_url, "requests/api.py")) >= 3
        # the 503 of the missing queue is answered once, not polled for
        expected = ("status of 503",)
        assert all(any(e in p for e in expected) for p in page.problems), page.problems
        assert len(page.problems) <= 1, page.problems
    finally:
        proc.terminate()
        proc.wait(20)
