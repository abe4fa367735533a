"""Runs inside Ray Serve's controller as it starts (``RAY_SERVE_CONTROLLER_CALLBACK_IMPORT_PATH``).

Under direct ingress the ingress replica itself listens on ``$PORT`` and no request goes
through a Serve proxy. Serve (2.60) nevertheless forces one HTTP proxy actor onto the head
node, which stays idle here and costs about 95 MB PSS. :func:`no_idle_proxy` gives the
controller's proxy manager no node to start a proxy on (what it does for
``proxy_location=Disabled``), while the location the replicas see stays ``HeadOnly``, so
the ingress replica still opens its own HTTP server. Only when direct ingress is on.

If a Ray version no longer has the hook point, it leaves Serve alone (the proxy starts, as
before) and says so in the controller's log: memory grows, nothing breaks.
``PHAROS_SERVE_PROXY=1`` (Serve's classic proxy path) never installs it.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("ray.serve")


def no_idle_proxy() -> bool:
    """Install the patch; True if it took effect."""
    if os.environ.get("RAY_SERVE_ENABLE_DIRECT_INGRESS") != "1":
        return False
    try:
        from ray.serve._private.proxy_state import ProxyStateManager
    except ImportError as exc:  # pragma: no cover - depends on the Ray version
        log.warning("pharos: cannot skip Serve's idle proxy (%s); it will start", exc)
        return False
    if not callable(getattr(ProxyStateManager, "_get_target_nodes", None)):
        log.warning("pharos: this Ray has no ProxyStateManager._get_target_nodes; "
                    "Serve's idle proxy will start")
        return False
    ProxyStateManager._get_target_nodes = lambda self, proxy_nodes: []
    log.info("pharos: direct ingress serves $PORT; Serve's head-node proxy is not started")
    return True
