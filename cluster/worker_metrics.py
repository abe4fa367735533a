"""Worker metrics through ``ray.util.metrics``: they reach the Ray dashboard and its
Prometheus endpoint (``ray_pharos_*`` on each node's metrics export port)."""

from __future__ import annotations

from ray.util import metrics

from cluster.statuses import JobStatus


class WorkerMetrics:
    def __init__(self, actor: str) -> None:
        tags = ("actor",)
        self.tags = {"actor": actor}
        self.completed = metrics.Counter("pharos_jobs_completed", "Jobs completed", tags)
        self.failed = metrics.Counter("pharos_jobs_failed", "Job attempts that failed", tags)
        self.duration = metrics.Histogram("pharos_job_duration_seconds", "Job duration",
                                          boundaries=[1, 2, 5, 10, 20, 60, 120, 300, 600],
                                          tag_keys=tags)
        self.stage = metrics.Histogram("pharos_stage_duration_seconds", "Stage duration",
                                       boundaries=[0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
                                       tag_keys=("actor", "stage"))
        self.gpu_memory = metrics.Gauge("pharos_gpu_memory_bytes",
                                        "Peak GPU memory of the last job", tags)

    def record(self, outcome) -> None:
        if outcome.status == JobStatus.COMPLETE:
            self.completed.inc(1, self.tags)
            self.duration.observe(outcome.duration_seconds, self.tags)
        elif outcome.status in (JobStatus.FAILED, JobStatus.RETRYING):
            self.failed.inc(1, self.tags)
        for stage, secs in (getattr(outcome, "timings", None) or {}).items():
            self.stage.observe(secs, {**self.tags, "stage": stage})
        try:
            import torch

            if torch.cuda.is_available():
                self.gpu_memory.set(torch.cuda.max_memory_allocated(), self.tags)
                torch.cuda.reset_peak_memory_stats()
        except Exception:  # no torch / no GPU: nothing to report
            pass
