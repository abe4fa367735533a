"""The ingress's settings: the queue's (which extend the job's) plus authentication,
CORS and the port, and what keeps the open endpoints cheap (issue 25): the read cache,
the per-client rate limit, the client address behind a proxy, the optional read token.
Read from the same environment variables as always; composed at the top
(``pharos_cli.settings``)."""

from __future__ import annotations

from pydantic import Field

from cluster.queue_settings import QueueSettings
from graph_jobs.settings import RunMode, SettingsError


class IngressSettings(QueueSettings):
    admin_token: str = Field("", validation_alias="PHAROS_ADMIN_TOKEN")
    cors_origins: str = Field("", validation_alias="CORS_ORIGINS")
    port: int = Field(8000, validation_alias="PORT")
    insecure_local: bool = Field(False, validation_alias="PHAROS_INSECURE_LOCAL")
    # every read route (status, history, jobs, graph, metrics) needs it, or the admin token
    read_token: str = Field("", validation_alias="PHAROS_READ_TOKEN")
    # status, history, repositories and /health: served from memory at most this old
    read_cache_s: float = Field(2.0, ge=0, le=60, validation_alias="PHAROS_READ_CACHE_S")
    # per client: a token bucket refilled at rate_limit per second, holding rate_burst
    rate_limit: float = Field(10.0, ge=0, validation_alias="PHAROS_RATE_LIMIT")  # 0: off
    rate_burst: int = Field(50, ge=1, validation_alias="PHAROS_RATE_BURST")
    rate_limit_clients: int = Field(10000, ge=1, validation_alias="PHAROS_RATE_LIMIT_CLIENTS")
    # the header a trusted proxy puts the client's address in ("" : the peer address)
    trusted_proxy: str = Field("", pattern=r"^[A-Za-z0-9-]*$",
                               validation_alias="PHAROS_TRUSTED_PROXY")
    trusted_proxy_hops: int = Field(1, ge=1, validation_alias="PHAROS_TRUSTED_PROXY_HOPS")

    def check_production(self) -> None:
        if self.mode is RunMode.CLOUD and not self.admin_token:
            raise SettingsError(
                "MODE=CLOUD needs PHAROS_ADMIN_TOKEN: the ingress refuses to accept "
                "ingestion with no token configured"
            )
        super().check_production()
