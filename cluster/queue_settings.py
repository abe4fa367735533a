"""The queue's and the edge pool's settings: the job's settings plus where the queue is
and how it behaves. Read from the same environment variables as always; composed with
the ingress's at the top (``pharos_cli.settings``)."""

from __future__ import annotations

from pydantic import Field

from graph_jobs.settings import JobSettings, RunMode, SettingsError


class QueueSettings(JobSettings):
    # --- queue -----------------------------------------------------------------------
    upstash_redis_rest_url: str = Field("", validation_alias="UPSTASH_REDIS_REST_URL")
    upstash_redis_rest_token: str = Field("", validation_alias="UPSTASH_REDIS_REST_TOKEN")
    redis_url: str = Field("", validation_alias="REDIS_URL")
    max_queue_size: int = Field(10, ge=1, validation_alias="MAX_QUEUE_SIZE")
    task_ttl_seconds: int = Field(24 * 3600, ge=1, validation_alias="TASK_TTL_SECONDS")
    lease_seconds: float = Field(60.0, gt=0, validation_alias="PHAROS_LEASE_SECONDS")
    max_attempts: int = Field(3, ge=1, validation_alias="PHAROS_MAX_ATTEMPTS")
    retry_backoff_seconds: float = Field(30.0, ge=0,
                                         validation_alias="PHAROS_RETRY_BACKOFF_SECONDS")
    # an idle claimer's ceiling: REST polls at most this far apart, TCP blocks twice this
    idle_poll_max_s: float = Field(90.0, gt=0, validation_alias="PHAROS_IDLE_POLL_MAX_S")
    redis_retry_s: float = Field(5.0, gt=0, validation_alias="PHAROS_REDIS_RETRY_S")
    # --- edge pool -------------------------------------------------------------------
    num_gpus: float | None = Field(None, ge=0, validation_alias="PHAROS_NUM_GPUS")

    @property
    def queue_configured(self) -> bool:
        """A queue to talk to (False: the embedded default, no Redis)."""
        return bool(self.redis_url or self.upstash_redis_rest_url)

    def check_production(self) -> None:
        super().check_production()
        if self.mode in (RunMode.CLOUD, RunMode.EDGE) and not self.queue_configured:
            raise SettingsError(
                f"MODE={self.mode.value} needs REDIS_URL or UPSTASH_REDIS_REST_URL"
            )
