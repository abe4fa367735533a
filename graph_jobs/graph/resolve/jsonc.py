"""Read the JSON-with-comments files of the JS world (tsconfig.json, jsconfig.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path

_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/|,(?=\s*[}\]])', re.S)


def loads(text: str):
    def repl(m: re.Match) -> str:
        s = m.group(0)
        return s if s.startswith('"') else ("" if s.startswith(("/", ",")) else s)

    return json.loads(_TOKEN.sub(repl, text))


def load(path: Path):
    """The parsed file, or None when missing or unreadable (a broken config never
    fails the job: its aliases just do not resolve)."""
    try:
        return loads(path.read_text(encoding="utf-8-sig", errors="replace"))
    except (OSError, ValueError):
        return None
