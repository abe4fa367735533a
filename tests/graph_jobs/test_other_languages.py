"""Go, Java, Rust and C/C++ extraction and resolution."""

from __future__ import annotations

from devkit.repos import make_repo
from graph_jobs.graph.dependency_graph import build_dependency_graph


def edges(graph):
    return {(e.source, e.target, e.kind) for e in graph.edges}


def test_go_by_module_path(tmp_path):
    repo = make_repo(tmp_path / "g", {
        "go.mod": "module example.com/shop\n\ngo 1.22\n",
        "cmd/server/main.go": 'package main\nimport (\n "fmt"\n "example.com/shop/internal/cart"\n'
                              ' "github.com/x/y"\n)\n',
        "internal/cart/cart.go": 'package cart\nimport "example.com/shop/internal/money"\n',
        "internal/cart/item.go": "package cart\n",
        "internal/cart/cart_test.go": "package cart\n",
        "internal/money/money.go": "package money\n",
    })
    g = build_dependency_graph(repo)
    assert edges(g) >= {
        ("cmd/server/main.go", "internal/cart/cart.go", "import"),
        ("cmd/server/main.go", "internal/cart/item.go", "import"),
        ("internal/cart/cart.go", "internal/money/money.go", "import"),
    }
    assert not any(e.target.endswith("_test.go") for e in g.edges)
    assert {(u.spec, u.reason) for u in g.unresolved} == {("fmt", "stdlib"),
                                                          ("github.com/x/y", "external")}


def test_java_by_package_and_class(tmp_path):
    base = "src/main/java/com/acme"
    repo = make_repo(tmp_path / "j", {
        f"{base}/App.java": "package com.acme;\nimport com.acme.model.User;\n"
                            "import static com.acme.util.Strings.trim;\nimport com.acme.svc.*;\n"
                            "import java.util.List;\nimport org.slf4j.Logger;\n",
        f"{base}/model/User.java": "package com.acme.model;\npublic class User {}\n",
        f"{base}/util/Strings.java": "package com.acme.util;\n",
        f"{base}/svc/A.java": "package com.acme.svc;\n",
        f"{base}/svc/B.java": "package com.acme.svc;\n",
    })
    g = build_dependency_graph(repo)
    assert {t for s, t, _ in edges(g) if s.endswith("App.java")} == {
        f"{base}/model/User.java", f"{base}/util/Strings.java", f"{base}/svc/A.java",
        f"{base}/svc/B.java"}
    assert {(u.spec, u.reason) for u in g.unresolved} == {("java.util.List", "stdlib"),
                                                          ("org.slf4j.Logger", "external")}


def test_java_classes_of_the_same_package_are_edges_without_an_import(tmp_path):
    """Same-package classes need no import; the graph sees them by name, and a
    single-type import of another class of that name shadows the package's."""
    base = "src/main/java/com/acme"
    repo = make_repo(tmp_path / "j", {
        f"{base}/App.java": "package com.acme;\nimport com.acme.other.Shadowed;\n"
                            "public class App extends Base<Item> {\n"
                            "  Helper h = new Helper();\n  int n = Limits.MAX;\n"
                            "  void run() { Tools.go(Kind.class); Shadowed s; String t; }\n}\n",
        f"{base}/Base.java": "package com.acme;\npublic class Base<T> { T t; }\n",
        f"{base}/Item.java": "package com.acme;\npublic class Item {}\n",
        f"{base}/Helper.java": "package com.acme;\npublic class Helper {}\n",
        f"{base}/Limits.java": "package com.acme;\npublic class Limits { static int MAX; }\n",
        f"{base}/Tools.java": "package com.acme;\npublic class Tools {}\n",
        f"{base}/Kind.java": "package com.acme;\npublic enum Kind {}\n",
        f"{base}/Shadowed.java": "package com.acme;\npublic class Shadowed {}\n",
        f"{base}/Unused.java": "package com.acme;\npublic class Unused {}\n",
        f"{base}/other/Shadowed.java": "package com.acme.other;\npublic class Shadowed {}\n",
        f"{base}/other/Item.java": "package com.acme.other;\npublic class Item {}\n",
    })
    g = build_dependency_graph(repo)
    out = {(t.removeprefix(f"{base}/"), k) for s, t, k in edges(g) if s.endswith("/App.java")}
    assert out == {("Base.java", "same-package"), ("Item.java", "same-package"),
                   ("Helper.java", "same-package"), ("Limits.java", "same-package"),
                   ("Tools.java", "same-package"), ("Kind.java", "same-package"),
                   ("other/Shadowed.java", "import")}
    # nothing from another package by name alone, and no unresolved noise for String/T
    assert not any(s.endswith("/Base.java") for s, _t, _k in edges(g))
    assert g.unresolved == []


def test_rust_mod_and_use(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "Cargo.toml": '[package]\nname = "my-app"\n',
        "src/main.rs": "mod net;\nmod util;\nuse crate::net::http::Client;\nuse std::io;\n"
                       "use serde::Serialize;\n",
        "src/net/mod.rs": "pub mod http;\nuse super::util::{trim, pad as p};\n",
        "src/net/http.rs": "use crate::util;\n",
        "src/util.rs": "",
    })
    g = build_dependency_graph(repo)
    assert edges(g) >= {
        ("src/main.rs", "src/net/mod.rs", "mod"),
        ("src/main.rs", "src/util.rs", "mod"),
        ("src/main.rs", "src/net/http.rs", "import"),
        ("src/net/mod.rs", "src/net/http.rs", "mod"),
        ("src/net/mod.rs", "src/util.rs", "import"),
        ("src/net/http.rs", "src/util.rs", "import"),
    }
    assert {(u.spec, u.reason) for u in g.unresolved} == {("std::io", "stdlib"),
                                                          ("serde::Serialize", "external")}


def test_c_and_cpp_includes(tmp_path):
    repo = make_repo(tmp_path / "c", {
        "include/lib/api.h": "#include <stdio.h>\n",
        "src/impl.c": '#include "lib/api.h"\n#include "local.h"\n#include "nowhere.h"\n',
        "src/local.h": "",
        "tools/main.cpp": '#include <vector>\n#include "../src/local.h"\n#include <lib/api.h>\n',
    })
    g = build_dependency_graph(repo)
    assert edges(g) == {
        ("src/impl.c", "include/lib/api.h", "include"),
        ("src/impl.c", "src/local.h", "include"),
        ("tools/main.cpp", "src/local.h", "include"),
        ("tools/main.cpp", "include/lib/api.h", "include"),
    }
    assert ("nowhere.h", "missing") in {(u.spec, u.reason) for u in g.unresolved}


def test_every_language_is_one_registry_entry(tmp_path):
    """Extensions, grammar, extractor and resolver all come from the language's entry in
    graph_jobs.languages.LANGUAGES; each reference loads and works."""
    from graph_jobs.graph.extract import extract_imports
    from graph_jobs.graph.resolve import ResolverInputs
    from graph_jobs.languages import EXTENSIONS, FAMILY, LANGUAGES, load, parser

    snippets = {"python": b"import os\nfrom . import x\n", "javascript": b"import a from './a';\n",
                "typescript": b"import {a} from './a';\n", "tsx": b"import a from './a';\n",
                "go": b'package p\nimport "fmt"\n', "java": b"package p;\nimport java.util.List;\n",
                "rust": b"mod a;\nuse crate::b;\n", "c": b'#include "a.h"\n',
                "cpp": b'#include "a.hpp"\n'}
    assert set(snippets) == set(LANGUAGES)
    for name, spec in LANGUAGES.items():
        assert all(EXTENSIONS[e] == name for e in spec.extensions)
        assert FAMILY[name] == spec.family
        assert parser(name) is not None
        imports, had_error = extract_imports(name, snippets[name])
        assert imports and not had_error, name
        resolver = load(spec.resolver)(ResolverInputs(tmp_path, set(), set(), {}))
        assert callable(resolver.resolve)
