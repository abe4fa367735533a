"""The web console in headless Chromium: page weight, first render, map frame rate at
5,000 files, and the Redis commands per hour of one open console.

    python bench/console_bench.py [--files 5000] [--idle-seconds 90]

1. A synthetic git repository of ``--files`` Python files in 50 folders (each imports
   three others, mostly in its own folder) is ingested with the real pipeline into a
   temporary embedded store (SQLite + local Qdrant, Node2Vec on this CPU).
2. The ingress (uvicorn, the app of ``serve_app.app``) serves it, with a private
   redis-server as its queue. Debian's chromium, driven by Playwright, opens ``/``:
   - **page weight**: the bytes of every response of the first view (HTML, JS, CSS and
     the first API answers), against the 300 KB target;
   - **first render**: first-contentful-paint from the Performance API, against 1 s;
   - **map frame rate**: the map of the repository opened, then panned on every
     animation frame for 3 s (each frame redraws every file), frames counted, against
     30 per second; beside it the same with the import edges drawn;
   - **commands per hour**: Redis's own count (INFO commandstats) while the console is
     open and idle, visible and then hidden (the page's visibility is overridden
     through the DevTools protocol; the page's code sees ``document.visibilityState``),
     extrapolated to an hour. The baseline is what the seeds describe: a status poll
     every 2 s whatever the tab's state (1,800 an hour).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devkit.private_services import PrivateRedis  # noqa: E402
from devkit.repos import make_repo  # noqa: E402
from devkit.uvicorn_thread import Server  # noqa: E402

VISIBILITY = """
window.__pharosHidden = false;
Object.defineProperty(document, 'visibilityState', {get: () => window.__pharosHidden ? 'hidden' : 'visible'});
Object.defineProperty(document, 'hidden', {get: () => window.__pharosHidden});
"""


def synthetic_repo(dest: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    folders = [f"pkg{i:02d}" for i in range(50)]
    paths = [f"{folders[i % 50]}/mod{i:05d}.py" for i in range(n)]
    by_folder: dict[str, list[str]] = {}
    for p in paths:
        by_folder.setdefault(p.split("/")[0], []).append(p)
    files: dict[str, str] = {f"{f}/__init__.py": "" for f in folders}
    for p in paths:
        own = by_folder[p.split("/")[0]]
        picks = [rng.choice(own) if rng.random() < 0.8 else rng.choice(paths) for _ in range(3)]
        lines = [f"import {q[:-3].replace('/', '.')}" for q in picks if q != p]
        files[p] = "\n".join(lines) + "\n"
    return make_repo(dest, files)


def commands(r) -> int:
    return sum(v["calls"] for k, v in r.info("commandstats").items()
               if k.removeprefix("cmdstat_") in ("eval", "evalsha", "lrange", "get", "ping"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--idle-seconds", type=float, default=90)
    args = ap.parse_args()
    import redis
    from playwright.sync_api import sync_playwright

    from graph_jobs.pipeline import Stores, run_ingest
    from pharos_cli.settings import Settings
    from serve_app.app import create_app
    from serve_app.services import IngressServices

    tmp = Path(tempfile.mkdtemp(prefix="pharos-console-bench-"))
    with PrivateRedis() as pr:
        settings = Settings(_env_file=None, PHAROS_DATA_DIR=str(tmp / "data"), REDIS_URL=pr.url,
                            PHAROS_ALLOW_LOCAL_REPOS=True, PHAROS_INSECURE_LOCAL=True,
                            PHAROS_HISTORY=False)
        repo = synthetic_repo(tmp / "repo", args.files)
        stores = Stores.open(settings)
        t0 = time.perf_counter()
        res = run_ingest(str(repo), settings, stores=stores)
        print(f"ingested {res.files_processed} files, {res.edges} edges in "
              f"{time.perf_counter() - t0:.0f} s ({res.status})", flush=True)
        services = IngressServices(settings, vectors=stores.vectors, metadata=stores.metadata)
        r = redis.Redis.from_url(pr.url)
        with Server(create_app(settings, services)) as url, sync_playwright() as p:
            chromium = shutil.which("chromium") or "/usr/bin/chromium"
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
            ctx.add_init_script(VISIBILITY)
            page = ctx.new_page()
            sizes: dict[str, int] = {}

            def on_response(resp):
                with contextlib.suppress(Exception):  # a redirect or an aborted request
                    sizes[resp.url] = len(resp.body())

            page.on("response", on_response)
            page.goto(url + "/", wait_until="networkidle")
            weight = sum(sizes.values())
            fcp = page.evaluate("() => performance.getEntriesByName('first-contentful-paint')"
                                "[0]?.startTime ?? null")
            page.remove_listener("response", on_response)

            page.fill("#explore-repo", res.repo_url)
            t0 = time.perf_counter()
            page.click("text=Open its map")
            while "files" not in page.inner_text("#map-msg"):
                time.sleep(0.05)
            map_s = time.perf_counter() - t0
            page.locator("#map").scroll_into_view_if_needed()
            pan_js = """async (edges) => {
                window.pharosMap.state.edges = edges;
                const m = window.pharosMap; let frames = 0;
                const t0 = performance.now();
                await new Promise(done => { function step() {
                    m.state.ox += 3 / m.state.scale; m.state.oy += 1 / m.state.scale;
                    m.draw(); frames++;  // the whole map, every file, each frame
                    if (performance.now() - t0 < 3000) requestAnimationFrame(step); else done(); }
                    requestAnimationFrame(step); });
                return {fps: frames / ((performance.now() - t0) / 1000), frames,
                        files: m.state.data.files.length, edges: m.state.data.edges.length};
            }"""
            pan = page.evaluate(pan_js, False)
            pan_edges = page.evaluate(pan_js, True)

            page.evaluate("() => { window.__pharosHidden = false; "
                          "document.dispatchEvent(new Event('visibilitychange')); }")
            time.sleep(2)
            r.config_resetstat()
            time.sleep(args.idle_seconds)
            visible_h = commands(r) / args.idle_seconds * 3600
            page.evaluate("() => { window.__pharosHidden = true; "
                          "document.dispatchEvent(new Event('visibilitychange')); }")
            time.sleep(5)
            r.config_resetstat()
            hidden_window = max(args.idle_seconds, 600.0)
            time.sleep(hidden_window)
            hidden_h = commands(r) / hidden_window * 3600
            browser.close()
    stores.metadata.dispose()
    print(f"\nconsole: {res.files_processed} files, {pan['edges']} import edges on the map\n")
    print("| measure | Pharos console | target / baseline |")
    print("|---|---|---|")
    print(f"| page weight, first view | {weight / 1024:.1f} KB ({len(sizes)} responses) "
          "| < 300 KB |")
    print(f"| first contentful paint (loopback) | {fcp:.0f} ms | < 1,000 ms |")
    print(f"| map of {args.files} files: load (API + layout + first draw) | {map_s:.2f} s | — |")
    print(f"| map panning, every file redrawn each frame | {pan['fps']:.0f} fps | >= 30 fps |")
    print(f"| the same with the import edges drawn | {pan_edges['fps']:.0f} fps | >= 30 fps |")
    print(f"| Redis commands per hour, open and idle, visible | {visible_h:.0f} | 1,800 "
          "(a poll every 2 s) |")
    print(f"| Redis commands per hour, open and idle, hidden | {hidden_h:.0f} | 1,800 |")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
