"""How the commands print rows: for a person at a terminal, or for a program.

The conventions of ``gh`` and ``kubectl``:

- At a terminal: a title line, upper-case column headers, columns aligned with spaces,
  no borders. Paths are never cut: a column holds its longest value whole, and when the
  columns are wider than the terminal the widest one moves to the end of the line,
  where it runs on whole. The last column (``why``) takes what width is left and wraps
  there; when less than ``MIN_WRAP`` columns are left, it goes on the lines below its
  row, indented.
- Piped (stdout is not a terminal): one line per row, fields separated by tabs, no
  title, no header, no colour, nothing wrapped or cut (``gh``'s piped output), so
  ``cut -f2`` or ``awk -F'\\t'`` read it. ``--json`` is the stable format for programs.
"""

from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Sequence

MIN_WRAP = 30  # narrower than this, the last column goes below its row
GAP = "  "


def is_terminal() -> bool:
    return sys.stdout.isatty()


def width() -> int:
    """The terminal's width (``COLUMNS`` first, as the shell sets it), 80 if unknown."""
    return shutil.get_terminal_size((80, 24)).columns


def _clean(value) -> str:
    return " ".join(str("" if value is None else value).split())


def print_rows(headers: Sequence[str], rows: Sequence[Sequence], *, title: str | None = None,
               wrap_last: bool = True, empty: str | None = None) -> None:
    """Print ``rows`` as the module docstring says. ``empty``: said (on stderr at a
    terminal) when there is no row."""
    out = sys.stdout
    rows = [[_clean(v) for v in r] for r in rows]
    if not is_terminal():
        for r in rows:
            out.write("\t".join(r) + "\n")
        if not rows and empty:
            sys.stderr.write(empty + "\n")
        return
    if title:
        out.write(title + "\n")
    if not rows:
        out.write((empty or "(none)") + "\n")
        return
    heads = [h.upper() for h in headers]
    fixed = heads[:-1] if wrap_last else heads
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(fixed)]
    lead = sum(widths) + len(GAP) * len(widths)
    if lead > width() and len(fixed) > 1:
        # the columns do not fit: the widest (a path) goes last, so the short ones stay
        # aligned before it and it runs on whole
        i = max(range(len(fixed)), key=widths.__getitem__)
        order = [j for j in range(len(heads)) if j != i]
        order.insert(len(fixed) - 1, i)
        heads = [heads[j] for j in order]
        rows = [[r[j] for j in order] for r in rows]
        widths = [widths[j] for j in order if j < len(fixed)]
        widths[-1] = 0
        fixed = heads[:len(fixed)]
        lead = width()  # no room beside: the last column goes below
    if not wrap_last:
        out.write(_line(heads, widths) + "\n")
        for r in rows:
            out.write(_line(r, widths) + "\n")
        return
    room = width() - lead
    below = room < MIN_WRAP
    out.write(_line(heads[:-1], widths) + ("" if below else GAP + heads[-1]) + "\n")
    indent = " " * 4
    for r in rows:
        head = _line(r[:-1], widths)
        last = r[-1]
        if not last:
            out.write(head.rstrip() + "\n")
        elif below:
            out.write(head.rstrip() + "\n")
            for part in textwrap.wrap(last, max(20, width() - len(indent))):
                out.write(indent + part + "\n")
        else:
            parts = textwrap.wrap(last, room) or [""]
            out.write(head + GAP + parts[0] + "\n")
            for part in parts[1:]:
                out.write(" " * lead + part + "\n")
    out.flush()


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    return GAP.join(v.ljust(w) for v, w in zip(values, widths, strict=False))


def print_pairs(pairs: Sequence[tuple[str, object]]) -> None:
    """``key value`` lines: aligned at a terminal, ``key<TAB>value`` when piped."""
    if not is_terminal():
        for k, v in pairs:
            sys.stdout.write(f"{k}\t{_clean(v)}\n")
        return
    w = max((len(k) for k, _ in pairs), default=0)
    for k, v in pairs:
        sys.stdout.write(f"{k.ljust(w)}  {v}\n")
    sys.stdout.flush()
