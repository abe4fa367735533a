"""The ingress as a Ray Serve deployment: the same FastAPI app, ``@serve.ingress``.

    serve run serve_config.yaml          # or: pharos serve --runtime serve

CPU only (``num_cpus`` 0.5, no GPUs). Memory: see BENCHMARKS.md and docs/deployment.md.
"""

from __future__ import annotations

from ray import serve

from serve_app.app import create_app

fastapi_app = create_app()


@serve.deployment(name="pharos-ingress", num_replicas=1,
                  ray_actor_options={"num_cpus": 0.5, "num_gpus": 0},
                  max_ongoing_requests=200, health_check_period_s=30,
                  # per-request access logs cost more than the request on a small box;
                  # the app logs each request itself (JSON, with its request id)
                  logging_config={"enable_access_log": False, "log_level": "WARNING"})
@serve.ingress(fastapi_app)
class PharosIngress:
    pass


ingress = PharosIngress.bind()
