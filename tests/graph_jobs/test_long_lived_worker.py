"""What a long-lived worker must not do: keep every job's resolver alive, or change
process-wide socket settings from a request thread (issue 16's runtime bugs)."""

from __future__ import annotations

import gc
import socket
import threading
import time
import weakref

import pytest

from devkit.repos import make_repo
from graph_jobs.errors import UnsafeRepositoryURL
from graph_jobs.graph.resolve.js_resolver import JsResolver
from graph_jobs.url_policy import UrlPolicy


def test_a_js_resolver_is_freed_after_its_job(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "package.json": '{"name": "r"}', "tsconfig.json": '{"compilerOptions": {"baseUrl": "."}}',
        "src/a.ts": "import {b} from './b';\n", "src/b.ts": "export const b = 1;\n"})
    files = {"src/a.ts", "src/b.ts"}
    resolver = JsResolver(repo, files, files | {"package.json", "tsconfig.json"})
    resolver._json("package.json")
    resolver._tsconfig("tsconfig.json")
    ref = weakref.ref(resolver)
    del resolver
    gc.collect()
    assert ref() is None  # a functools.cache on the class kept it (and its JSON) forever


def test_resolving_a_host_leaves_the_process_socket_timeout_alone():
    seen = []

    def slow(host, port, *a, **k):
        seen.append(socket.getdefaulttimeout())
        time.sleep(1.0)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("140.82.112.3", port))]

    before = socket.getdefaulttimeout()
    policy = UrlPolicy(frozenset({"github.com"}), resolver=slow, resolve_timeout_s=0.2)
    during = []
    t = threading.Thread(target=lambda: (time.sleep(0.1), during.append(socket.getdefaulttimeout())))
    t.start()
    with pytest.raises(UnsafeRepositoryURL, match="did not resolve within"):
        policy.check("https://github.com/o/r")
    t.join()
    assert seen == [before] and during == [before] and socket.getdefaulttimeout() == before
    fast = UrlPolicy(frozenset({"github.com"}), resolve_timeout_s=5, resolver=lambda h, p, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("140.82.112.3", p))])
    assert fast.check("https://github.com/o/r").addresses == ("140.82.112.3",)
