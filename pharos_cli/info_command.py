"""`pharos info`: the data folder (and why it was chosen), the stores and the queue this
`pharos` would use, with no secret in what it prints."""

from __future__ import annotations

import json
import sys
from urllib.parse import urlsplit

from pharos_cli.output import print_pairs


def _server(url: str) -> str:
    """``url`` without user, password or query (they may hold secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else "(set)"


def info(settings) -> dict:
    import graph_jobs
    from graph_jobs.data_folder import describe, untrusted_nearby

    folder = describe(settings.data_dir)
    ignored = untrusted_nearby()
    data = {
        "version": graph_jobs.__version__,
        "data_folder": str(folder.path),
        "data_folder_why": folder.why,
        "ignored_untrusted_folder": str(ignored) if ignored else None,
        "mode": str(settings.mode),
        "metadata": (f"DATABASE_URL: {_server(settings.database_url)}" if settings.database_url
                     else f"SQLite: {settings.data_dir / 'pharos.sqlite3'}"),
        "vectors": (f"QDRANT_URL: {_server(settings.qdrant_url)}" if settings.qdrant_url
                    else f"local Qdrant: {settings.qdrant_path}"),
        "queue": ("none: `pharos ingest` runs the job in its own process"
                  if not settings.queue_configured else
                  f"REDIS_URL: {_server(settings.redis_url)}" if settings.redis_url
                  else "Upstash REST"),
        "repositories": None,
    }
    sqlite = settings.data_dir / "pharos.sqlite3"
    if not settings.database_url and sqlite.exists():  # never creates the store
        from graph_jobs.stores.metadata_store import MetadataStore

        meta = MetadataStore(settings.effective_database_url, migrate=settings.auto_migrate)
        try:
            data["repositories"] = len(meta.repositories())
        finally:
            meta.dispose()
    return data


def print_info(settings, as_json: bool) -> None:
    data = info(settings)
    if as_json:
        json.dump(data, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    pairs = [
        ("pharos", data["version"]),
        ("data folder", f"{data['data_folder']} ({data['data_folder_why']})"),
    ]
    if data["ignored_untrusted_folder"]:
        pairs.append(("ignored", f"{data['ignored_untrusted_folder']}: not trusted (a .pharos "
                      "inside a repository can run code when opened); if you made it, run "
                      "`pharos info --trust-here` there"))
    print_pairs([
        *pairs,
        ("mode", data["mode"]),
        ("metadata", data["metadata"]),
        ("vectors", data["vectors"]),
        ("queue", data["queue"]),
        ("repositories", "none stored yet" if not data["repositories"]
         else f"{data['repositories']} stored"),
    ])
