"""Settings as a process with these environment variables would read them."""

from __future__ import annotations

import os

from pharos_cli.settings import Settings


def settings_with(env: dict[str, str]) -> Settings:
    """``Settings`` read with ``env`` set (no ``.env`` file); the environment restored."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return Settings(_env_file=None)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
