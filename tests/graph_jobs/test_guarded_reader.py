"""The one guarded reader of repository files (graph_jobs.graph.repo_files), and hostile
repositories that once took a worker down: a manifest symlinked to ``/dev/zero`` (each
language), links leaving the repository, FIFOs, and a 1 GB sparse file.

The graph and the job run in a child process whose address space is capped (its size
after the imports, plus 1 GiB) and whose run is timed out: code that reads ``/dev/zero``
fails there with ``MemoryError``, and code that blocks on a FIFO is killed, instead of
taking the test machine down or hanging the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from devkit.repos import commit_all, git, make_repo
from graph_jobs.errors import FileRefused
from graph_jobs.graph.dependency_graph import build_dependency_graph
from graph_jobs.graph.repo_files import MANIFEST_MAX_BYTES, RepoFiles
from graph_jobs.graph.resolve.go_resolver import GoResolver

GIB = 1 << 30
REPO_ROOT = Path(__file__).resolve().parents[2]

# Run in the child: import what the run needs, cap the address space at what the process
# holds now plus the headroom, then run the snippet, which sets `out`; print `out` as JSON.
_CHILD = textwrap.dedent("""
    import importlib, json, logging, resource, sys
    logging.basicConfig(level=logging.WARNING)
    headroom, preload, code = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    for name in filter(None, preload.split(",")):
        importlib.import_module(name)
    vm = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status")
              if line.startswith("VmSize:"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + headroom, resource.RLIM_INFINITY))
    out = {}
    exec(code)
    out["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("RESULT " + json.dumps(out))
""")
GRAPH_MODULES = "graph_jobs.graph.graph_job,graph_jobs.settings,graph_jobs.graph.dependency_graph"


def run_bounded(code: str, env: dict[str, str] | None = None, *, preload: str = GRAPH_MODULES,
                headroom: int = GIB, timeout: float = 120) -> tuple[dict, str]:
    """``(out, stderr)`` of ``code`` run in a child capped at ``headroom`` more bytes of
    address space; fails the test (never hangs it) when the child dies or times out."""
    child_env = {**os.environ, "PHAROS_DEVICE": "cpu", "MALLOC_ARENA_MAX": "2",
                 "OMP_NUM_THREADS": "2", **(env or {})}
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(headroom), preload, code],
                              capture_output=True, text=True, timeout=timeout,
                              cwd=REPO_ROOT, env=child_env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the child ran past {timeout} s (blocked?): {exc.stderr!r}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"the child failed: {proc.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT "):]), proc.stderr


GRAPH = """
from graph_jobs.graph.graph_job import graph_for
from graph_jobs.settings import JobSettings
g = graph_for(sys.argv[4], JobSettings(_env_file=None))
out["files"] = sorted(f.path for f in g.files)
out["edges"] = sorted([e.source, e.target] for e in g.edges)
out["skipped"] = {s.path: s.reason for s in g.skipped}
"""


def graph_bounded(source: str, data_dir: Path) -> dict:
    """``pharos graph``'s function (``graph_for``) on ``source``, bounded."""
    code = GRAPH.replace("sys.argv[4]", repr(source))
    out, _ = run_bounded(code, {"PHAROS_DATA_DIR": str(data_dir)})
    return out


# -- the reader ------------------------------------------------------------------------

@pytest.fixture
def root(tmp_path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    return r


def refusal(files: RepoFiles, rel: str, max_bytes: int = 1 << 20) -> str:
    with pytest.raises(FileRefused) as info:
        files.read(rel, max_bytes)
    return info.value.reason


def test_reads_a_regular_file_and_its_text(root):
    (root / "pkg").mkdir()
    (root / "pkg" / "a.py").write_bytes(b"import os\n")
    (root / "package.json").write_bytes(b'\xef\xbb\xbf{"name": "x"}')
    files = RepoFiles(root)
    assert files.read("pkg/a.py", 100) == b"import os\n"
    assert files.stat("pkg/a.py").st_size == 10
    assert files.read_text("package.json", 100) == '{"name": "x"}'  # the BOM dropped


def test_symlinks_in_and_out_are_refused(root):
    (root / "a.py").write_text("x = 1\n")
    os.symlink("a.py", root / "alias.py")
    os.symlink("/etc/passwd", root / "passwd.py")
    files = RepoFiles(root)
    for rel, where in (("alias.py", "inside"), ("passwd.py", "leaving")):
        assert refusal(files, rel) == f"symlink {where} the repository (not followed)"
        with pytest.raises(FileRefused, match=where):
            files.stat(rel)


def test_link_to_dev_zero_is_refused_before_any_read(root):
    os.symlink("/dev/zero", root / "go.mod")
    files = RepoFiles(root)
    assert refusal(files, "go.mod", 1 << 40) == "symlink leaving the repository (not followed)"


def test_fifo_is_refused_without_blocking(root):
    os.mkfifo(root / "pipe.py")
    files = RepoFiles(root)
    got: list[str] = []

    def read() -> None:
        try:
            files.read("pipe.py", 100)
        except FileRefused as exc:
            got.append(exc.reason)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(30)
    if t.is_alive():  # blocked in open(): a writer lets it go, and the test fails
        fd = os.open(root / "pipe.py", os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        t.join(5)
        pytest.fail("reading a FIFO blocked")
    assert got == ["not a regular file (FIFO)"]
    with pytest.raises(FileRefused, match="FIFO"):
        files.stat("pipe.py")


def test_size_cap_and_a_1_gb_sparse_file(root):
    (root / "at_cap.py").write_bytes(b"x" * 1000)
    (root / "over.py").write_bytes(b"x" * 1001)
    with open(root / "big.py", "wb") as fh:
        fh.truncate(GIB)
    files = RepoFiles(root)
    assert len(files.read("at_cap.py", 1000)) == 1000
    assert refusal(files, "over.py", 1000) == "over the size limit (1001 > 1000 bytes)"
    assert refusal(files, "big.py") == f"over the size limit ({GIB} > {1 << 20} bytes)"


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_a_file_longer_than_its_size_says_is_still_capped():
    # /proc files are regular files of size 0 that read longer: a file that grew
    files = RepoFiles("/proc/self")
    assert b"VmSize" in files.read("status", 1 << 20)
    assert refusal(files, "status", 10) == "over the size limit (> 10 bytes)"


def test_directory_and_missing_file(root):
    (root / "pkg").mkdir()
    files = RepoFiles(root)
    assert refusal(files, "pkg") == "not a regular file (directory)"
    assert refusal(files, "nope.py") == "missing from the work tree"
    assert refusal(files, "nodir/nope.py") == "missing from the work tree"


def test_paths_that_leave_the_repository(root, tmp_path):
    (tmp_path / "secret.py").write_text("token = 1\n")
    os.symlink(tmp_path, root / "up")  # a directory link: nothing under it is read
    files = RepoFiles(root)
    for rel in ("../secret.py", "/etc/passwd", "a/../../secret.py", "./a.py", "a//b.py", ""):
        assert refusal(files, rel) == "path leaves the repository (not followed)", rel
    assert refusal(files, "up/secret.py") == "under a symlinked directory up/ (not followed)"


@pytest.fixture
def deep_tree(tmp_path):
    """A directory tree deeper than the recursion limit (~2 bytes a level: under
    PATH_MAX), removed bottom-up afterwards (recursive removal would fail on it)."""
    root = tmp_path / "plain"
    dirs = [root]
    root.mkdir()
    for _ in range(sys.getrecursionlimit() + 100):
        dirs.append(dirs[-1] / "a")
        dirs[-1].mkdir()
    (dirs[-1] / "x.py").write_text("import os\n")
    yield root, dirs[-1]
    (dirs[-1] / "x.py").unlink()
    for d in reversed(dirs):
        d.rmdir()


def test_a_directory_tree_deeper_than_the_recursion_limit(deep_tree):
    root, deepest = deep_tree
    g = build_dependency_graph(root)
    assert [f.path for f in g.files] == [str(deepest.relative_to(root) / "x.py")]
    assert RepoFiles(root).read(g.files[0].path, 100) == b"import os\n"


# -- manifests linked to /dev/zero, in the graph -----------------------------------------

HOSTILE = {
    # the module of app/ still resolves by its own, real go.mod
    "go": ({"app/go.mod": "module example.com/app\n",
            "app/main.go": 'package main\nimport "example.com/app/lib"\nfunc main() { lib.F() }\n',
            "app/lib/lib.go": "package lib\nfunc F() {}\n"},
           ["go.mod"], ("app/main.go", "app/lib/lib.go")),
    "rust": ({"src/main.rs": "mod util;\nfn main() { util::f(); }\n",
              "src/util.rs": "pub fn f() {}\n"},
             ["Cargo.toml"], ("src/main.rs", "src/util.rs")),
    "js": ({"index.js": "const lib = require('./lib');\n", "lib.js": "module.exports = 1;\n",
            "index.ts": "import { u } from './util';\n", "util.ts": "export const u = 1;\n"},
           ["package.json", "tsconfig.json"], ("index.ts", "util.ts")),
}


@pytest.mark.parametrize("lang,clone", [("go", False), ("go", True), ("rust", False),
                                        ("js", False)])
def test_manifest_linked_to_dev_zero_is_skipped_and_the_graph_finishes(tmp_path, lang, clone):
    sources, manifests, edge = HOSTILE[lang]
    repo = make_repo(tmp_path / "repo", sources)
    for m in manifests:
        os.symlink("/dev/zero", repo / m)
    commit_all(repo)
    g = graph_bounded(f"file://{repo}" if clone else str(repo), tmp_path / "data")
    assert g["files"] == sorted(p for p in sources if not p.endswith("go.mod"))
    assert list(edge) in g["edges"]
    for m in manifests:
        assert g["skipped"][m] == "symlink leaving the repository (not followed)"
    assert g["maxrss"] < GIB


def test_manifests_and_sources_linked_outside_are_never_read(tmp_path):
    outside = make_repo(tmp_path / "outside", {
        "go.mod": "module example.com/evil\n",
        "package.json": '{"name": "evil"}\n',
        "Cargo.toml": '[package]\nname = "evil"\n',
    })
    repo = make_repo(tmp_path / "repo", {
        "main.go": 'package main\nimport "example.com/evil/lib"\nfunc main() { lib.F() }\n',
        "lib/lib.go": "package lib\nfunc F() {}\n",
        "index.js": "require('evil/util');\n", "util.js": "",
        "src/main.rs": "use evil::util;\nfn main() {}\n", "src/util.rs": "",
    })
    for name in ("go.mod", "package.json", "Cargo.toml"):
        os.symlink(outside / name, repo / name)
    os.symlink("/etc/passwd", repo / "passwd.py")
    os.symlink("/etc/passwd", repo / "tsconfig.json")
    commit_all(repo)
    g = build_dependency_graph(repo)
    # read, the links would make example.com/evil, the package "evil" and the crate
    # "evil" this repository's own, and each import an edge
    assert g.edges == []
    reasons = {s.path: s.reason for s in g.skipped}
    for name in ("go.mod", "package.json", "Cargo.toml", "passwd.py", "tsconfig.json"):
        assert reasons[name] == "symlink leaving the repository (not followed)", name
    assert "passwd.py" not in {f.path for f in g.files}


def test_resolvers_never_follow_a_symlinked_manifest_even_when_listed(tmp_path):
    """Defence in depth: a resolver handed a link (a work tree changed after discovery)
    reads it through the guarded reader too, and records the refusal."""
    repo = make_repo(tmp_path / "repo", {"main.go": "package main\n"})
    for name in ("go.mod", "Cargo.toml", "package.json", "tsconfig.json"):
        os.symlink("/dev/zero", repo / name)
    code = f"""
from pathlib import Path
from graph_jobs.graph.resolve.go_resolver import GoResolver
from graph_jobs.graph.resolve.js_resolver import JsResolver
from graph_jobs.graph.resolve.rust_resolver import RustResolver
from graph_jobs.models import EdgeKind, RawImport
root = Path({str(repo)!r})
listed = {{"main.go", "go.mod", "Cargo.toml", "package.json", "tsconfig.json", "a.ts"}}
skipped = []
GoResolver(root, {{"main.go"}}, listed, skipped=skipped)
RustResolver(root, set(), listed, skipped=skipped)
js = JsResolver(root, {{"a.ts"}}, listed, skipped=skipped)
js.resolve("a.ts", RawImport("x/y", EdgeKind.IMPORT, 1))
out["skipped"] = sorted([s.path, s.reason] for s in skipped)
"""
    out, stderr = run_bounded(code)
    reason = "symlink leaving the repository (not followed)"
    assert out["skipped"] == [[m, reason] for m in
                              ("Cargo.toml", "go.mod", "package.json", "tsconfig.json")]
    assert "manifest go.mod not read" in stderr  # logged for the operator


def test_manifest_over_the_cap_is_skipped_with_its_reason(tmp_path):
    pad = "// " + "x" * 100 + "\n"
    big = "module example.com/m\n" + pad * (MANIFEST_MAX_BYTES // len(pad) + 1)
    repo = make_repo(tmp_path / "repo", {
        "go.mod": big,
        "main.go": 'package main\nimport "example.com/m/lib"\nfunc main() { lib.F() }\n',
        "lib/lib.go": "package lib\nfunc F() {}\n",
    })
    g = build_dependency_graph(repo)
    reasons = {s.path: s.reason for s in g.skipped}
    assert reasons["go.mod"] == f"over the size limit ({len(big)} > {MANIFEST_MAX_BYTES} bytes)"
    assert {f.path for f in g.files} == {"main.go", "lib/lib.go"}
    assert g.edges == []  # the module is unknown without its go.mod: an external import
    assert [u.reason for u in g.unresolved if u.source == "main.go"] == ["external"]


def test_fifos_in_a_plain_directory_never_block(tmp_path):
    root = tmp_path / "plain"
    root.mkdir()
    (root / "main.go").write_text("package main\n")
    os.mkfifo(root / "go.mod")
    os.mkfifo(root / "pipe.py")
    out = graph_bounded(str(root), tmp_path / "data")
    assert out["files"] == ["main.go"]
    assert out["skipped"] == {"go.mod": "not a regular file (FIFO)",
                              "pipe.py": "not a regular file (FIFO)"}


def test_go_resolver_reads_a_regular_go_mod(tmp_path):
    repo = make_repo(tmp_path / "repo", {"go.mod": "\ufeffmodule example.com/m\n"})
    assert GoResolver(repo, set(), {"go.mod"}).modules == [("example.com/m", "")]


# -- a 1 GB sparse file ------------------------------------------------------------------

def test_1_gb_sparse_source_file_is_skipped_by_its_size(tmp_path):
    repo = make_repo(tmp_path / "repo", {"a.py": "import big\n"})
    with open(repo / "big.py", "wb") as fh:
        fh.truncate(GIB)
    # tracked: git lists it in the index (an empty blob, the 1 GB in the work tree, as a
    # checkout of a 1 GB blob would leave it), without deflating 1 GB of zeros here
    empty = git(repo, "hash-object", "-w", "--stdin").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"100644,{empty},big.py")
    assert "big.py" in git(repo, "ls-files")
    g = graph_bounded(str(repo), tmp_path / "data")
    assert g["files"] == ["a.py"]
    assert g["skipped"]["big.py"] == f"over the size limit ({GIB} > {1 << 20} bytes)"
    assert g["maxrss"] < GIB


# -- the whole job -----------------------------------------------------------------------

INGEST = """
from graph_jobs.pipeline import run_ingest
from pharos_cli.settings import Settings
for name, source in (("hostile", sys.argv[4]), ("next", sys.argv[5])):
    r = run_ingest(source, Settings(_env_file=None))
    out[name] = {"status": r.status, "error": r.error, "files": r.files_processed,
                 "skipped": r.skipped_files}
"""
INGEST_MODULES = ("torch,graph_jobs.pipeline,pharos_cli.settings,graph_jobs.graph.graph_job,"
                  "graph_jobs.embedding.engine,graph_jobs.relations.relation_graph,"
                  "graph_jobs.roles.role_features,graph_jobs.roles.repo_descriptor,"
                  "graph_jobs.stores.vector_store,graph_jobs.stores.metadata_store")


def test_ingest_of_a_go_mod_linked_to_dev_zero_completes_and_the_next_job_too(tmp_path):
    sources, _, _ = HOSTILE["go"]
    hostile = make_repo(tmp_path / "hostile", sources)
    os.symlink("/dev/zero", hostile / "go.mod")
    commit_all(hostile)
    clean = make_repo(tmp_path / "clean", {**sources, "go.mod": "module example.com/m\n"})
    code = INGEST.replace("sys.argv[4]", repr(str(hostile))).replace(
        "sys.argv[5]", repr(str(clean)))
    out, stderr = run_bounded(code, {"PHAROS_DATA_DIR": str(tmp_path / "data")},
                              preload=INGEST_MODULES, timeout=300)
    assert out["hostile"] == {"status": "complete", "error": None, "files": 2, "skipped": 1}
    assert "manifest go.mod not read: symlink leaving the repository" in stderr
    assert out["next"] == {"status": "complete", "error": None, "files": 2, "skipped": 0}
    assert out["maxrss"] < GIB


def test_package_manifests_that_name_themselves_or_each_other_end(tmp_path):
    """A package.json whose main is its own folder, or two that name each other (hapi's
    history has one), fall through to the folder's index file instead of recursing until
    Python's limit (before: RecursionError, and the whole job failed)."""
    repo = make_repo(tmp_path / "repo", {
        "app.js": "require('./self'); require('./a');\n",
        "self/package.json": '{"main": "."}\n', "self/index.js": "",
        "a/package.json": '{"main": "../b"}\n', "a/index.js": "",
        "b/package.json": '{"main": "../a"}\n', "b/index.js": "",
    })
    commit_all(repo)
    g = build_dependency_graph(repo)
    edges = {(e.source, e.target) for e in g.edges}
    assert ("app.js", "self/index.js") in edges
    # Node itself would loop; either folder's index is a fair answer, and one is given
    assert len({("app.js", "a/index.js"), ("app.js", "b/index.js")} & edges) == 1
