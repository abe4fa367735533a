"""Which files are tests, and which source file each test exercises, from paths alone.

The conventions of the languages Pharos reads: ``test_x.py`` / ``x_test.py`` / files
under ``tests/``, ``x.test.ts`` / ``x.spec.js`` / ``__tests__/``, ``x_test.go``,
``XTest.java`` / ``XTests.java`` / ``TestX.java`` / ``src/test/``, Rust's ``tests/``.
A test pairs with the non-test file of the same stem (and language family) nearest to
it in the tree; a test whose stem names no file pairs with nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import PurePosixPath

_TEST_DIRS = {"test", "tests", "__tests__", "testing", "spec", "specs", "test_utils"}
_FAMILY = {"python": "py", "javascript": "js", "typescript": "js", "go": "go", "java": "java",
           "rust": "rs", "c": "c", "cpp": "c"}
_STEM_RULES = [
    re.compile(r"^test_(.+)$"), re.compile(r"^(.+)_test$"), re.compile(r"^(.+)_tests$"),
    re.compile(r"^(.+)\.(?:test|spec)$"), re.compile(r"^(.+?)Tests?$"),
    re.compile(r"^Test(.+)$"), re.compile(r"^(.+)-(?:test|spec)$"),
]


def _stem(path: str) -> str:
    name = PurePosixPath(path).name
    return name.split(".", 1)[0] if not re.search(r"\.(test|spec)\.", name) \
        else name.rsplit(".", 1)[0]


def is_test(path: str) -> bool:
    p = PurePosixPath(path)
    if any(part.lower() in _TEST_DIRS for part in p.parts[:-1]):
        return True
    stem = _stem(path)
    if stem == "conftest":
        return True
    return any(r.match(stem) for r in _STEM_RULES[:4]) or bool(
        p.suffix == ".java" and re.match(r"^(.+Tests?|Test[A-Z].*)$", stem))


def tested_stem(path: str) -> str | None:
    """The stem of the file a test exercises (``test_api.py`` -> ``api``), if it says."""
    stem = _stem(path)
    for rule in _STEM_RULES:
        m = rule.match(stem)
        if m and m.group(1):
            return m.group(1).lower()
    return stem.lower() if is_test(path) and stem not in ("conftest", "index", "__init__",
                                                            "mod", "lib", "main") else None


# Folders that say how a project is laid out, not what a file is about: a test under
# src/test/java/com/x/ and its source under src/main/java/com/x/ live in one package.
LAYOUT_FOLDERS = {"src", "main", "test", "tests", "java", "kotlin", "scala", "groovy",
                  "testing", "__tests__", "spec", "specs", "lib", "source", "sources"}


def logical_folder(path: str) -> tuple[str, ...]:
    """The folder of ``path`` without layout folders (``src/main/java`` ...)."""
    return tuple(p for p in PurePosixPath(path).parts[:-1] if p.lower() not in LAYOUT_FOLDERS)


def _distance(a: str, b: str) -> int:
    pa, pb = PurePosixPath(a).parts[:-1], PurePosixPath(b).parts[:-1]
    common = 0
    for x, y in zip(pa, pb, strict=False):
        if x != y:
            break
        common += 1
    return (len(pa) - common) + (len(pb) - common)


def pair_tests(files: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``(test, source)`` pairs among ``files`` = ``[(path, language), ...]``."""
    by_stem: dict[tuple[str, str], list[str]] = defaultdict(list)
    tests = []
    for path, lang in files:
        fam = _FAMILY.get(lang, lang)
        if is_test(path):
            tests.append((path, fam))
        else:
            by_stem[(fam, _stem(path).lower())].append(path)
    out = []
    for path, fam in tests:
        stem = tested_stem(path)
        if not stem:
            continue
        cands = by_stem.get((fam, stem)) or by_stem.get((fam, stem.replace("_", "")))
        if cands:
            out.append((path, min(cands, key=lambda c: (_distance(path, c), c))))
    return out
