"""The ingress's settings: the queue's (which extend the job's) plus authentication,
CORS and the port. Read from the same environment variables as always; composed at the
top (``pharos_cli.settings``)."""

from __future__ import annotations

from pydantic import Field

from cluster.queue_settings import QueueSettings
from graph_jobs.settings import RunMode, SettingsError


class IngressSettings(QueueSettings):
    admin_token: str = Field("", validation_alias="PHAROS_ADMIN_TOKEN")
    cors_origins: str = Field("", validation_alias="CORS_ORIGINS")
    port: int = Field(8000, validation_alias="PORT")
    insecure_local: bool = Field(False, validation_alias="PHAROS_INSECURE_LOCAL")

    def check_production(self) -> None:
        if self.mode is RunMode.CLOUD and not self.admin_token:
            raise SettingsError(
                "MODE=CLOUD needs PHAROS_ADMIN_TOKEN: the ingress refuses to accept "
                "ingestion with no token configured"
            )
        super().check_production()
