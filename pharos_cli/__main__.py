"""``python -m pharos_cli ...`` is ``pharos ...``."""

from pharos_cli.app import app

app()
