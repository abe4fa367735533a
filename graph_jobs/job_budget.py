"""What one job may spend: a deadline, a memory ceiling, and a file count.

- ``PHAROS_JOB_TIMEOUT_S`` (1800 s by default; 0: none): the job's wall-clock deadline,
  from its start.
- ``PHAROS_JOB_MEMORY_MB`` (0 by default: automatic, 80 % of the memory this process may
  use, the container's cgroup limit or else the machine's): a ceiling on the worker
  process's resident memory (RSS) while the job runs. Only RSS is watched: no
  ``RLIMIT_AS``, since Ray and torch reserve far more address space than they use.
- ``PHAROS_MAX_FILES`` (50,000 by default; 0: none): a repository with more source files
  is refused after discovery, before anything is parsed.

The job checks its budget (:meth:`JobBudget.check`) between stages and inside its long
loops; over the deadline or the ceiling it fails with
:class:`~graph_jobs.errors.JobDeadlineExceeded` or
:class:`~graph_jobs.errors.JobMemoryExceeded`, whose message names the setting, and the
worker goes on to its next job. The checks are cooperative: a single numeric call cannot
be interrupted, which is why every such call has its own iteration cap
(:mod:`graph_jobs.roles.repo_descriptor`).
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field

from graph_jobs.errors import JobDeadlineExceeded, JobMemoryExceeded, RepositoryTooLarge

AUTO_MEMORY_SHARE = 0.8
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float | None:
    """This process's resident memory, in MB, from ``/proc/self/statm``; None where there
    is no ``/proc`` (macOS): ``getrusage`` gives only the peak, in units that differ by
    system, and a peak cannot say whether this job is over its ceiling now."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return None


def memory_limit_mb() -> float | None:
    """The memory this process may use: its cgroup's limit (v2, then v1), else the
    machine's; None when neither can be read."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                raw = fh.read().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:  # "max" or a huge number: no limit
            return int(raw) / 2**20
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        return None


def _release_free_memory() -> None:
    """Give back what the previous job freed, so that it is not counted against this one."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@dataclass
class JobBudget:
    """A job's deadline and memory ceiling, counted from when it is made.

    ``timeout_s`` and ``memory_mb`` of 0 mean none; ``memory_mb`` of ``None`` means
    automatic (:data:`AUTO_MEMORY_SHARE` of :func:`memory_limit_mb`)."""

    timeout_s: float = 0.0
    memory_mb: float | None = 0.0
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.memory_mb is None:
            limit = memory_limit_mb()
            self.memory_mb = round(limit * AUTO_MEMORY_SHARE) if limit else 0.0
            self._auto = " (automatic)"
        else:
            self._auto = ""

    @classmethod
    def from_settings(cls, settings) -> JobBudget:
        mem = settings.job_memory_mb
        budget = cls(settings.job_timeout_s, None if mem == 0 else mem)
        if budget.memory_mb and (rss_mb() or 0.0) > budget.memory_mb:
            _release_free_memory()
        return budget

    def pause(self, seconds: float) -> None:
        """Do not count ``seconds`` spent waiting for another job (the device's lock)."""
        self.started += max(0.0, seconds)

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def remaining_s(self) -> float | None:
        """Seconds left before the deadline (never below 0); None with no deadline."""
        return None if not self.timeout_s else max(0.0, self.timeout_s - self.elapsed_s())

    def check(self, where: str = "") -> None:
        """Raise if the job is past its deadline or over its memory ceiling."""
        at = f" (in {where})" if where else ""
        if self.timeout_s and (spent := self.elapsed_s()) > self.timeout_s:
            raise JobDeadlineExceeded(
                f"job exceeded PHAROS_JOB_TIMEOUT_S={self.timeout_s:g}: ran {spent:.1f} s"
                f"{at}; raise PHAROS_JOB_TIMEOUT_S to give it longer")
        if self.memory_mb and (rss := rss_mb() or 0.0) > self.memory_mb:
            raise JobMemoryExceeded(
                f"job exceeded PHAROS_JOB_MEMORY_MB={self.memory_mb:g}{self._auto}: the worker held "
                f"{rss:.0f} MB{at}; raise PHAROS_JOB_MEMORY_MB on a machine with more memory")


def refuse_too_many_files(files: int, max_files: int) -> None:
    """Refuse a repository with more source files than ``PHAROS_MAX_FILES`` (0: none)."""
    if max_files and files > max_files:
        raise RepositoryTooLarge(
            f"repository has {files} source files, over PHAROS_MAX_FILES={max_files}; "
            "raise PHAROS_MAX_FILES to ingest it on a machine with the memory for it")
