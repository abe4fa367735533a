"""The embedding engine on a real CUDA device: what crashed on the first GPU run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from devkit.import_graphs import karate_graph, macro_f1
from devkit.repos import make_repo
from graph_jobs.embedding.csr import build_csr
from graph_jobs.embedding.engine import embed_graph
from graph_jobs.embedding.node2vec import Node2Vec
from graph_jobs.embedding.params import Node2VecParams
from graph_jobs.embedding.walks import random_walks
from graph_jobs.errors import EmbeddingError
from tests.graph_jobs.test_embedding_devices import _budget_for_chunks

DEV = "cuda"


def _edge_set(g) -> set[tuple[int, int]]:
    return {tuple(e) for e in g.edges.tolist()} | {tuple(e[::-1]) for e in g.edges.tolist()}


def test_engine_trains_on_the_gpu_and_learns_the_karate_factions():
    g, labels = karate_graph()
    results = [embed_graph(g.num_nodes, g.edges, Node2VecParams(seed=s), device=DEV)
               for s in range(3)]
    assert all(r.device == torch.cuda.get_device_name(0) for r in results)
    assert all(np.isfinite(r.vectors).all() and r.pairs > 0 for r in results)
    f1 = np.mean([macro_f1(r.vectors, np.arange(g.num_nodes), labels) for r in results])
    assert f1 > 0.8


def test_peak_gpu_memory_stays_within_the_plan():
    """torch's peak allocation is at most the plan's fixed part plus one chunk (the plan
    the engine trusts before it allocates anything)."""
    from graph_jobs.embedding import memory_plan

    n = 200_000
    rng = np.random.default_rng(0)
    edges = rng.integers(0, n, (n * 5, 2))
    plan = memory_plan.plan(n, len(edges), dim=64, length=20, num_walks=10,
                            batch_walks=max(4, min(32768, n * 10 // 256)), shared=32,
                            directed=False, weighted=False, device=DEV)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    r = embed_graph(n, edges, Node2VecParams(seed=0), device=DEV)
    peak = torch.cuda.max_memory_allocated() - base
    walk = memory_plan.walk_bytes(20, plan.id_dtype_bytes)
    assert np.isfinite(r.vectors).all()
    assert peak <= plan.fixed_bytes + plan.chunk_walks * walk, (peak, plan)


def test_engine_on_the_gpu_with_a_chunked_corpus_and_second_order_walks():
    g, _ = karate_graph()
    r = embed_graph(g.num_nodes, g.edges, Node2VecParams(seed=0, p=0.5, q=2.0, epochs=2),
                    device=DEV, memory_budget=_budget_for_chunks(g.num_nodes, len(g.edges), 3))
    assert r.timings["chunks"] > 1 and np.isfinite(r.vectors).all()


@pytest.mark.parametrize("p, q", [(1.0, 1.0), (0.5, 2.0), (4.0, 0.25)])
def test_second_order_walks_on_the_gpu_follow_edges(p, q):
    g, _ = karate_graph()
    csr = build_csr(torch.from_numpy(g.edges.T.copy()), g.num_nodes, device=DEV)
    gen = torch.Generator(device=DEV).manual_seed(0)
    starts = torch.arange(g.num_nodes, device=DEV).repeat(20)
    w = random_walks(csr, starts, 15, p, q, generator=gen, dtype=torch.int32)
    assert w.device.type == "cuda" and w.dtype == torch.int32
    steps = torch.stack([w[:, :-1].reshape(-1), w[:, 1:].reshape(-1)], 1).cpu().tolist()
    assert all(tuple(s) in _edge_set(g) for s in steps)


def test_pyg_style_module_loader_loss_and_fit_on_the_gpu():
    g, labels = karate_graph()
    ei = torch.from_numpy(g.edges.T.copy()).to(DEV)
    model = Node2Vec(ei, 16, walk_length=10, context_size=5, walks_per_node=5,
                     num_negative_samples=1, sparse=True).to(DEV)
    loader = model.loader(batch_size=16, shuffle=True)
    opt = torch.optim.SparseAdam(list(model.parameters()), lr=0.01)
    losses = []
    for _ in range(20):
        for pos_rw, neg_rw in loader:
            assert pos_rw.device.type == "cuda"
            opt.zero_grad()
            loss = model.loss(pos_rw, neg_rw)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    model.reset_parameters()
    model.fit(epochs=1, generator=torch.Generator(device=DEV).manual_seed(0))
    vec = model().detach().cpu().numpy()
    assert macro_f1(vec, np.arange(g.num_nodes), labels) > 0.7


def test_a_graph_too_big_for_the_card_is_a_clear_error_before_training(monkeypatch):
    g, _ = karate_graph()
    monkeypatch.setenv("PHAROS_GPU_MEMORY_FRACTION", "0.000001")
    with pytest.raises(EmbeddingError, match="PHAROS_GPU_MEMORY_FRACTION"):
        embed_graph(g.num_nodes, g.edges, device=DEV)


def test_cuda_out_of_memory_becomes_an_embedding_error():
    """A real allocation past the card: the plan is bypassed by a huge fake budget."""
    free, total = torch.cuda.mem_get_info()
    n = int(total // (2 * 64 * 4)) + 1  # the two tables alone exceed the whole card
    edges = np.array([[0, 1]])
    with pytest.raises(EmbeddingError, match="out of memory|PHAROS_GPU_MEMORY_FRACTION"):
        embed_graph(n, edges, Node2VecParams(num_walks=1), device=DEV, memory_budget=total * 4)
    torch.cuda.empty_cache()
    # the device is usable afterwards
    g, _ = karate_graph()
    assert np.isfinite(embed_graph(g.num_nodes, g.edges, device=DEV).vectors).all()


def test_whole_ingest_of_a_git_repository_runs_on_the_gpu(tmp_path):
    files = {"pkg/__init__.py": "from pkg import a, b\n",
             "pkg/a.py": "from pkg import b\nimport pkg.c\n",
             "pkg/b.py": "from pkg import c\n", "pkg/c.py": "X = 1\n",
             "tests/test_a.py": "from pkg import a\n"}
    repo = make_repo(tmp_path / "repo", files)
    env = {**os.environ, "PHAROS_DATA_DIR": str(tmp_path / "data"), "PHAROS_DEVICE": "cuda"}
    for var in ("MODE", "DATABASE_URL", "NEON_DATABASE_URL", "QDRANT_URL", "REDIS_URL"):
        env.pop(var, None)
    out = subprocess.run([sys.executable, "-m", "pharos_cli", "ingest", str(repo), "--json"],
                         env=env, capture_output=True, text=True, timeout=600,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout)
    assert res["status"] == "complete", res
    assert res["device"] == torch.cuda.get_device_name(0)
    assert res["embeddings_generated"] == len(files)
