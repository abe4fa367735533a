"""`pharos serve` (the ingress), `pharos console` (the web console over the local stores)
and `pharos worker` (the edge pool)."""

from __future__ import annotations

import os
from enum import StrEnum

import typer
from rich.console import Console

from pharos_cli.settings import get_settings

err = Console(stderr=True)


class Runtime(StrEnum):
    serve = "serve"
    uvicorn = "uvicorn"


def console(
    port: int = typer.Option(8765, help="Port on 127.0.0.1."),
) -> None:
    """Open the web console over this machine's stores (the embedded default: no Redis,
    no servers): explore what `pharos ingest` stored. With a queue configured, the
    console also shows the workers and submits jobs, as the ingress's does."""
    settings = get_settings()
    from serve_app.app import create_app

    # local only: repositories are named by their paths here
    app = create_app(settings.model_copy(update={"allow_local_repos": True}))
    from graph_jobs.data_folder import describe

    err.print(f"console: http://127.0.0.1:{port}/  (data folder {describe(settings.data_dir)})",
              soft_wrap=True)
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def serve(
    runtime: Runtime = typer.Option(Runtime.uvicorn, envvar="PHAROS_RUNTIME",
                                    help="Ray Serve or plain uvicorn (same app)."),
    host: str = typer.Option("0.0.0.0"),
    port: int | None = typer.Option(None, help="Default: $PORT, else 8000."),
) -> None:
    """Start the HTTP ingress."""
    settings = get_settings()
    port = port or settings.port
    from serve_app.app import create_app

    try:
        app = create_app(settings)
    except ValueError as exc:  # SettingsError: refuse to start, say why
        err.print(f"[red]refusing to start:[/red] {exc}")
        raise typer.Exit(2) from exc
    if runtime is Runtime.uvicorn:
        import uvicorn

        uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=20)
        return
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # the slim image: `ingress` extra, no Ray
        err.print("[red]refusing to start:[/red] PHAROS_RUNTIME=serve needs Ray Serve, which "
                  "is not installed here (pip install 'pharos\\[cloud]', or build Dockerfile.cloud "
                  "with --build-arg PHAROS_INGRESS=serve); or set PHAROS_RUNTIME=uvicorn")
        raise typer.Exit(2)
    from serve_app.ray_runtime import run_serve

    run_serve(host, port)


def worker(
    address: str | None = typer.Option(None, envvar="RAY_ADDRESS",
                                       help="Join this Ray cluster (default: start one)."),
    num_gpus: float | None = typer.Option(None, help="GPUs to declare when starting Ray "
                                          "(0 = CPU-only development mode)."),
    pool_size: int | None = typer.Option(None, help="Actors (default: one per GPU)."),
    slots: int = typer.Option(2, help="Jobs in flight per actor (CPU stages overlap)."),
    grace_s: float = typer.Option(60.0, help="SIGTERM: seconds running jobs get to finish."),
    dashboard: bool = typer.Option(True, help="Ray dashboard on 127.0.0.1:8265 (started Ray "
                                   "only; token: ~/.ray/auth_token)."),
) -> None:
    """Run the edge worker pool: one Ray actor per GPU pulling jobs from the queue."""
    if not address:
        # Ray's control plane runs code for whoever reaches it (CVE-2023-48022): token auth
        # on (Ray makes and keeps the token in ~/.ray/auth_token), dashboard on loopback.
        # Set before Ray is imported: Ray reads its auth mode once, at import.
        mode = os.environ.setdefault("RAY_AUTH_MODE", "token")
        if mode != "token":
            err.print(f"[red]error:[/red] RAY_AUTH_MODE={mode}: a Ray started without token "
                      "auth runs code for anyone who reaches it (CVE-2023-48022); unset it")
            raise typer.Exit(2)
        _private_ray_token()
    import ray

    from cluster.actor_pool import WorkerPool

    settings = get_settings()
    num_gpus = settings.num_gpus if num_gpus is None else num_gpus
    if address:
        ray.init(address=address)
    else:
        kw = {"include_dashboard": dashboard, "dashboard_host": "127.0.0.1"}
        if num_gpus is not None:
            kw["num_gpus"] = num_gpus
        # "local": start our own Ray even if another one runs on this machine (a bare
        # ray.init() would silently join it, and then refuses num_gpus)
        ray.init(address="local", **kw)
    cpu_mode = num_gpus == 0 or not ray.cluster_resources().get("GPU")
    if cpu_mode and num_gpus != 0:
        err.print("[yellow]no GPU in the Ray cluster: running CPU actors[/yellow]")
    pool = WorkerPool(settings, num_gpus=0 if cpu_mode else num_gpus, pool_size=pool_size,
                      slots=slots, grace_s=grace_s)
    err.print(f"pool: {pool.target_size()} actor(s), {slots} slot(s) each, "
              f"{'CPU mode' if cpu_mode else 'one GPU per actor'}")
    pool.serve_forever()


def _private_ray_token() -> None:
    """Ray keeps a generated token in ~/.ray/auth_token with the umask's mode (0644 under
    the usual 022): make it ours alone, 0600 in a 0700 folder, before Ray reads it."""
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return
    import secrets
    from pathlib import Path

    path = Path.home() / ".ray" / "auth_token"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    os.chmod(path, 0o600)

