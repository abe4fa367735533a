"""Issue 27, items 3-6 and 9, as a user meets them: `pharos` run as a process, with its
own data folder, at a terminal of a given width or piped.

- one data folder, found the same way by every command (PHAROS_DATA_DIR > a project-local
  .pharos > ~/.pharos), printed by `pharos info` / `--version`, named when nothing is
  stored;
- a wrong file name gets the closest stored paths; a repository not stored, its own
  message;
- typing mistakes are refused before a job exists;
- output fits the terminal: paths whole at 80 and 100 columns, tab-separated when piped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devkit.repos import make_repo
from tests.support.cli_runs import run_in_terminal, run_pharos

pytestmark = pytest.mark.slow

# paths longer than half of an 80-column terminal, as in real repositories
DEEP = "src/itsdangerous_like/serialization/backends"


def _files() -> dict[str, str]:
    return {
        f"{DEEP}/__init__.py": "from .signer import Signer\nfrom .timed import TimedSerializer\n",
        f"{DEEP}/signer.py": "from .encoding import want_bytes\n\nclass Signer:\n    pass\n",
        f"{DEEP}/timed.py": "from .signer import Signer\nfrom .encoding import want_bytes\n",
        f"{DEEP}/encoding.py": "def want_bytes(s):\n    return s\n",
        f"{DEEP}/url_safe_serializer_with_a_long_name.py":
            "from .timed import TimedSerializer\nfrom .encoding import want_bytes\n",
        "tests/test_signer.py": f"from {DEEP.replace('/', '.')[4:]}.signer import Signer\n",
    }


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One repository with long paths, ingested into its own data folder."""
    root = tmp_path_factory.mktemp("newcomer")
    repo = make_repo(root / "itsd", _files())
    data = root / "data"
    done = run_pharos("ingest", str(repo), data_dir=data)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"repo": repo, "data": data, "root": root, "ingest": done.stdout}


# --- 3: one data folder ----------------------------------------------------------------
def test_one_data_folder_found_the_same_way_everywhere(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    project = tmp_path / "project"
    (project / "deep" / "er").mkdir(parents=True)
    env = {"HOME": str(home)}

    def folder(cwd: Path, data_dir: Path | None = None) -> dict:
        got = run_pharos("info", "--json", data_dir=data_dir, cwd=cwd, **env)
        assert got.returncode == 0, got.stderr
        return json.loads(got.stdout)

    user = folder(project / "deep")
    assert user["data_folder"] == str(home / ".pharos") and "user" in user["data_folder_why"]
    (project / ".pharos").mkdir()
    # a .pharos nobody trusted (one that came inside a cloned repository, say) is ignored:
    # opening its vector store would unpickle what its author put there
    ignored = folder(project / "deep" / "er")
    assert ignored["data_folder"] == str(home / ".pharos")
    assert ignored["ignored_untrusted_folder"] == str(project / ".pharos")
    trusted = run_pharos("info", "--trust-here", data_dir=None, cwd=project, **env)
    assert trusted.returncode == 0, trusted.stderr
    local = folder(project / "deep" / "er")
    assert local["data_folder"] == str(project / ".pharos")
    assert "project-local" in local["data_folder_why"]
    chosen = folder(project / "deep", tmp_path / "elsewhere")
    assert chosen["data_folder"] == str(tmp_path / "elsewhere")
    assert "PHAROS_DATA_DIR" in chosen["data_folder_why"]

    version = run_pharos("--version", data_dir=None, cwd=project / "deep", **env)
    assert version.returncode == 0 and f"data folder: {project / '.pharos'}" in version.stdout

    # what one command stores there, another finds from another directory of the project
    repo = make_repo(tmp_path / "repo", {"a.py": "import b\n", "b.py": "x = 1\n"})
    ingest = run_pharos("ingest", str(repo), data_dir=None, cwd=project, **env)
    assert ingest.returncode == 0, ingest.stderr[-2000:]
    assert str(project / ".pharos") in ingest.stdout
    found = run_pharos("similar", str(repo), "a.py", "--json", data_dir=None,
                       cwd=project / "deep" / "er", **env)
    assert found.returncode == 0, found.stderr
    # outside the project: the user's folder, and the message says where it looked
    away = run_pharos("similar", str(repo), "a.py", data_dir=None, cwd=tmp_path, **env)
    assert away.returncode == 2
    assert f"is not stored in the data folder {home / '.pharos'}" in " ".join(
        away.stderr.split())


# --- 5: a wrong file name, a repository not stored -------------------------------------
def test_a_wrong_file_name_gets_the_closest_paths(stored):
    repo, data = stored["repo"], stored["data"]
    got = run_pharos("similar", str(repo), "signer.py", data_dir=data)
    assert got.returncode == 2
    said = " ".join(got.stderr.split())
    assert f"'signer.py' is not in the repository {repo}" in said
    assert "closest paths:" in said and f"{DEEP}/signer.py" in said
    assert "ingest it first" not in said and "no vector" not in said

    # a path typed from inside the repository is read from there
    inside = run_pharos("similar", str(repo), f"./{DEEP}/signer.py", "--json", data_dir=data,
                        cwd=repo)
    assert inside.returncode == 0, inside.stderr
    below = run_pharos("similar", str(repo), "./signer.py", "--json", data_dir=data,
                       cwd=repo / DEEP)
    assert below.returncode == 0, below.stderr
    assert json.loads(below.stdout)["file_path"] == f"{DEEP}/signer.py"


def test_a_repository_not_stored_gets_its_own_message(stored, tmp_path):
    data = stored["data"]
    other = make_repo(tmp_path / "other", {"x.py": ""})
    for cmd in (["similar", str(other), "x.py"], ["similar", str(other), "@top"],
                ["similar-repos", str(other)], ["map", str(other), "--out",
                                                str(tmp_path / "m.png")]):
        got = run_pharos(*cmd, data_dir=data)
        assert got.returncode == 2, cmd
        said = " ".join(got.stderr.split())
        assert f"repository {other} is not stored in the data folder {data}" in said, said
        assert f"pharos ingest {other}" in said
        assert "not in the repository" not in said


# --- 6: typing mistakes never become jobs ----------------------------------------------
def test_typos_are_refused_before_a_job_exists(stored):
    repo, data, root = stored["repo"], stored["data"], stored["root"]
    before = json.loads(run_pharos("jobs", "--json", data_dir=data).stdout)["jobs"]

    typo = run_pharos("ingest", "itsdd", data_dir=data, cwd=root)
    assert typo.returncode == 2
    said = " ".join(typo.stderr.split())
    assert f"no such directory: {root / 'itsdd'}" in said
    assert f"did you mean: {root / 'itsd'}" in said

    ref = run_pharos("ingest", str(repo), "--ref", "v1.0", data_dir=data)
    assert ref.returncode == 2
    assert "--ref is for Git URLs" in " ".join(ref.stderr.split())

    after = json.loads(run_pharos("jobs", "--json", data_dir=data).stdout)["jobs"]
    assert after == before  # no failed job recorded
    helped = run_pharos("ingest", "--help", data_dir=data, columns=100)
    assert "for Git URLs only" in " ".join(helped.stdout.split())


# --- 4: output that fits the terminal ---------------------------------------------------
@pytest.mark.parametrize("columns", [80, 100])
def test_similar_at_a_narrow_terminal_shows_every_path_whole(stored, columns):
    repo, data = stored["repo"], stored["data"]
    rc, screen, err = run_in_terminal("similar", str(repo), f"{DEEP}/signer.py",
                                      data_dir=data, columns=columns)
    assert rc == 0, err
    listed = json.loads(run_pharos("similar", str(repo), f"{DEEP}/signer.py", "--json",
                                   data_dir=data).stdout)["results"]
    assert len(listed) >= 4
    lines = screen.splitlines()
    for hit in listed:  # each path whole, on one line
        assert any(hit["file_path"] in line for line in lines), (hit["file_path"], screen)
    assert "…" not in screen and "│" not in screen
    # every why is shown (wrapped, never cut)
    words = " ".join(screen.split())
    for hit in listed:
        for reason in hit["why"]:
            assert reason in words, (reason, screen)
    assert lines[0].startswith(f"files related to {DEEP}/signer.py in {repo}")  # the title
    # what is not a path (the why column) wraps within the width
    assert all(len(line) <= columns for line in lines[1:]
               if not any(h["file_path"] in line for h in listed))


def test_piped_output_is_tab_separated(stored):
    repo, data = stored["repo"], stored["data"]
    got = run_pharos("similar", str(repo), f"{DEEP}/signer.py", data_dir=data, columns=60)
    assert got.returncode == 0, got.stderr
    listed = json.loads(run_pharos("similar", str(repo), f"{DEEP}/signer.py", "--json",
                                   data_dir=data).stdout)["results"]
    rows = [line.split("\t") for line in got.stdout.splitlines()]
    assert [r[1] for r in rows] == [h["file_path"] for h in listed]  # no title, no header
    assert all(len(r) == 5 for r in rows)
    assert [r[4] for r in rows] == ["; ".join(h["why"]) for h in listed]
    assert not any(ch in got.stdout for ch in "│┃━─…")
    jobs = run_pharos("jobs", data_dir=data)
    assert [line.split("\t")[2] for line in jobs.stdout.splitlines()] == [str(repo)]


# --- 9: the words a user reads --------------------------------------------------------
def test_ingest_names_its_import_edges_as_the_console_does(stored):
    said = stored["ingest"]
    edges = json.loads(run_pharos("graph", str(stored["repo"]), "--format", "json",
                                  data_dir=stored["data"]).stdout)["edges"]
    line = next(ln for ln in said.splitlines() if ln.startswith("import edges"))
    assert line.split("\t")[1].startswith(f"{len(edges)} (between ")


def test_help_describes_every_option(stored):
    for cmd in (["similar"], ["similar-repos"], ["jobs"], ["ingest"], ["info"]):
        got = run_pharos(*cmd, "--help", data_dir=stored["data"], columns=120)
        assert got.returncode == 0
        assert "<bool>" not in got.stdout
        for line in got.stdout.splitlines():
            if line.strip("│ ").startswith(("-k ", "--json ")):
                assert len(line.strip("│ ").split()) > 2, line  # it has a description


def test_why_names_no_keyword_or_stopword(stored):
    from graph_jobs.graph.extract.terms import STOPWORDS, file_terms

    assert {"from", "import", "the", "return", "def", "self"} <= STOPWORDS
    assert set(file_terms(b"from x import Signer  # the signer\nreturn self.key")) == {
        "signer", "key"}
    repo, data = stored["repo"], stored["data"]
    named = []
    for f in ("signer.py", "timed.py", "__init__.py", "encoding.py"):
        got = run_pharos("similar", str(repo), f"{DEEP}/{f}", "--json", data_dir=data)
        for hit in json.loads(got.stdout)["results"]:
            for reason in hit["why"]:
                if reason.startswith("uses the same names: "):
                    named += reason.removeprefix("uses the same names: ").split(", ")
    assert named and not set(named) & STOPWORDS, named
