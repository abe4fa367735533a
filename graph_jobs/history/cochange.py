"""Change coupling mined from commits: which files change together, and how strongly.

What change-coupling tools (code-maat, CodeScene) compute, with an age decay:

- Merges are not read (see :mod:`.git_log`), nor root commits (the first import of a
  project, or the edge of a shallow clone: "every file added"). A commit that touches more than
  ``max_commit_files`` files (a reformat, a licence header, a vendored drop) says
  nothing about which files belong together: it is left out whole.
- Every commit counts with weight ``0.5 ** (age / half_life)``, its age measured from the
  newest mined commit, so the last year weighs more than the decade before it.
- A file's revisions ``revs(f)`` and a pair's shared commits ``shared(a, b)`` are kept both
  as plain counts and as decayed sums. The coupling degree is code-maat's
  ``shared(a, b) / mean(revs(a), revs(b))`` over the decayed sums, in [0, 1].
- Renames are followed: commits are read newest first, and a rename ``old -> new``
  makes every older commit's ``old`` count as today's name of ``new``.
- Each file keeps its ``max_partners`` strongest partners; so the state stays linear in
  the number of files, whatever the history.

The state is incremental: :func:`merge` adds the commits mined since ``head`` to a stored
state (rescaling its decayed sums to the new reference time, renaming its paths), so a
re-ingest only reads new commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations

from graph_jobs.history.git_log import Commit

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class CoChangeParams:
    """max_commit_files: commits touching more files are left out (code-maat: 30).
    half_life_days:   a commit this old counts half as much as the newest one.
    max_partners:     strongest partners kept per file.
    session_hours:    > 0 groups one author's consecutive commits, each within this many
                      hours of the previous, into one change (a change split over a few
                      commits); a group larger than max_commit_files counts commit by commit.
    """

    max_commit_files: int = 30
    half_life_days: float = 365.0
    max_partners: int = 50
    session_hours: float = 0.0  # > 0: an author's commits this close in time are one change

    def decay(self, age_seconds: float) -> float:
        return 0.5 ** (max(0.0, age_seconds) / (self.half_life_days * DAY))


@dataclass(slots=True)
class Tally:
    commits: int = 0  # plain count
    weight: float = 0.0  # decayed sum, at the state's reference time
    last_time: int = 0  # newest commit, unix seconds

    def add(self, weight: float, time: int) -> None:
        self.commits += 1
        self.weight += weight
        self.last_time = max(self.last_time, time)


@dataclass
class CoChange:
    """Mined history: per-file revisions, per-pair shared commits (paths ``a < b``)."""

    params: CoChangeParams = field(default_factory=CoChangeParams)
    head: str | None = None  # the commit mined up to (the bookmark; history_stage sets HEAD)
    reference_time: int = 0  # decayed weights are as of this time
    revisions: dict[str, Tally] = field(default_factory=dict)
    pairs: dict[tuple[str, str], Tally] = field(default_factory=dict)
    commits_read: int = 0
    commits_large: int = 0  # left out: more than max_commit_files files
    renames: dict[str, str] = field(default_factory=dict)  # older name -> today's name

    # --- reading ---------------------------------------------------------------------
    def degree(self, a: str, b: str) -> float:
        t = self.pairs.get((a, b) if a < b else (b, a))
        if t is None:
            return 0.0
        ra, rb = self.revisions.get(a), self.revisions.get(b)
        mean = ((ra.weight if ra else 0.0) + (rb.weight if rb else 0.0)) / 2
        return min(1.0, t.weight / mean) if mean > 0 else 0.0

    def partners(self, path: str) -> dict[str, Tally]:
        out = {}
        for (a, b), t in self.pairs.items():
            if a == path:
                out[b] = t
            elif b == path:
                out[a] = t
        return out

    def restrict(self, keep: set[str]) -> CoChange:
        """The same state over the files in ``keep`` only."""
        return CoChange(self.params, self.head, self.reference_time,
                        {p: t for p, t in self.revisions.items() if p in keep},
                        {k: t for k, t in self.pairs.items() if k[0] in keep and k[1] in keep},
                        self.commits_read, self.commits_large, dict(self.renames))


def mine(commits: Iterable[Commit], params: CoChangeParams | None = None, *,
         keep: set[str] | None = None) -> CoChange:
    """Mine ``commits`` (newest first, as git log gives them).

    ``keep``: today's paths to track (the files of the graph); others still count in a
    commit's size. None tracks every path.
    """
    params = params or CoChangeParams()
    state = CoChange(params)
    alias: dict[str, str] = {}  # a name in older commits -> today's name
    revisions: dict[str, Tally] = defaultdict(Tally)
    pairs: dict[tuple[str, str], Tally] = defaultdict(Tally)

    def count(names: set[str], time: int) -> None:
        tracked = sorted(n for n in names if keep is None or n in keep)
        if not tracked:
            return
        w = params.decay(state.reference_time - time)
        for n in tracked:
            revisions[n].add(w, time)
        for a, b in combinations(tracked, 2):
            pairs[(a, b)].add(w, time)

    group: list[tuple[Commit, set[str]]] = []  # one author's session, newest first

    def flush() -> None:
        if not group:
            return
        union = set().union(*(names for _c, names in group))
        if len(union) <= params.max_commit_files:
            count(union, group[0][0].time)
        else:  # too large as one change: its commits count one by one
            for c, names in group:
                count(names, c.time)
        group.clear()

    window = params.session_hours * 3600
    for c in commits:
        if state.head is None:
            state.head, state.reference_time = c.sha, c.time
        state.commits_read += 1
        names = {alias.get(path, path) for _s, path, _old in c.changes}
        for status, path, old in c.changes:
            if status == "R" and old and old != path:
                alias[old] = alias.get(path, path)
        if c.root:
            continue
        if len(names) > params.max_commit_files:
            state.commits_large += 1
            continue
        if group and not (window > 0 and c.author == group[-1][0].author
                          and group[-1][0].time - c.time <= window):
            flush()
        group.append((c, names))
    flush()
    state.revisions = dict(revisions)
    state.pairs = _prune(dict(pairs), params.max_partners)
    state.renames = {old: new for old, new in alias.items() if old != new}
    return state


def _prune(pairs: dict[tuple[str, str], Tally], max_partners: int) -> dict:
    """Keep a pair when it is among the ``max_partners`` strongest of either file."""
    if max_partners <= 0:
        return pairs
    by_file: dict[str, list[tuple[float, tuple[str, str]]]] = defaultdict(list)
    for key, t in pairs.items():
        by_file[key[0]].append((t.weight, key))
        by_file[key[1]].append((t.weight, key))
    kept: set[tuple[str, str]] = set()
    for lst in by_file.values():
        if len(lst) > max_partners:
            lst.sort(key=lambda x: (-x[0], x[1]))
            lst = lst[:max_partners]
        kept.update(k for _w, k in lst)
    return {k: pairs[k] for k in kept}


def merge(old: CoChange, new: CoChange) -> CoChange:
    """``old`` (a stored state) plus ``new`` (mined from the commits after ``old.head``)."""
    if not old.head or not old.revisions:
        return new
    if not new.head:
        return old
    params = new.params
    # a merge can bring in commits older than the stored state's newest: weigh both
    # sides as of the later of the two reference times
    reference = max(old.reference_time, new.reference_time)
    scale = params.decay(reference - old.reference_time)
    new_scale = params.decay(reference - new.reference_time)

    def rename(p: str) -> str:
        return new.renames.get(p, p)

    def fold(into: dict, key, t: Tally, factor: float) -> None:
        r = into.setdefault(key, Tally())
        r.commits += t.commits
        r.weight += t.weight * factor
        r.last_time = max(r.last_time, t.last_time)

    revisions: dict[str, Tally] = {}
    for p, t in old.revisions.items():
        fold(revisions, rename(p), t, scale)
    for p, t in new.revisions.items():
        fold(revisions, p, t, new_scale)
    pairs: dict[tuple[str, str], Tally] = {}
    for (a, b), t in old.pairs.items():
        a, b = rename(a), rename(b)
        if a != b:
            fold(pairs, (a, b) if a < b else (b, a), t, scale)
    for key, t in new.pairs.items():
        fold(pairs, key, t, new_scale)
    renames = {**{o: rename(n) for o, n in old.renames.items()}, **new.renames}
    return CoChange(params, new.head, reference, revisions,
                    _prune(pairs, params.max_partners),
                    old.commits_read + new.commits_read, old.commits_large + new.commits_large,
                    renames)
