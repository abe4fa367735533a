"""Why a file plays the same role as another (issue 30): the answer's ``why``.

Each file's declarations (:mod:`graph_jobs.graph.extract.declarations`) are stored with
its role vector (the point's ``facts``). A role answer names what the file found has
in common with the file asked about, in its own numbers: "declares 6 exception
classes", "reads 14 settings from the environment", "a CLI entry (argparse)". Only
facts both files have are said; when they share none, the answer says it comes from
the import graph alone.
"""

from __future__ import annotations

# what is stored per file (the declarations' counts that can be said)
FACT_KEYS = ("exceptions", "records", "enums", "interfaces", "aliases", "constants",
             "functions", "function_lines", "lines", "env", "settings", "main", "cli",
             "test_imports", "tests", "reexports")


def role_facts(decls: dict[str, int] | None) -> dict[str, int]:
    """The part of a file's declarations kept with its role vector."""
    if not decls:
        return {}
    return {k: int(v) for k, v in decls.items()
            if v and (k in FACT_KEYS or k.startswith("cli."))}


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _cli_name(facts: dict) -> str:
    name = next((k[4:] for k in facts if k.startswith("cli.")), "")
    return name.rstrip("/").split("/")[-1].split(".")[-1] or "a CLI framework"


def why(query: dict | None, hit: dict | None, query_degree: int = 0,
        hit_degree: int = 0) -> list[str]:
    """What ``hit`` shares with ``query`` (both: :func:`role_facts`), in ``hit``'s numbers,
    the strongest first."""
    q, h = query or {}, hit or {}

    def both(key: str) -> bool:
        return q.get(key, 0) > 0 and h.get(key, 0) > 0

    out = []
    if both("exceptions"):
        out.append(f"declares {_n(h['exceptions'], 'exception class', 'exception classes')}")
    if both("cli"):
        out.append(f"a CLI entry ({_cli_name(h)})")
    if both("main"):
        out.append("a program entry (a main guard or main function)")
    if both("env"):
        out.append(f"reads {_n(h['env'], 'setting')} from the environment")
    elif both("settings"):
        out.append("uses a settings library")
    support_q = q.get("test_imports", 0) > 0 and not q.get("tests")
    support_h = h.get("test_imports", 0) > 0 and not h.get("tests")
    if support_q and support_h:
        out.append("test support: imports a test framework, declares no test")
    elif both("tests"):
        out.append(f"declares {_n(h['tests'], 'test')}")
    if both("reexports"):
        out.append(f"re-exports {_n(h['reexports'], 'name')}")
    for key, one, many in (("records", "record", None), ("enums", "enum", None),
                           ("interfaces", "interface or protocol", "interfaces or protocols"),
                           ("aliases", "type alias", "type aliases")):
        if both(key):
            out.append(f"declares {_n(h[key], one, many)}")
    if both("constants"):
        out.append(f"defines {_n(h['constants'], 'constant')}")

    def fn_share(f: dict) -> float:
        return f.get("function_lines", 0) / f["lines"] if f.get("lines") else 0.0

    if both("functions") and fn_share(q) >= 0.5 and fn_share(h) >= 0.5:
        out.append(f"mostly functions ({h['functions']}, {100 * fn_share(h):.0f}% of the file)")
    if not out:
        out.append(f"a like place in the import graph (degree {hit_degree}; "
                   f"the file asked: {query_degree})")
    return out
