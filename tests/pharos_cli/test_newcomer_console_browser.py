"""Issue 27, items 1 and 8, in Chromium: `pharos console` open on an empty data folder;
`pharos ingest` run in another process; the page, never reloaded, shows the repository,
opens its map above the fold, fills its canvas, names the most connected files, and gives
a `#explore?repo=` link that opens the map again. With no queue, the Submit section says
how to add a repository, and the console prints nothing about an admin token."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from devkit.repos import make_repo
from tests.serve_app.test_console_browser import _axe, _until, page  # noqa: F401 - fixture
from tests.support.cli_runs import free_port, run_pharos, small_package, start_pharos

pytestmark = pytest.mark.slow
HEIGHT = 900  # the laptop screen of the issue


def _wait_up(url: str, proc, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.time() < deadline, "the console did not start"
            time.sleep(0.3)


def test_first_view_empty_states_and_a_repository_arriving(tmp_path, page):  # noqa: F811
    data = tmp_path / "data"
    first = make_repo(tmp_path / "first", small_package("alpha"))
    second = make_repo(tmp_path / "second", small_package("beta"))
    port = free_port()
    console = start_pharos("console", "--port", str(port), data_dir=data)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base + "/", console)
        page.set_viewport_size({"width": 1440, "height": HEIGHT})
        page.goto(base + "/")
        # empty states, each saying what to do
        _until(page, "() => !document.querySelector('#explore-empty').hidden")
        _until(page, "() => !document.querySelector('#submit-off').hidden")
        assert page.locator("#submit-form").is_hidden()
        assert "pharos ingest" in page.locator("#submit-off").inner_text()
        _until(page, "() => document.querySelector('#stats').textContent"
                     " === 'No job has finished yet.'")

        # a repository ingested from a terminal appears, and its map opens, without a reload
        done = run_pharos("ingest", str(first), data_dir=data)
        assert done.returncode == 0, done.stderr[-3000:]
        _until(page, "() => document.querySelector('#map-msg').textContent.includes('files')",
               timeout=60)
        assert page.locator("#explore-repo").input_value() == str(first)
        assert page.locator("#explore-empty").is_hidden()
        _until(page, "() => document.querySelector('#stats').textContent"
                     ".startsWith('The last job: ')")

        # the map: above the fold, its canvas used, the most connected files named
        box = page.locator("#map").bounding_box()
        assert box["y"] < HEIGHT / 2 and box["y"] + box["height"] <= HEIGHT, box
        time.sleep(0.3)  # the next animation frame draws
        used = page.evaluate("""() => { const m = window.pharosMap.state, r =
            document.querySelector('#map').getBoundingClientRect(), xs = [], ys = [];
            for (let i = 0; i < m.data.files.length; i++) { xs.push(m.xy[2*i]); ys.push(m.xy[2*i+1]); }
            return {w: (Math.max(...xs) - Math.min(...xs)) / r.width,
                    h: (Math.max(...ys) - Math.min(...ys)) / r.height, labels: m.labelled}; }""")
        assert max(used["w"], used["h"]) > 0.8 and used["labels"] >= 3, used

        # the page's address is a link to this map; another repository's link opens it
        assert f"#explore?repo={first}".replace("/", "%2F") in page.url
        done = run_pharos("ingest", str(second), data_dir=data)
        assert done.returncode == 0, done.stderr[-3000:]
        _until(page, f"""() => [...document.querySelectorAll('#repo-list option')]
            .some(o => o.value === {json.dumps(str(second))})""", timeout=60)
        page.goto(f"{base}/#explore?repo={second}")
        _until(page, f"""() => document.querySelector('#map-msg').textContent
            .startsWith({json.dumps(str(second))})""", timeout=60)
        assert not _axe(page)
        # the missing queue answers 503 once a page; nothing else went wrong
        assert all("status of 503" in p for p in page.problems), page.problems
    finally:
        console.terminate()
        _out, err = console.communicate(timeout=30)
    assert "PHAROS_ADMIN_TOKEN" not in err, err
