"""The deployable units' files, held to the code: hadolint, the Compose schema, render.yaml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed (dev extra)")
    return str(path)


@pytest.mark.parametrize("dockerfile", ["Dockerfile.cloud", "Dockerfile.edge"])
def test_hadolint_passes(dockerfile):
    out = subprocess.run([_tool("hadolint"), "--no-color", str(ROOT / dockerfile)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("compose", ["docker-compose.gpu.yml", "docker-compose.local.yml"])
def test_compose_files_match_the_compose_specification(compose):
    out = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
                          str(ROOT / compose)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_gpu_compose_reserves_the_gpu_and_sizes_shm():
    svc = yaml.safe_load((ROOT / "docker-compose.gpu.yml").read_text())["services"]["worker"]
    dev = svc["deploy"]["resources"]["reservations"]["devices"][0]
    assert dev["driver"] == "nvidia" and "gpu" in dev["capabilities"]
    assert svc["shm_size"] and svc["restart"] and svc["healthcheck"]
    assert "8265:8265" in svc["ports"] and svc["env_file"]


def test_render_yaml_is_held_to_the_code():
    from pharos_cli.settings import Settings
    from serve_app.app import create_app

    render = yaml.safe_load((ROOT / "render.yaml").read_text())
    svc = render["services"][0]
    assert svc["runtime"] == "docker" and (ROOT / svc["dockerfilePath"]).is_file()
    app = create_app(Settings(_env_file=None, PHAROS_ADMIN_TOKEN="t"))
    assert svc["healthCheckPath"] in app.openapi()["paths"]
    env = {e["key"]: e for e in svc["envVars"]}
    assert env["MODE"]["value"] == "CLOUD"
    # every setting cloud mode requires or reads is declared; every secret is sync: false
    required = {"PHAROS_ADMIN_TOKEN", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN",
                "REDIS_URL", "DATABASE_URL", "QDRANT_URL", "QDRANT_API_KEY", "CORS_ORIGINS"}
    assert required <= set(env)
    for key in required:
        assert env[key].get("sync") is False, key
    # and every declared key is a real setting (no typos the app would silently ignore)
    aliases = set()
    for f in Settings.model_fields.values():
        va = f.validation_alias
        aliases |= set(getattr(va, "choices", [va]))
    assert set(env) - {"PHAROS_RUNTIME"} <= aliases
    # the plan named beside the measured memory of the chosen runtime
    text = (ROOT / "render.yaml").read_text()
    assert env["PHAROS_RUNTIME"]["value"] == "uvicorn" and svc["plan"] == "starter"
    assert "MB PSS" in text


def test_env_templates_list_every_setting_the_unit_reads():
    from pharos_cli.settings import Settings

    cloud = (ROOT / ".env.cloud.template").read_text()
    edge = (ROOT / ".env.edge.template").read_text()
    for var in ("MODE", "PHAROS_ADMIN_TOKEN", "UPSTASH_REDIS_REST_URL", "REDIS_URL",
                "DATABASE_URL", "QDRANT_URL", "QDRANT_API_KEY", "CORS_ORIGINS", "PORT"):
        assert f"\n{var}=" in "\n" + cloud, var
    for var in ("MODE", "REDIS_URL", "DATABASE_URL", "QDRANT_URL", "PHAROS_NUM_GPUS",
                "PHAROS_LEASE_SECONDS", "PHAROS_MAX_ATTEMPTS", "PHAROS_DRAIN_GRACE_S"):
        assert f"\n{var}=" in "\n" + edge, var
    assert Settings.model_fields  # the settings object is the source of the names
