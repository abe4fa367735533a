"""JS/TS edges against dependency-cruiser 16 on real npm packages (installed by
.ci/run into tests/js), and the resolution rules on a monorepo written for them."""

from __future__ import annotations

import shutil

import pytest

from devkit.repos import make_repo
from graph_jobs.graph.dependency_graph import build_dependency_graph
from tests.support import depcruise_compare as dc

needs_node = pytest.mark.skipif(not dc.available(), reason="run .ci/run (npm install in tests/js)")

REAL = [
    # (package, what to copy, what to cruise, tsconfig)
    pytest.param("rxjs", ["src", "tsconfig.json", "package.json"], ["src"], "tsconfig.json",
                 id="rxjs-ts-path-aliases"),
    pytest.param("axios", ["lib", "index.js", "package.json"], ["lib", "index.js"], None,
                 id="axios-esm"),
    pytest.param("express", ["lib", "index.js", "package.json"], ["lib", "index.js"], None,
                 id="express-cjs"),
    pytest.param("zod", ["lib", "index.d.ts", "package.json"], ["lib"], None,
                 id="zod-js-beside-dts"),
]


@needs_node
@pytest.mark.node
@pytest.mark.parametrize(("name", "items", "paths", "ts_config"), REAL)
def test_edges_agree_with_dependency_cruiser(tmp_path, name, items, paths, ts_config):
    repo = tmp_path / "repo"
    repo.mkdir()
    for item in items:
        src = dc.npm_package(name) / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, repo / item)
    make_repo(repo)
    graph = build_dependency_graph(repo)
    agreement = dc.compare(graph, repo, paths, ts_config)
    assert len(agreement.theirs) >= 15
    assert agreement.recall >= 0.98, sorted(agreement.theirs - agreement.ours)[:20]
    assert agreement.precision >= 0.98, sorted(agreement.ours - agreement.theirs)[:20]


MONOREPO = {
    "package.json": '{"name": "root", "private": true, "workspaces": ["packages/*"]}',
    "tsconfig.base.json": """{
        // comments and trailing commas, as tsconfig allows
        "compilerOptions": {"baseUrl": ".", "paths": {"@app/*": ["apps/web/src/*"],},},
    }""",
    "apps/web/tsconfig.json": '{"extends": "../../tsconfig.base.json"}',
    "apps/web/package.json": '{"name": "web", "imports": {"#config": "./src/config.ts",'
                             ' "#lib/*": {"import": "./src/lib/*.ts"}}}',
    "apps/web/src/main.tsx": (
        "import { helper } from './util.js';\n"  # .js written for a .ts file
        "import type { T } from './types';\n"
        "export * from './components';\n"  # dir/index.tsx
        "import cfg from '#config';\n"
        "import { x } from '#lib/x';\n"
        "import { y } from '@app/deep/y';\n"  # tsconfig paths via extends
        "import { shared } from '@acme/shared';\n"  # workspace package
        "import { sub } from '@acme/shared/sub';\n"
        "const lazy = import('./lazy');\n"
        "const legacy = require('./legacy.cjs');\n"
        "import React from 'react';\nimport fs from 'node:fs';\n"
        "import './missing';\nimport './styles.css';\n"
    ),
    "apps/web/src/util.ts": "export const helper = 1;\n",
    "apps/web/src/types.ts": "export type T = number;\n",
    "apps/web/src/components/index.tsx": "export const C = () => null;\n",
    "apps/web/src/config.ts": "export default {};\n",
    "apps/web/src/lib/x.ts": "export const x = 1;\n",
    "apps/web/src/deep/y.ts": "export const y = 1;\n",
    "apps/web/src/lazy.ts": "export default 1;\n",
    "apps/web/src/legacy.cjs": "module.exports = {};\n",
    "apps/web/src/styles.css": "body {}\n",
    "packages/shared/package.json": '{"name": "@acme/shared", "exports": {".": "./src/index.ts",'
                                    ' "./sub": "./src/sub.ts"}}',
    "packages/shared/src/index.ts": "export const shared = 1;\n",
    "packages/shared/src/sub.ts": "export const sub = 1;\n",
}


def test_monorepo_resolution_rules(tmp_path):
    repo = make_repo(tmp_path / "mono", MONOREPO)
    graph = build_dependency_graph(repo)
    src = "apps/web/src/main.tsx"
    got = {(e.target, e.kind) for e in graph.edges if e.source == src}
    assert got == {
        ("apps/web/src/util.ts", "import"),
        ("apps/web/src/types.ts", "type-only"),
        ("apps/web/src/components/index.tsx", "re-export"),
        ("apps/web/src/config.ts", "import"),
        ("apps/web/src/lib/x.ts", "import"),
        ("apps/web/src/deep/y.ts", "import"),
        ("packages/shared/src/index.ts", "import"),
        ("packages/shared/src/sub.ts", "import"),
        ("apps/web/src/lazy.ts", "dynamic"),
        ("apps/web/src/legacy.cjs", "require"),
    }
    reasons = {u.spec: u.reason for u in graph.unresolved if u.source == src}
    assert reasons == {"react": "external", "node:fs": "stdlib", "./missing": "missing",
                       "./styles.css": "asset"}
    assert graph.stats["typescript"].files == 10 and graph.stats["javascript"].files == 1
