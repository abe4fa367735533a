"""Read the JSON-with-comments files of the JS world (tsconfig.json, jsconfig.json)."""

from __future__ import annotations

import json
import re

from graph_jobs.graph.repo_files import RepoFiles, read_manifest
from graph_jobs.models import SkippedFile

_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/|,(?=\s*[}\]])', re.S)


def loads(text: str):
    def repl(m: re.Match) -> str:
        s = m.group(0)
        return s if s.startswith('"') else ("" if s.startswith(("/", ",")) else s)

    return json.loads(_TOKEN.sub(repl, text))


def load(files: RepoFiles, rel: str, skipped: list[SkippedFile]):
    """The parsed file, or None when missing, refused by the guarded reader (the reason
    is added to ``skipped``) or not JSON: a broken config never fails the job, its
    aliases just do not resolve."""
    text = read_manifest(files, rel, skipped)
    try:
        return loads(text) if text is not None else None
    except (ValueError, RecursionError):
        return None
