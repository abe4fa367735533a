"""The GPU path, guarded on the CPU: random draws, memory planning, chunks and threads.

No GPU runs here, so these tests check what would break on one:

- every random draw in ``graph_jobs/embedding`` is made on its generator's device
  (a CUDA generator asked to draw on the CPU is the crash the first GPU run hit:
  ``torch.randperm(n, generator=gen, device="cpu")``), at run time and in the source;
- a graph too big for the memory budget is refused before training starts;
- a walk corpus cut into chunks trains as well as one corpus, and no chunk is larger
  than the plan; walk ids are int32;
- a small graph embeds with one CPU thread, and torch's setting is put back.

``tests/gpu/`` runs the same code on CUDA when a device is present.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import numpy as np
import pytest
import torch

import graph_jobs.embedding as embedding_pkg
from devkit.import_graphs import karate_graph, macro_f1
from graph_jobs.embedding import memory_plan
from graph_jobs.embedding.engine import embed_graph
from graph_jobs.embedding.node2vec import Node2Vec
from graph_jobs.embedding.params import Node2VecParams
from graph_jobs.embedding.threads import threads_for, torch_threads
from graph_jobs.errors import EmbeddingError

# torch functions that draw random numbers into a new tensor; `device` says where
CREATING = ("rand", "randn", "randint", "randperm", "normal", "multinomial", "bernoulli",
            "poisson")
# functions and methods that draw into (or like) an existing tensor
LIKE = ("rand_like", "randn_like", "randint_like")
IN_PLACE = ("uniform_", "normal_", "random_", "bernoulli_", "exponential_", "geometric_",
            "cauchy_", "log_normal_")


class DeviceMixup(AssertionError):
    pass


def _guard_random_draws(monkeypatch) -> list[str]:
    """Wrap torch's random functions: any draw not on its generator's device raises.

    On the CPU every device is the CPU, so a literal ``device="cpu"`` (or the job's device
    *string*) would pass a plain equality test; it is exactly what crashes on CUDA. A
    draw with a generator must therefore name its device as a ``torch.device`` taken from
    the generator or a tensor, equal to the generator's.
    """
    seen: list[str] = []

    def check(name: str, gen, device, tensor=None) -> None:
        if gen is None:
            return
        seen.append(name)
        if tensor is not None:
            where = tensor.device
        elif device is None:
            raise DeviceMixup(f"torch.{name} with a generator but no device: it draws on the "
                              f"CPU whatever the generator's device ({gen.device})")
        elif not isinstance(device, torch.device):
            raise DeviceMixup(f"torch.{name}(device={device!r}): a device given as a string "
                              "is not taken from the generator or a tensor")
        else:
            where = device
        if where != gen.device:
            raise DeviceMixup(f"torch.{name} draws on {where} with a generator on "
                              f"{gen.device}")

    for name in CREATING:
        real = getattr(torch, name)

        @functools.wraps(real)
        def wrapped(*args, _real=real, _name=name, **kwargs):
            # multinomial, bernoulli, poisson, normal(mean=tensor): drawn where their input is
            src = args[0] if args and isinstance(args[0], torch.Tensor) else None
            check(_name, kwargs.get("generator"), kwargs.get("device"), src)
            return _real(*args, **kwargs)

        monkeypatch.setattr(torch, name, wrapped)
    for name in LIKE:
        real = getattr(torch, name)

        @functools.wraps(real)
        def wrapped_like(t, *args, _real=real, _name=name, **kwargs):
            check(_name, kwargs.get("generator"), kwargs.get("device"),
                  None if "device" in kwargs else t)
            return _real(t, *args, **kwargs)

        monkeypatch.setattr(torch, name, wrapped_like)
    for name in IN_PLACE:
        real = getattr(torch.Tensor, name)

        @functools.wraps(real)
        def wrapped_inplace(self, *args, _real=real, _name=name, **kwargs):
            check(_name, kwargs.get("generator"), None, self)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, wrapped_inplace)
    return seen


@pytest.mark.parametrize("kwargs", [
    {},  # first-order walks, one chunk
    {"p": 0.5, "q": 2.0},  # second-order walks
    {"subsample": 1e-3, "shared_negatives": 0, "epochs": 2},  # down-sampling, per-pair negatives
])
def test_every_random_draw_is_on_its_generators_device(monkeypatch, kwargs):
    g, _ = karate_graph()
    seen = _guard_random_draws(monkeypatch)
    embed_graph(g.num_nodes, g.edges, Node2VecParams(seed=1, **kwargs), device="cpu")
    # walks, tables, shuffles, windows and negatives all drew through the guard
    assert {"rand", "randperm", "randint"} <= set(seen)


def test_draws_of_a_chunked_corpus_are_on_the_generators_device(monkeypatch):
    g, _ = karate_graph()
    seen = _guard_random_draws(monkeypatch)
    r = embed_graph(g.num_nodes, g.edges, Node2VecParams(seed=1), device="cpu",
                    memory_budget=_budget_for_chunks(g.num_nodes, len(g.edges), 3))
    assert r.timings["chunks"] >= 2 and "randperm" in seen


def test_the_pyg_style_module_draws_on_its_generators_device(monkeypatch):
    g, _ = karate_graph()
    seen = _guard_random_draws(monkeypatch)
    model = Node2Vec(torch.from_numpy(g.edges.T.copy()), 16, walk_length=10, context_size=5,
                     walks_per_node=2, p=0.5, q=2.0, num_negative_samples=2)
    model.fit(generator=torch.Generator().manual_seed(0))
    assert seen


def test_the_guard_catches_the_draw_that_crashed_on_the_gpu(monkeypatch):
    """The guard is not vacuous: the line the first GPU run crashed on is refused."""
    _guard_random_draws(monkeypatch)
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(DeviceMixup, match="string"):
        torch.randperm(10, generator=gen, device="cpu")
    with pytest.raises(DeviceMixup, match="no device"):
        torch.rand(3, generator=gen)
    torch.randperm(10, generator=gen, device=gen.device)  # the fix passes


def _random_calls_with_literal_device(tree: ast.AST) -> list[int]:
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        kw = {k.arg: k.value for k in node.keywords if k.arg}
        if "generator" not in kw:
            continue
        dev = kw.get("device")
        literal = isinstance(dev, ast.Constant) or (
            isinstance(dev, ast.Call) and getattr(dev.func, "attr", "") == "device")
        if literal:
            bad.append(node.lineno)
    return bad


def test_no_random_draw_in_the_embedding_code_names_a_literal_device():
    root = Path(embedding_pkg.__file__).parent
    found = {p.name: _random_calls_with_literal_device(ast.parse(p.read_text()))
             for p in sorted(root.glob("*.py"))}
    assert {k: v for k, v in found.items() if v} == {}
    # and the scan itself sees the bad line
    bad = "torch.randperm(n, generator=gen, device='cpu').to(device)"
    assert _random_calls_with_literal_device(ast.parse(bad)) == [1]


def _budget_for_chunks(num_nodes: int, num_edges: int, chunks: int,
                       params: Node2VecParams | None = None) -> int:
    """A memory budget that leaves room for about 1/chunks of the walk corpus."""
    p = params or Node2VecParams()
    n_walks = num_nodes * p.num_walks
    bw = max(4, min(128, n_walks // 256))
    fixed = memory_plan.fixed_bytes(num_nodes, num_edges, dim=p.dimensions,
                                    length=p.walk_length, n_walks=n_walks, batch_walks=bw,
                                    shared=p.shared_negatives, directed=False, weighted=False)
    per_walk = memory_plan.walk_bytes(p.walk_length, 4)
    return fixed + per_walk * max(bw, n_walks // chunks)


def _planted_partition(blocks: int = 8, size: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = blocks * size
    labels = np.repeat(np.arange(blocks), size)
    edges = []
    for _ in range(n * 4):
        u = rng.integers(n)
        v = rng.integers(n) if rng.random() < 0.15 else rng.integers(size) + labels[u] * size
        if u != v:
            edges.append((u, v))
    return n, np.array(edges), labels


def test_a_chunked_corpus_learns_as_well_as_one_corpus(monkeypatch):
    import graph_jobs.embedding.walks as walks_mod

    n, edges, labels = _planted_partition()
    sizes, dtypes = [], set()
    real = walks_mod.random_walks

    def recording(g, start, *a, **k):
        out = real(g, start, *a, **k)
        sizes.append(start.numel())
        dtypes.add(out.dtype)
        return out

    monkeypatch.setattr(walks_mod, "random_walks", recording)
    budget = _budget_for_chunks(n, len(edges), 4)
    plan = memory_plan.plan(n, len(edges), dim=64, length=20, num_walks=10,
                            batch_walks=max(4, min(128, n * 10 // 256)), shared=32,
                            directed=False, weighted=False, device="cpu", budget_bytes=budget)
    assert plan.chunks >= 3
    f1 = {}
    for name, mb in (("one", None), ("chunked", budget)):
        sizes.clear()
        scores = []
        for seed in range(2):
            r = embed_graph(n, edges, Node2VecParams(seed=seed), device="cpu", memory_budget=mb)
            scores.append(macro_f1(r.vectors, np.arange(n), labels))
        f1[name] = float(np.mean(scores))
        if mb is not None:
            assert max(sizes) <= plan.chunk_walks  # no walk tensor beyond the plan
    assert dtypes == {torch.int32}  # ids fit: half the memory of int64
    assert f1["one"] > 0.9, f1  # planted communities are found (random vectors: ~0.125)
    assert f1["chunked"] > f1["one"] - 0.05, f1


def test_a_graph_too_big_for_the_budget_is_refused_before_training():
    g, _ = karate_graph()
    calls = []
    with pytest.raises(EmbeddingError, match="PHAROS_GPU_MEMORY_FRACTION") as err:
        embed_graph(g.num_nodes, g.edges, Node2VecParams(), device="cpu",
                    memory_budget=10_000, progress=lambda stage, f: calls.append(stage))
    assert "tables" in str(err.value)
    assert calls == []  # nothing sampled, nothing trained


def test_memory_fraction_setting_is_validated(monkeypatch):
    monkeypatch.setenv("PHAROS_GPU_MEMORY_FRACTION", "1.5")
    with pytest.raises(EmbeddingError, match=r"\(0, 1\]"):
        memory_plan.gpu_memory_fraction()
    monkeypatch.setenv("PHAROS_GPU_MEMORY_FRACTION", "0.25")
    assert memory_plan.gpu_memory_fraction() == 0.25


def test_fixed_memory_does_not_grow_with_a_chunk_and_ten_million_nodes_fit_16_gib():
    """The plan of the issue's largest graph: tables + fixed part + a chunk within 16 GiB."""
    kw = dict(dim=64, length=20, num_walks=10, batch_walks=32768, shared=32, directed=False,
              weighted=False, device="cuda")
    peaks = []
    for budget in (16 << 30, 140 << 30):  # a 24 GiB card's share, and an H200's
        plan = memory_plan.plan(10_000_000, 50_000_000, budget_bytes=budget, **kw)
        assert plan.chunks > 1  # 100M walks never sampled at once
        walk = memory_plan.walk_bytes(20, plan.id_dtype_bytes)
        peaks.append(plan.fixed_bytes + plan.chunk_walks * walk)
    assert peaks[0] == peaks[1] <= 16 << 30  # a bigger card does not grow the working set
    with pytest.raises(EmbeddingError, match="GiB"):
        memory_plan.plan(10_000_000, 50_000_000, budget_bytes=4 << 30, **kw)


def test_a_small_graph_embeds_on_one_thread_and_torch_is_put_back():
    g, _ = karate_graph()
    before = torch.get_num_threads()
    r = embed_graph(g.num_nodes, g.edges, Node2VecParams(), device="cpu")
    assert r.timings["threads"] == 1.0
    assert torch.get_num_threads() == before


def test_threads_grow_with_the_work_up_to_the_usable_cores(monkeypatch):
    assert threads_for(10_000, cores=16) == 1
    assert threads_for(20_000_000, cores=16) == 16  # 100k nodes x 10 walks x 20
    assert threads_for(20_000_000, cores=2) == 2
    monkeypatch.setenv("PHAROS_EMBED_THREADS", "1")
    assert threads_for(20_000_000) == 1
    with torch_threads(1):
        assert torch.get_num_threads() == 1


def test_a_chunked_corpus_trains_on_the_very_walks_it_counted(monkeypatch):
    """The first pass counts tokens for the negatives; training must then sample the same
    walks, even though training draws from the job's generator in between."""
    import graph_jobs.embedding.walks as walks_mod

    g, _ = karate_graph()
    seen: list[torch.Tensor] = []
    real = walks_mod.random_walks

    def recording(*a, **k):
        out = real(*a, **k)
        seen.append(out.clone())
        return out

    monkeypatch.setattr(walks_mod, "random_walks", recording)
    r = embed_graph(g.num_nodes, g.edges, Node2VecParams(seed=2), device="cpu",
                    memory_budget=_budget_for_chunks(g.num_nodes, len(g.edges), 3))
    chunks = int(r.timings["chunks"])
    assert chunks >= 2 and len(seen) == 2 * chunks
    for counted, trained in zip(seen[:chunks], seen[chunks:], strict=True):
        assert torch.equal(counted, trained)
