"""``embed_graph()``: the embedding stage as the pipeline and the CLI call it.

Same code on CPU and GPU: the graph goes to the device as CSR tensors, the walks are
sampled there (:mod:`.walks`) and skip-gram trains there (:mod:`.skipgram`).

Nodes with no edges (files that import nothing in the repository and that nothing
imports) have no walk context, so no trained vector. They get a **zero vector** and
``trained[i] = False``; nothing random is ever returned. The pipeline then gives such a
file a documented fallback (see ``graph_jobs.pipeline``). Disconnected components need
no special care: walks never leave their component, and each component is embedded on
its own; vectors of different components are only comparable through the shared
negative sampling, which pushes unrelated nodes apart.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from graph_jobs.embedding.params import Node2VecParams
from graph_jobs.errors import EmbeddingError

Progress = Callable[[str, float], None]


@dataclass
class EmbeddingResult:
    vectors: np.ndarray  # float32 [N, D]; zero rows where trained is False
    trained: np.ndarray  # bool [N]
    device: str  # "cpu" or the GPU's name
    backend: str  # "pharos" or "pyg"
    timings: dict[str, float] = field(default_factory=dict)
    walk_steps: int = 0
    pairs: int = 0


def resolve_device(device: str | None = None) -> str:
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EmbeddingError(f"device {device!r} requested but CUDA is not available")
    return device


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return "cpu"


def pyg_available() -> bool:
    try:
        import torch_geometric.typing as t
    except Exception:
        return False
    return bool(getattr(t, "WITH_PYG_LIB", False) or getattr(t, "WITH_TORCH_CLUSTER", False))


def embed_graph(num_nodes: int, edges: np.ndarray, params: Node2VecParams | None = None, *,
                weights: np.ndarray | None = None, device: str | None = None,
                backend: str = "auto", progress: Progress | None = None,
                threads: int | None = None,
                memory_budget: int | None = None) -> EmbeddingResult:
    """Node2Vec vectors for nodes ``0..num_nodes-1`` of the graph ``edges`` ([E, 2] ints).

    ``threads``: CPU intra-op threads (None: sized from the work, see
    :mod:`.threads`). ``memory_budget``: bytes the job may use, in place of what the
    device reports (see :mod:`.memory_plan`); the walk corpus is cut into chunks to fit.
    """
    import torch

    params = params or Node2VecParams()
    if backend not in ("auto", "pharos", "pyg"):
        raise EmbeddingError(f"unknown backend {backend!r} (auto, pharos, pyg)")
    dev = resolve_device(device)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if num_nodes == 0:
        return EmbeddingResult(np.zeros((0, params.dimensions), np.float32),
                               np.zeros(0, bool), device_name(dev), "pharos")
    try:
        if backend == "pyg":
            result = _embed_pyg(num_nodes, edges, params, dev, progress)
        else:
            result = _embed_pharos(num_nodes, edges, weights, params, dev, progress,
                                   threads=threads, memory_budget=memory_budget)
        if not np.isfinite(result.vectors).all():
            # never store NaN/inf vectors: say what to change instead
            raise EmbeddingError(
                f"training diverged (non-finite vectors) with lr={params.lr}, "
                f"update_cap={params.update_cap}: lower lr or keep update_cap > 0")
        return result
    except torch.cuda.OutOfMemoryError as exc:
        raise EmbeddingError(
            f"CUDA out of memory embedding {num_nodes} nodes / {len(edges)} edges on "
            f"{device_name(dev)}: other processes on the card took what the plan counted "
            f"on; free it, lower PHAROS_WALK_CHUNK_MB, or run on the CPU ({exc})"
        ) from None
    finally:
        free_device_memory(dev)


def free_device_memory(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda") and torch.cuda.is_available():
        with contextlib.suppress(Exception):
            torch.cuda.synchronize()
        torch.cuda.empty_cache()


def _generator(device: str, seed: int | None):
    import torch

    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    return gen


def _batch_walks(params: Node2VecParams, n_walks: int, dev: str) -> int:
    """Walks per step: about one appearance of each node per batch (n_walks / 256 at the
    default 10 walks of 20 nodes), at most 128 on the CPU. On a GPU the same rule holds
    up to 32,768 walks, so small graphs train on the GPU with the CPU's batches (bigger
    ones cost quality there) and only large graphs take large, launch-efficient steps."""
    if params.batch_walks:
        return params.batch_walks
    return max(4, min(32768 if dev.startswith("cuda") else 128, n_walks // 256))


def _embed_pharos(num_nodes, edges, weights, params: Node2VecParams, dev: str,
                  progress: Progress | None, threads: int | None = None,
                  memory_budget: int | None = None) -> EmbeddingResult:
    from graph_jobs.embedding import memory_plan
    from graph_jobs.embedding.threads import threads_for, torch_threads

    n_walks = num_nodes * params.num_walks
    bw = _batch_walks(params, n_walks, dev)
    label = device_name(dev)
    plan = memory_plan.plan(num_nodes, len(edges), dim=params.dimensions,
                            length=params.walk_length, num_walks=params.num_walks,
                            batch_walks=bw, shared=params.shared_negatives,
                            directed=params.directed, weighted=bool(
                                params.weighted and weights is not None),
                            device=dev, budget_bytes=memory_budget, device_label=label,
                            subsample=params.subsample)
    if dev.startswith("cuda"):
        memory_plan.cap_allocator(dev)
    n_threads = threads or threads_for(n_walks * params.walk_length * params.epochs)
    with torch_threads(n_threads):
        result = _train_chunks(num_nodes, edges, weights, params, dev, plan, progress)
    result.device = label
    result.timings["threads"] = float(n_threads)
    result.timings["chunks"] = float(plan.chunks)
    return result


def _train_chunks(num_nodes, edges, weights, params: Node2VecParams, dev: str, plan,
                  progress: Progress | None) -> EmbeddingResult:
    """Walks and skip-gram, one chunk of walks at a time (one chunk: the whole corpus).

    Every random draw comes from ``gen`` and is made on ``gen.device`` (or on a tensor
    that lives there): a CUDA generator cannot draw on the CPU.
    """
    import torch

    from graph_jobs.embedding.csr import build_csr
    from graph_jobs.embedding.skipgram import SkipGramTrainer, init_tables, token_counts
    from graph_jobs.embedding.walks import random_walks

    t0 = time.perf_counter()
    gen = _generator(dev, params.seed)
    ei = torch.from_numpy(edges.T.copy())
    w = None
    if params.weighted and weights is not None:
        w = torch.from_numpy(np.asarray(weights, dtype=np.float64))
    csr = build_csr(ei, num_nodes, w, directed=params.directed, device=gen.device)
    del ei, w
    id_dtype = torch.int32 if plan.id_dtype_bytes == 4 else torch.long
    n_walks, length = num_nodes * params.num_walks, params.walk_length
    starts = torch.arange(num_nodes, device=gen.device, dtype=id_dtype).repeat(params.num_walks)
    starts = starts[torch.randperm(starts.numel(), generator=gen, device=gen.device)]
    chunks = [(i, min(i + plan.chunk_walks, n_walks)) for i in range(0, n_walks, plan.chunk_walks)]

    # one corpus: its walks come from `gen` (as before chunks existed); several chunks: from
    # a generator of their own, seeded from `gen`, so the first pass that counts tokens and
    # the training pass (whose own draws come from `gen`) sample the very same walks
    walk_gen = gen
    if len(chunks) > 1:
        walk_gen = torch.Generator(device=gen.device)
        walk_gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen,
                                               device=gen.device)))

    def walks_of(lo: int, hi: int) -> torch.Tensor:
        return random_walks(csr, starts[lo:hi], length, params.p, params.q,
                            generator=walk_gen, dtype=id_dtype)

    steps = 0
    batches = sum(math.ceil((hi - lo) / plan.batch_walks) for lo, hi in chunks)
    if len(chunks) == 1:  # the whole corpus at once: sampled once, trained each epoch
        walks = walks_of(*chunks[0])
        steps = int((walks[:, 1:] >= 0).sum())
        counts = token_counts(walks, num_nodes)
        _sync(dev)
        t_walks = time.perf_counter() - t0
        emb, ctx = init_tables(num_nodes, params.dimensions, dev, gen)
    else:  # counts from a first pass over the same walks (walk generator's state put back)
        emb, ctx = init_tables(num_nodes, params.dimensions, dev, gen)
        state = walk_gen.get_state()
        counts = torch.zeros(num_nodes, dtype=torch.float64, device=gen.device)
        for lo, hi in chunks:
            counts += token_counts(walks_of(lo, hi), num_nodes)
        walk_gen.set_state(state)
        _sync(dev)
        t_walks = time.perf_counter() - t0
    if progress:
        progress("walks", 1.0)
    t1 = time.perf_counter()
    trainer = SkipGramTrainer(
        emb, ctx, counts, length=length, window=params.window_size, negative=params.negative,
        lr=params.lr, total_steps=params.epochs * batches, subsample=params.subsample,
        batch_walks=plan.batch_walks, shared=params.shared_negatives, cap=params.update_cap,
        gen=gen, progress=(lambda f: progress("train", f)) if progress else None)
    del counts
    sampled = 0.0
    for epoch in range(params.epochs):
        if len(chunks) == 1:
            trainer.train(walks)
            continue
        for lo, hi in chunks:
            ts = time.perf_counter()
            chunk = walks_of(lo, hi)
            if epoch == 0:
                steps += int((chunk[:, 1:] >= 0).sum())
            sampled += time.perf_counter() - ts
            trainer.train(chunk)
            del chunk
    if len(chunks) == 1:
        del walks
    if params.directed:
        touched = torch.zeros(num_nodes, dtype=torch.bool, device=emb.device)
        touched[csr.col] = True
        trained = (csr.degree() > 0) | touched
    else:
        trained = csr.degree() > 0
    if params.output == "input+context":
        emb += ctx
    emb[~trained] = 0.0
    vectors = emb.cpu().numpy()
    mask = trained.cpu().numpy()
    t2 = time.perf_counter()
    return EmbeddingResult(vectors, mask, dev, "pharos",
                           {"walks": t_walks + sampled, "train": t2 - t1 - sampled},
                           steps, trainer.stats.pairs)


def _sync(dev: str) -> None:
    if dev.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _embed_pyg(num_nodes, edges, params: Node2VecParams, dev: str,
               progress: Progress | None) -> EmbeddingResult:
    """PyTorch Geometric's own Node2Vec, trained the way its example trains it."""
    if not pyg_available():
        raise EmbeddingError("backend='pyg' needs torch-geometric with pyg-lib or "
                             "torch-cluster (pip install pyg-lib -f https://data.pyg.org/whl/"
                             "torch-<version>+<cuda>.html)")
    import torch
    from torch_geometric.nn import Node2Vec as PygNode2Vec

    t0 = time.perf_counter()
    if params.seed is not None:
        torch.manual_seed(params.seed)
    ei = torch.from_numpy(edges.T.copy())
    if not params.directed:
        ei = torch.cat([ei, ei.flip(0)], 1)
    model = PygNode2Vec(ei.to(dev), embedding_dim=params.dimensions,
                        walk_length=params.walk_length - 1,
                        context_size=min(params.window_size + 1, params.walk_length),
                        walks_per_node=params.num_walks, p=params.p, q=params.q,
                        num_negative_samples=params.negative, num_nodes=num_nodes,
                        sparse=True).to(dev)
    loader = model.loader(batch_size=128, shuffle=True)
    opt = torch.optim.SparseAdam(list(model.parameters()), lr=0.01)
    model.train()
    total = params.epochs * len(loader)
    done = 0
    for _ in range(params.epochs):
        for pos_rw, neg_rw in loader:
            opt.zero_grad()
            loss = model.loss(pos_rw.to(dev), neg_rw.to(dev))
            loss.backward()
            opt.step()
            done += 1
            if progress:
                progress("train", done / total)
    deg = np.bincount(edges.ravel(), minlength=num_nodes)
    vec = model.embedding.weight.detach().cpu().numpy().copy()
    vec[deg == 0] = 0.0
    return EmbeddingResult(vec, deg > 0, device_name(dev), "pyg",
                           {"train": time.perf_counter() - t0})
