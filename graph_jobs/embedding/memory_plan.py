"""How much of the device one embedding may use, and how the walk corpus is cut to fit.

Peak memory of a job is its **fixed part** (the two fp32 tables, the graph as CSR, the
negative sampler, the shuffled start nodes and one training batch's working set) plus
**one chunk of walks** (int32 node ids when they fit). The chunk is sized from what is
left of the budget, so peak memory no longer grows with the number of walks.

The budget on a GPU is ``min(free memory, PHAROS_GPU_MEMORY_FRACTION × total)``, read from
``torch.cuda.mem_get_info()``; the fraction (0.9 by default) is also handed to torch's
caching allocator, so nothing in the job can allocate past it. A chunk holds at most
``PHAROS_WALK_CHUNK_MB`` (512) of walk ids and walkers on any device, less when the budget
is tighter: a fixed working set, so a bigger card or graph does not grow it. A graph whose
fixed part alone does not
fit is refused with :class:`~graph_jobs.errors.EmbeddingError` before anything is
allocated, never with an out-of-memory error halfway through training.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from graph_jobs.errors import EmbeddingError

GIB = 1 << 30
DEFAULT_GPU_FRACTION = 0.9
DEFAULT_CPU_CHUNK_MB = 512
# per walker while walks are sampled: alive index, current/previous/next node, uniforms
WALKER_BYTES = 6 * 8
# per walk token in a training batch: the gathered rows u and v, both gradients and the
# rows selected for the scatters (6 × D fp32), plus the L × L score/mask rows (4 × L fp32)
ROW_COPIES = 6
SCORE_COPIES = 4


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    chunk_walks: int  # walks sampled and trained at once
    batch_walks: int  # walks per optimisation step
    id_dtype_bytes: int  # 4 (int32 ids) or 8
    fixed_bytes: int  # tables + graph + sampler + starts + one batch
    budget_bytes: int  # what the job may use on the device (0: not bounded)
    chunks: int  # chunks per epoch

    def describe(self) -> str:
        return (f"{self.chunks} chunk(s) of {self.chunk_walks} walks, batch {self.batch_walks}, "
                f"fixed {self.fixed_bytes / GIB:.2f} GiB of a {self.budget_bytes / GIB:.2f} GiB "
                "budget")


def gpu_memory_fraction() -> float:
    raw = os.environ.get("PHAROS_GPU_MEMORY_FRACTION", "")
    if not raw:
        return DEFAULT_GPU_FRACTION
    try:
        value = float(raw)
    except ValueError:
        raise EmbeddingError(f"PHAROS_GPU_MEMORY_FRACTION must be a number in (0, 1], "
                             f"got {raw!r}") from None
    if not 0 < value <= 1:
        raise EmbeddingError(f"PHAROS_GPU_MEMORY_FRACTION must be in (0, 1], got {value}")
    return value


def cpu_chunk_bytes() -> int:
    raw = os.environ.get("PHAROS_WALK_CHUNK_MB", "")
    try:
        mb = int(raw) if raw else DEFAULT_CPU_CHUNK_MB
    except ValueError:
        raise EmbeddingError(f"PHAROS_WALK_CHUNK_MB must be an integer, got {raw!r}") from None
    return max(1, mb) << 20


def id_bytes(num_nodes: int) -> int:
    return 4 if num_nodes < 2**31 - 1 else 8


def fixed_bytes(num_nodes: int, num_edges: int, *, dim: int, length: int, n_walks: int,
                batch_walks: int, shared: int, directed: bool, weighted: bool) -> int:
    """Bytes the job holds whatever the chunk size (see the module docstring).

    What lives through the whole job (tables, graph, sampler, the int32 starts) plus the
    largest of what comes and goes: building the graph, shuffling the starts, or one
    training batch (a chunk of walks lives beside the batch; the plan adds it).
    """
    arcs = num_edges if directed else 2 * num_edges
    tables = 2 * num_nodes * dim * 4
    graph = (num_nodes + 1) * 8 + arcs * 8 * (2 + (1 if weighted else 0))
    sampler = num_nodes * 8 * 4  # counts, keep probabilities, cdf and its weights (float64)
    starts = n_walks * 4
    build = arcs * 8 * 4  # both directions, their sort keys, the unique's inverse
    shuffle = n_walks * 8  # the int64 permutation
    return tables + graph + sampler + starts + max(build, shuffle,
                                                   batch_bytes(batch_walks, length, dim, shared))


def batch_bytes(batch_walks: int, length: int, dim: int, shared: int) -> int:
    """One training step's working set."""
    rows = batch_walks * length * (ROW_COPIES * dim * 4 + SCORE_COPIES * length * 4 + 16)
    return rows + batch_walks * shared * dim * 4 * 2  # shared negatives and their gradients


def walk_bytes(length: int, ids: int, subsample: float = 0.0) -> int:
    """Bytes per walk of a chunk: its ids while it is kept, its walker while sampling, the
    token count's mask and int64 ids of an eighth of the chunk at a time (~2 a token), and
    with down-sampling the chunk's subsampled copy (uniforms, masks, sort order: ~24)."""
    return length * (ids + 2 + (24 if subsample > 0 else 0)) + WALKER_BYTES


def plan(num_nodes: int, num_edges: int, *, dim: int, length: int, num_walks: int,
         batch_walks: int, shared: int, directed: bool, weighted: bool, device: str,
         budget_bytes: int | None = None, device_label: str = "",
         subsample: float = 0.0) -> MemoryPlan:
    """The chunking of one embedding, or ``EmbeddingError`` when even one batch won't fit.

    ``budget_bytes`` overrides what the device reports (tests, and a CPU bound).
    """
    n_walks = num_nodes * num_walks
    ids = id_bytes(num_nodes)
    per_walk = walk_bytes(length, ids, subsample)
    on_gpu = device.startswith("cuda")
    if budget_bytes is None:
        budget_bytes = device_budget(device) if on_gpu else 0
    fixed = fixed_bytes(num_nodes, num_edges, dim=dim, length=length, n_walks=n_walks,
                        batch_walks=batch_walks, shared=shared, directed=directed,
                        weighted=weighted)
    chunk = cpu_chunk_bytes() // per_walk  # a fixed working set on every device
    if budget_bytes:
        room = budget_bytes - fixed
        if room < per_walk * batch_walks:
            where = device_label or device
            raise EmbeddingError(
                f"{num_nodes} nodes / {num_edges} edges need about "
                f"{(fixed + per_walk * batch_walks) / GIB:.2f} GiB on {where} (the two "
                f"{dim}-d tables alone {2 * num_nodes * dim * 4 / GIB:.2f} GiB), but "
                f"{budget_bytes / GIB:.2f} GiB is available under "
                f"PHAROS_GPU_MEMORY_FRACTION={gpu_memory_fraction():g}: use a larger card, "
                "raise the fraction, or embed on the CPU (PHAROS_DEVICE=cpu)")
        chunk = min(chunk, room // per_walk)
    chunk = int(max(batch_walks, min(n_walks, chunk)))
    if chunk < n_walks:  # whole batches per chunk, so every step trains a full batch
        chunk = max(batch_walks, chunk - chunk % batch_walks)
    return MemoryPlan(chunk, batch_walks, ids, fixed, budget_bytes,
                      max(1, math.ceil(n_walks / chunk)))


def device_budget(device: str) -> int:
    """What one job may use on ``device``: free memory, capped by the configured fraction."""
    import torch

    dev = torch.device(device)
    fraction = gpu_memory_fraction()
    free, total = torch.cuda.mem_get_info(dev)
    # what torch already holds for this process counts as usable (its cache is ours)
    reserved = torch.cuda.memory_reserved(dev)
    allocated = torch.cuda.memory_allocated(dev)
    usable = free + (reserved - allocated)
    cap = int(total * fraction) - allocated
    return max(0, min(usable, cap))


def cap_allocator(device: str) -> None:
    """Hand the fraction to torch's caching allocator: no allocation may pass it."""
    import torch

    torch.cuda.set_per_process_memory_fraction(gpu_memory_fraction(), torch.device(device))
