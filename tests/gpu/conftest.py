"""Tests that need CUDA: marked ``gpu``, skipped where torch sees no GPU.

Run them on a GPU machine with ``bash scripts/gpu-check`` (which also runs the GPU bench);
the CPU suite guards the same code in tests/graph_jobs/test_embedding_devices.py.
"""

from __future__ import annotations

import pytest

try:
    import torch

    HAS_CUDA = torch.cuda.is_available()
except Exception:  # pragma: no cover - torch missing
    HAS_CUDA = False


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/gpu/" in item.nodeid.replace("\\", "/") or item.nodeid.startswith("gpu/"):
            item.add_marker(pytest.mark.gpu)
            if not HAS_CUDA:
                item.add_marker(pytest.mark.skip(reason="needs a CUDA device (torch sees none)"))
