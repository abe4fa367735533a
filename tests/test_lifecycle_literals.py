"""No job status, worker state or queue-script reply is compared as a string literal
outside the modules that name them (issue 28): ``graph_jobs/lifecycle.py`` and
``cluster/statuses.py``. Everything else compares enum members.

Two readers: ``grep`` (what the issue asks: the text ``== "complete"``, ``!= 'lost'``,
``in ("pending", "running")``, ``"failed" ==`` ...) and ``ast`` (a comparison whose
operand is such a literal, or a tuple, list or set of them, however it is laid out)."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

from cluster.statuses import (
    CancelReply,
    EnqueueReply,
    FailReply,
    JobStatus,
    RenewReply,
    WorkerState,
)

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("graph_jobs", "cluster", "serve_app", "pharos_cli")
ENUM_MODULES = {"graph_jobs/lifecycle.py", "cluster/statuses.py"}
VALUES = sorted({m.value for e in (JobStatus, WorkerState, EnqueueReply, RenewReply,
                                   FailReply, CancelReply) for m in e})
WORDS = "|".join(VALUES)
# a literal right of a comparison (or first in a tuple after `in`), or left of one
GREP = (rf"""(==|!=|\bin)\s*[(\[{{]?\s*["']({WORDS})["']"""
        rf"""|["']({WORDS})["']\s*(==|!=|\bin\b|\bnot in\b)""")


def _grep(paths: list[str]) -> list[str]:
    out = subprocess.run(["grep", "-rnE", "--include=*.py", GREP, *paths], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stderr
    return [line for line in out.stdout.splitlines()
            if line.split(":", 1)[0] not in ENUM_MODULES and not _a_loop(line)]


def _a_loop(line: str) -> bool:
    """``for k in ("error", ...)`` is no comparison: grep's one false reading."""
    code = line.split(":", 2)[2]
    return bool(re.search(r"\bfor\b[^=]*\bin\s*[(\[{]", code)) and not re.search(r"[=!]=", code)


def _literals(node) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set().union(*(_literals(e) for e in node.elts)) if node.elts else set()
    return set()


def _ast_hits(path: Path) -> list[str]:
    hits = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                for lit in _literals(side) & set(VALUES):
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno}: {lit!r}")
    return hits


def test_grep_finds_no_status_or_reply_literal_compared_outside_the_enum_modules():
    hits = _grep(list(PACKAGES))
    assert not hits, "\n".join(hits)


def test_nor_does_a_reading_of_the_syntax():
    hits = [h for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))
            if str(p.relative_to(ROOT)) not in ENUM_MODULES for h in _ast_hits(p)]
    assert not hits, "\n".join(hits)


def test_both_readers_see_what_they_look_for(tmp_path):
    bad = tmp_path / "pkg" / "m.py"
    bad.parent.mkdir()
    bad.write_text('def f(r, s):\n    if r == "lost":\n        return s in ("pending",\n'
                   '                     "running")\n    return "cancelled" != s\n')
    assert sorted(_ast_hits_in(bad, tmp_path)) == ["cancelled", "lost", "pending", "running"]
    out = subprocess.run(["grep", "-rnE", GREP, str(bad)], capture_output=True, text=True)
    assert len(out.stdout.splitlines()) == 3, out.stdout
    assert re.search(GREP, 'x = {"status": "pending"}') is None  # a value written, not compared
    assert _a_loop('m.py:1:    for k in ("error", "config"):')


def _ast_hits_in(path: Path, root: Path) -> list[str]:
    return [h for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Compare)
            for side in (node.left, *node.comparators)
            for h in _literals(side) & set(VALUES)]


def test_one_stage_vocabulary_for_the_cli_the_mcp_server_and_the_console():
    """The stages a job reports are ``Stage``'s; the console (JavaScript, which cannot
    import them) lists the same, in the same order."""
    from graph_jobs.lifecycle import RUN_STAGES, Stage
    from pharos_cli.ingest_commands import STAGES as CLI
    from pharos_cli.mcp_answers import STAGES as MCP

    assert list(CLI) == list(RUN_STAGES) == list(MCP)
    js = (ROOT / "serve_app" / "console" / "console.js").read_text()
    listed = re.search(r"const STAGES = \[([^\]]*)\]", js).group(1)
    assert [s.strip().strip('"') for s in listed.split(",")] == list(RUN_STAGES)
    assert set(RUN_STAGES) == set(Stage) - {Stage.CLAIMED}
