"""Bad and hostile input: each gives a clear outcome and never fails the graph."""

from __future__ import annotations

import os

import pytest

from devkit.repos import commit_all, make_repo
from graph_jobs.errors import CloneFailed, RepositoryError, UnsafeRepositoryURL
from graph_jobs.graph.dependency_graph import build_dependency_graph
from graph_jobs.graph.repo_source import open_repository


def skipped(graph):
    return {s.path: s.reason for s in graph.skipped}


def test_symlink_to_etc_passwd_is_never_read(tmp_path):
    repo = make_repo(tmp_path / "r", {"ok.py": "import os\n"})
    os.symlink("/etc/passwd", repo / "passwd.py")
    os.symlink("ok.py", repo / "alias.py")
    commit_all(repo)
    g = build_dependency_graph(repo)
    assert [f.path for f in g.files] == ["ok.py"]
    assert skipped(g)["passwd.py"] == "symlink leaving the repository (not followed)"
    assert skipped(g)["alias.py"] == "symlink inside the repository (not followed)"


def test_symlinked_directory_out_of_repo_in_plain_directory(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("import x\n")
    root = tmp_path / "plain"
    root.mkdir()
    (root / "a.py").write_text("")
    os.symlink(outside, root / "linked")
    g = build_dependency_graph(root)
    assert [f.path for f in g.files] == ["a.py"]


def test_50_mb_file_is_skipped_without_reading(tmp_path):
    repo = make_repo(tmp_path / "r", {"small.py": "import big\n"})
    with open(repo / "big.py", "wb") as fh:
        fh.write(b"x = 1\n" * (50 * 1024 * 1024 // 6))
    commit_all(repo)
    g = build_dependency_graph(repo, max_file_bytes=1 << 20)
    assert skipped(g)["big.py"].startswith("over the size limit")
    assert [f.path for f in g.files] == ["small.py"]


def test_binary_file_named_py(tmp_path):
    repo = make_repo(tmp_path / "r", {"blob.py": os.urandom(4096) + b"\0" * 10, "a.py": ""})
    g = build_dependency_graph(repo)
    assert skipped(g)["blob.py"] == "binary"


def test_invalid_utf8_and_other_encodings(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "latin.py": "# -*- coding: latin-1 -*-\nimport pkg.mod\ns = 'caf\xe9'\n".encode("latin-1"),
        "garbage.py": b"import pkg\n\xff\xfe\xc3\x28 = 1\nfrom pkg import mod\n",
        "utf16.py": "import pkg.mod\n".encode("utf-16"),
        # an invalid byte inside a string whose method is called (CPython's own
        # test_source_encoding.py has one): once made tree-sitter's query predicate raise
        "escape.py": b'import pkg.mod\nx = "\\\xf0".encode("utf-8")\nfrom pkg import mod\n',
        "pkg/__init__.py": "",
        "pkg/mod.py": "",
    })
    g = build_dependency_graph(repo)
    e = {(x.source, x.target) for x in g.edges}
    assert ("latin.py", "pkg/mod.py") in e
    assert ("garbage.py", "pkg/__init__.py") in e and ("garbage.py", "pkg/mod.py") in e
    assert ("utf16.py", "pkg/mod.py") in e
    assert ("escape.py", "pkg/mod.py") in e and "escape.py" not in skipped(g)


def test_deeply_nested_expression(tmp_path):
    depth = 100_000
    repo = make_repo(tmp_path / "r", {
        "deep.py": "import os\nx = " + "(\n" * depth + "1" + ")\n" * depth + "import json\n",
        "deep.js": "const a = " + "[\n" * depth + "]\n" * depth + ";\nrequire('./b');\n",
        "b.js": "",
        "oneline.py": "x = " + "(" * depth + ")" * depth + "\n",
    })
    g = build_dependency_graph(repo)
    assert {f.path for f in g.files} == {"deep.py", "deep.js", "b.js"}
    assert skipped(g)["oneline.py"] == "minified (very long lines)"
    assert ("deep.js", "b.js") in {(x.source, x.target) for x in g.edges}
    assert {u.spec for u in g.unresolved if u.source == "deep.py"} == {"os", "json"}


def test_syntax_errors_still_yield_imports(tmp_path):
    repo = make_repo(tmp_path / "r", {
        "broken.py": "import a\ndef f(:\n    pass\nimport b\nclass (\nfrom a import c\n",
        "a/__init__.py": "", "a/c.py": "", "b.py": "",
        "broken.ts": "import {x} from './b2';\nconst = = ;\nlet z = <<>>;\nimport y from './c2';\n",
        "b2.ts": "", "c2.ts": "",
    })
    g = build_dependency_graph(repo)
    e = {(x.source, x.target) for x in g.edges}
    assert {("broken.py", "a/__init__.py"), ("broken.py", "b.py"), ("broken.py", "a/c.py"),
            ("broken.ts", "b2.ts"), ("broken.ts", "c2.ts")} <= e
    assert g.stats["python"].parse_errors == 1 and g.stats["typescript"].parse_errors == 1


def test_minified_and_vendored_and_gitignored_files(tmp_path):
    repo = make_repo(tmp_path / "r", {
        ".gitignore": "generated/\n",
        "app.js": "require('./lib')\n",
        "lib.js": "",
        "lib.min.js": "var a=1;",
        "bundle.js": "var a=1;" * 2000,
        "node_modules/dep/index.js": "",
        "vendor/x.go": "package x\n",
        "dist/out.js": "",
        ".venv/lib/site.py": "",
    })
    (repo / "generated").mkdir()
    (repo / "generated" / "g.py").write_text("import os\n")  # untracked: ignored by git
    g = build_dependency_graph(repo)
    assert {f.path for f in g.files} == {"app.js", "lib.js"}
    s = skipped(g)
    assert s["lib.min.js"] == "minified bundle"
    assert s["bundle.js"] == "minified (very long lines)"
    assert s["node_modules/dep/index.js"].startswith("vendored")


def test_empty_repository(tmp_path):
    repo = make_repo(tmp_path / "empty")
    g = build_dependency_graph(repo)
    assert g.files == [] and g.edges == [] and g.stats == {}


def test_clone_url_that_does_not_exist(tmp_path):
    missing = f"file://{tmp_path}/no-such-repo.git"
    with pytest.raises(CloneFailed, match="does not appear to be a git repository|repository exists"), \
            open_repository(missing, workdir=tmp_path):
        pass
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("pharos-clone-")]


@pytest.mark.parametrize("url", [
    "--upload-pack=touch /tmp/pwned", "-c core.sshCommand=x", "ext::sh -c touch% /tmp/pwned",
    "ssh://git@github.com/a/b", "git://github.com/a/b",
    "https://github.com/a/b\n--upload-pack=x", "fd::17",
])
def test_unsafe_clone_arguments_are_refused_before_git_runs(tmp_path, url):
    with pytest.raises(UnsafeRepositoryURL), open_repository(url, workdir=tmp_path):
        pass


def test_the_scp_spelling_is_the_https_clone_not_ssh():
    """``git@github.com:a/b.git`` names github.com/a/b and is cloned over https like every
    other spelling (issue 28), never over ssh (tests/pharos_cli/test_ingest_spellings.py
    clones it)."""
    from graph_jobs.url_policy import UrlPolicy

    ref = UrlPolicy.for_user().check("git@github.com:a/b.git", resolve=False).ref
    assert (ref.name, ref.clone_url, ref.scheme) == ("github.com/a/b", "https://github.com/a/b",
                                                     "https")


def test_missing_local_directory(tmp_path):
    with pytest.raises(RepositoryError, match="no such directory"), \
            open_repository(str(tmp_path / "nope")):
        pass
