"""The deployable units' files, held to the code: hadolint, the Compose schema, render.yaml."""

from __future__ import annotations

import os
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
    assert "127.0.0.1:8265:8265" in svc["ports"] and svc["env_file"]


@pytest.mark.parametrize("compose", ["docker-compose.gpu.yml", "docker-compose.local.yml"])
def test_compose_publishes_ray_and_unauthenticated_stores_on_loopback_only(compose):
    """Ray's dashboard/Jobs API and GCS run code for whoever reaches them (CVE-2023-48022)."""
    services = yaml.safe_load((ROOT / compose).read_text())["services"]
    private = {"8265", "6379", "10001", "6333"}  # Ray dashboard, GCS, client; Qdrant
    published = [(name, str(p)) for name, svc in services.items() for p in svc.get("ports", [])]
    assert any(p.split(":")[-1] == "8265" for _, p in published), published
    for name, port in published:
        if port.split(":")[-1] in private:
            assert port.startswith("127.0.0.1:"), (compose, name, port)


def test_edge_image_and_its_health_check_keep_ray_token_auth():
    dockerfile = (ROOT / "Dockerfile.edge").read_text()
    assert "RAY_AUTH_MODE=token" in dockerfile
    gpu = yaml.safe_load((ROOT / "docker-compose.gpu.yml").read_text())["services"]["worker"]
    # the check must not need the token: /api/version answers 401 without it
    for check in (" ".join(gpu["healthcheck"]["test"]), dockerfile.split("HEALTHCHECK")[1]):
        assert "/api/gcs_healthz" in check and "/api/version" not in check


def _from_args(dockerfile: str) -> dict[str, str]:
    import re

    return dict(re.findall(r"^ARG (\w+)=(\S*)", dockerfile, flags=re.M))


def test_the_edge_images_default_base_has_a_python_pharos_installs_on():
    """The default edge base was nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04, whose
    distribution Python is 3.10: `pip install .` refused the package (requires-python
    >= 3.11), so `docker compose -f docker-compose.gpu.yml up --build` failed. The base
    is a Python image whose version satisfies requires-python, and any other base is
    checked in the build itself (a sentence, not pip's refusal)."""
    import re
    import tomllib

    from packaging.specifiers import SpecifierSet

    dockerfile = (ROOT / "Dockerfile.edge").read_text()
    base = _from_args(dockerfile)["BASE_IMAGE"]
    m = re.fullmatch(r"(?:docker\.io/)?(?:library/)?python:(\d+\.\d+)[\w.-]*", base)
    assert m, f"the default base {base!r} is not a Python image"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(m.group(1) + ".0"), (base, requires)
    assert "sys.version_info >= (3, 11)" in dockerfile  # the build's own check
    assert "NVIDIA_DRIVER_CAPABILITIES=compute" in dockerfile  # the driver's CUDA side


@pytest.mark.parametrize("dockerfile", ["Dockerfile.edge"])
def test_a_source_change_does_not_reinstall_the_dependencies(dockerfile):
    """torch, Ray and the rest install from pyproject.toml alone, before any source is
    copied, so Docker's layer cache keeps them across source changes (a rebuild used to
    reinstall torch and Ray: about 30 minutes here)."""
    lines = (ROOT / dockerfile).read_text().splitlines()
    first_source = next(i for i, ln in enumerate(lines)
                        if ln.startswith("COPY") and ("graph_jobs" in ln or "README" in ln))
    deps = next(i for i, ln in enumerate(lines) if 'pip install ".[edge]"' in ln)
    assert deps < first_source
    assert any("pip install --no-deps ." in ln for ln in lines[first_source:])
    copied = [src for ln in lines[:first_source] if ln.startswith("COPY")
              for src in ln.split()[1:-1] if not src.startswith("--")]
    assert set(copied) <= {"pyproject.toml", "docker/wheels/"}, copied


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


def _extras() -> tuple[list[str], dict[str, set[str]]]:
    """pyproject's base dependencies, and each extra's requirement names with the
    extras it names (``pharos[parse]``) expanded."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]

    def name(req: str) -> str:
        return re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower().replace("_", "-")

    def closure(extra: str) -> set[str]:
        out: set[str] = set()
        for req in extras[extra]:
            if name(req) == "pharos":
                for inner in req.split("[", 1)[1].split("]", 1)[0].split(","):
                    out |= closure(inner.strip())
            else:
                out.add(name(req))
        return out

    base = [name(r) for r in project["dependencies"]]
    return base, {extra: closure(extra) | set(base) for extra in extras}


def test_the_ingress_installs_no_parser_no_scipy_and_no_torch():
    """Issue 25: the cloud image is base + `ingress` (or `cloud`); parsing and the
    scientific stack go to the modes that run jobs."""
    base, extras = _extras()
    assert not [r for r in base if r.startswith("tree-sitter") or r in ("scipy", "torch")]
    for extra in ("ingress", "cloud"):
        heavy = {r for r in extras[extra]
                 if r.startswith("tree-sitter") or r in ("scipy", "torch", "torch-geometric")}
        assert not heavy, (extra, heavy)
    grammars = {r for r in extras["parse"] if r.startswith("tree-sitter-")}
    assert len(grammars) == 8 and "tree-sitter" in extras["parse"]
    for extra in ("embedded", "edge", "dev"):
        assert extras["parse"] <= extras[extra], extra
    for extra in ("embedded", "edge"):  # role vectors and the repository descriptor
        assert {"scipy", "torch"} <= extras[extra], extra


def test_pharos_graph_without_tree_sitter_names_the_extra(tmp_path):
    """A base install has no parser: `pharos graph` says which extra to install, with no
    traceback."""
    from devkit.repos import make_repo

    repo = make_repo(tmp_path / "r", {"a.py": "import b\n", "b.py": ""})
    code = ("import sys; sys.modules['tree_sitter'] = None; "  # as if not installed
            "from pharos_cli.app import app; app()")
    out = subprocess.run([sys.executable, "-c", code, "graph", str(repo)], capture_output=True,
                         text=True, timeout=120,
                         env={**os.environ, "PHAROS_DATA_DIR": str(tmp_path / "data"),
                              "COLUMNS": "200"})
    assert out.returncode == 2, out.stdout + out.stderr
    assert "pip install 'pharos[parse]'" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
