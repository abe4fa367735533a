"""The history stage of the job: co-change from the repository's commits.

Runs on the work tree the graph stage just read (a local repository, or the blobless
clone ``repo_source`` made), before that clone is removed.

The stored state's bookmark (``CoChange.head``) is the commit the history was mined up
to: the HEAD that was read, a merge commit included (merges are not mined, but they are
where the reading stopped). So:

- HEAD is the bookmark: nothing is read ("unchanged: 0 new commits"), the state is kept
  as it was;
- the bookmark is an ancestor of HEAD: only ``bookmark..HEAD`` is read (commits a merge
  brought in, older than the bookmark's date but not reachable from it, included, each
  once) and merged in;
- otherwise (a force-push dropped the bookmark, or the clone does not reach it): the
  history is mined again from scratch within its bounds.

No history is not an error: a directory that is not a git repository, an empty one, or
a clone with a single commit gives ``status = "none"`` with the reason, and the job goes
on with structure alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from graph_jobs.history.cochange import CoChange, CoChangeParams, merge, mine
from graph_jobs.history.git_log import (
    HistoryUnavailable,
    head_commit,
    is_ancestor,
    is_partial_clone,
    read_commits,
)


@dataclass
class HistoryResult:
    cochange: CoChange | None
    status: str  # "mined", "incremental", "unchanged" or "none"
    note: str = ""
    commits_read: int = 0  # in this run


def mine_history(root: Path | str, files: set[str], *, params: CoChangeParams | None = None,
                 stored: CoChange | None = None, max_commits: int = 2000,
                 max_age_days: float = 0, head: str | None = None) -> HistoryResult:
    """Mine ``root``'s commits up to ``head`` (default: its HEAD). ``head`` names the
    commit the graph was built from, when ``root`` is a history clone made beside it."""
    root = Path(root)
    params = params or CoChangeParams()
    found = head_commit(root, head or "HEAD")
    if not found:
        if head and head_commit(root):
            return HistoryResult(None, "none", f"the history clone does not hold {head[:12]}"
                                 " (the branch moved between the two clones): related files"
                                 " come from structure alone")
        return HistoryResult(None, "none", "not a git repository, or no commit yet: "
                             "related files come from structure alone")
    head = found
    partial = is_partial_clone(root)
    again = ""  # why a stored state could not be continued
    try:
        if stored is not None and stored.head == head:
            return HistoryResult(stored.restrict(files), "unchanged",
                                 f"0 new commits since {head[:12]}")
        if stored is not None and stored.head:
            if is_ancestor(root, stored.head, head):
                commits = read_commits(root, since=stored.head, max_commits=max_commits,
                                       max_age_days=max_age_days, exact_renames_only=partial,
                                       head=head)
                state = merge(stored, mine(commits, params, keep=files))
                state.head = head
                return HistoryResult(state.restrict(files), "incremental",
                                     f"{plural(len(commits), 'new commit')} since "
                                     f"{stored.head[:12]}", len(commits))
            gone = ("is no longer in the branch (rewritten history)"
                    if head_commit(root, stored.head) is None
                    else "is not an ancestor of HEAD (rewritten history)")
            again = (f"; the stored history's last commit {stored.head[:12]} {gone}, so it "
                     "was mined again from scratch")
        commits = read_commits(root, max_commits=max_commits, max_age_days=max_age_days,
                               exact_renames_only=partial, head=head)
    except HistoryUnavailable as exc:
        return HistoryResult(None, "none", f"history unavailable ({exc}): structure alone")
    state = mine(commits, params, keep=files)
    state.head = head
    if len(commits) < 2:
        return HistoryResult(state, "none", f"{plural(len(commits), 'commit')} in reach (a "
                             "shallow or new repository): related files come from structure "
                             "alone", len(commits))
    return HistoryResult(state, "mined", f"{plural(len(commits), 'commit')} read"
                         + (f", {plural(state.commits_large, 'large one')} left out"
                            if state.commits_large else "") + again, len(commits))


def plural(n: int, noun: str) -> str:
    """``1 new commit``, ``3 new commits``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
