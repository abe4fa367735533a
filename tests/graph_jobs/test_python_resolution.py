"""Python resolution rules on small repositories written for each rule."""

from __future__ import annotations

import pytest

from devkit.repos import make_repo
from graph_jobs.graph.dependency_graph import build_dependency_graph


def edges(graph):
    return {(e.source, e.target, e.kind) for e in graph.edges}


def test_from_import_submodule_vs_name_and_relative(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "pkg/__init__.py": "from .core import run\n",
        "pkg/core.py": "from . import util\nfrom .util import helper\nfrom pkg import sub\n",
        "pkg/util.py": "def helper(): ...\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/deep.py": "from .. import core\nfrom ...outside import x\nimport pkg.sub\n",
    })
    g = build_dependency_graph(repo)
    e = edges(g)
    assert ("pkg/__init__.py", "pkg/core.py", "from-import") in e
    assert ("pkg/core.py", "pkg/util.py", "from-import") in e
    assert ("pkg/core.py", "pkg/sub/__init__.py", "from-import") in e
    assert ("pkg/sub/deep.py", "pkg/core.py", "from-import") in e
    assert ("pkg/sub/deep.py", "pkg/sub/__init__.py", "import") in e
    reasons = {(u.source, u.reason) for u in g.unresolved}
    assert ("pkg/sub/deep.py", "missing") in reasons  # beyond the top-level package


def test_imports_in_functions_try_conditionals_and_type_checking(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "app/__init__.py": "",
        "app/a.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from app.b import B\nelse:\n    import app.c\n"
            "try:\n    import app.d\nexcept ImportError:\n    import app.e\n"
            "def f():\n    import app.f\n"
            "import importlib\nmod = importlib.import_module('app.g')\n"
            "other = importlib.import_module(name)\n"
            "import numpy, os\n"
        ),
        **{f"app/{m}.py": "" for m in "bcdefg"},
    })
    g = build_dependency_graph(repo)
    e = edges(g)
    assert ("app/a.py", "app/b.py", "type-only") in e
    for m in "cdef":
        assert ("app/a.py", f"app/{m}.py", "import") in e
    assert ("app/a.py", "app/g.py", "dynamic") in e
    reasons = {(u.spec, u.reason) for u in g.unresolved}
    assert ("", "dynamic") in reasons
    assert ("numpy", "external") in reasons and ("os", "stdlib") in reasons


def test_src_layout_and_several_roots(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "src/alpha/__init__.py": "from beta import tool\n",
        "src/beta/__init__.py": "",
        "src/beta/tool.py": "",
        "services/api/gamma/__init__.py": "import alpha\nfrom gamma import views\n",
        "services/api/gamma/views.py": "",
        "tests/test_alpha.py": "import alpha\nfrom helpers import make\n",
        "tests/helpers.py": "def make(): ...\n",
        "ns/part/mod.py": "from ns.part import other\nimport ns\n",
        "ns/part/other.py": "",
    })
    g = build_dependency_graph(repo)
    e = edges(g)
    assert ("src/alpha/__init__.py", "src/beta/tool.py", "from-import") in e
    assert ("services/api/gamma/__init__.py", "src/alpha/__init__.py", "import") in e
    assert ("services/api/gamma/__init__.py", "services/api/gamma/views.py", "from-import") in e
    assert ("tests/test_alpha.py", "src/alpha/__init__.py", "import") in e
    assert ("tests/test_alpha.py", "tests/helpers.py", "from-import") in e
    assert ("ns/part/mod.py", "ns/part/other.py", "from-import") in e
    assert ("ns/part/mod.py", "ns", "no-file") in {(u.source, u.spec, u.reason) for u in g.unresolved}


def test_parse_prefix_keeps_trailing_import_lists_and_ignores_docstrings(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "pkg/__init__.py": "", "pkg/a.py": "", "pkg/b.py": "", "pkg/c.py": "",
        "pkg/main.py": (
            "def f():\n    pass\n"
            "def late():\n    from pkg import (\n        a,\n        b,\n    )\n"
            "    from pkg import \\\n        c\n"
            '    """Example:\n\n    from pkg import nothing_here\n    """\n'
            "    return 1\n"
        ),
    })
    g = build_dependency_graph(repo)
    assert {e.target for e in g.edges if e.source == "pkg/main.py"} == {
        "pkg/a.py", "pkg/b.py", "pkg/c.py"}
    assert not [u for u in g.unresolved if u.source == "pkg/main.py"]


@pytest.mark.parametrize("package", ["requests", "click", "sqlalchemy", "email"])
def test_byte_scan_finds_exactly_what_the_tree_sitter_query_finds(package):
    """The Python extractor visits only the leaves under the bytes ``import`` instead of
    running a query over the whole tree: same imports, on real code nobody here wrote."""
    import importlib
    from pathlib import Path

    from graph_jobs.graph.extract import python_import_prefix, python_imports, to_utf8_bytes
    from graph_jobs.languages import parser

    root = Path(importlib.import_module(package).__file__).parent
    total = 0
    for f in sorted(root.rglob("*.py")):
        data = python_import_prefix(to_utf8_bytes(f.read_bytes()))
        tree = parser("python").parse(data)
        by_scan = [(n.type, n.start_byte) for n in python_imports._import_nodes(tree.root_node, data)]
        by_query = [(n.type, n.start_byte) for n in python_imports.query_import_nodes(tree.root_node)]
        assert by_query == by_scan, f
        total += len(python_imports.extract(tree.root_node, data))
    assert total > 50


def test_parse_prefix_ends_at_the_last_import_not_at_words_like_imports():
    from graph_jobs.graph.extract import extract_imports, python_import_prefix

    src = (b"def f():\n    from pkg import a\n    m = importlib.import_module('pkg.b')\n"
           b"    return __import__('pkg.c')\n"
           b"# the imports above are important; importlib is not re-imported here\n"
           + b"x = 1\n" * 1000)
    prefix = python_import_prefix(src)
    assert prefix.endswith(b"return __import__('pkg.c')\n")
    specs = {i.spec for i in extract_imports("python", src)[0]}
    assert specs == {"pkg", "pkg.b", "pkg.c"}
