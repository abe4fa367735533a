"""A ``Node2Vec`` module with PyTorch Geometric's interface and conventions.

Drop-in for ``torch_geometric.nn.Node2Vec`` (same constructor arguments, ``forward``,
``loader``, ``pos_sample``/``neg_sample``/``sample``, ``loss``), without pyg-lib or
torch-cluster: walks come from :mod:`graph_jobs.embedding.walks` on the model's device.
It differs from PyG where PyG trails word2vec-based Node2Vec in quality:

- a separate context table (``context_embedding``) instead of one shared table;
- negatives drawn ∝ degree^0.75 instead of uniform random walks.

For whole-graph training use :meth:`Node2Vec.fit`, which runs the batched skip-gram
trainer of :mod:`graph_jobs.embedding.skipgram` (word2vec's SGD, dynamic window and
down-sampling) and is what ``embed_graph`` uses.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import Embedding
from torch.utils.data import DataLoader

from graph_jobs.embedding.csr import build_csr
from graph_jobs.embedding.skipgram import NegativeSampler, train_skipgram
from graph_jobs.embedding.walks import random_walks

EPS = 1e-15


class Node2Vec(torch.nn.Module):
    r"""Node2Vec (Grover & Leskovec, 2016).

    Args:
        edge_index: ``[2, E]`` graph connectivity (read as undirected unless ``directed``).
        embedding_dim: size of each embedding vector.
        walk_length: steps per walk (PyG convention: a walk has ``walk_length + 1`` nodes).
        context_size: nodes per positive window cut from a walk (centre + context_size-1).
        walks_per_node: walks started at each node per ``loader`` batch.
        p: return parameter; high p makes returning to the previous node unlikely.
        q: in-out parameter; q < 1 explores outward (DFS-like), q > 1 stays local (BFS-like).
        num_negative_samples: negative windows per positive window.
        num_nodes: number of nodes (default: ``max(edge_index) + 1``).
        sparse: use sparse gradients for the embeddings (for ``torch.optim.SparseAdam``).
        directed: walk edges in their direction only.
    """

    def __init__(self, edge_index: Tensor, embedding_dim: int, walk_length: int,
                 context_size: int, walks_per_node: int = 1, p: float = 1.0, q: float = 1.0,
                 num_negative_samples: int = 1, num_nodes: int | None = None,
                 sparse: bool = False, directed: bool = False) -> None:
        super().__init__()
        if walk_length < context_size - 1 or context_size < 2:
            raise ValueError("need 2 <= context_size <= walk_length + 1")
        n = int(num_nodes if num_nodes is not None
                else (int(edge_index.max()) + 1 if edge_index.numel() else 0))
        self.num_nodes = n
        self.embedding_dim = embedding_dim
        self.walk_length = walk_length
        self.context_size = context_size
        self.walks_per_node = walks_per_node
        self.p, self.q = float(p), float(q)
        self.num_negative_samples = num_negative_samples
        self.directed = directed
        self.csr = build_csr(edge_index, n, directed=directed, device=edge_index.device)
        self.embedding = Embedding(n, embedding_dim, sparse=sparse)
        self.context_embedding = Embedding(n, embedding_dim, sparse=sparse)
        self._neg = NegativeSampler(self.csr.degree().to(torch.float64).clamp(min=1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.embedding.weight.uniform_(-0.5 / self.embedding_dim, 0.5 / self.embedding_dim)
            self.context_embedding.weight.zero_()

    def forward(self, batch: Tensor | None = None) -> Tensor:
        """The embeddings of the nodes in ``batch`` (all nodes when ``None``)."""
        w = self.embedding.weight
        return w if batch is None else w.index_select(0, batch)

    def loader(self, **kwargs) -> DataLoader:
        """A ``DataLoader`` over node ids whose batches are ``(pos_rw, neg_rw)``."""
        return DataLoader(range(self.num_nodes), collate_fn=self.sample, **kwargs)

    def _windows(self, rw: Tensor) -> Tensor:
        num = rw.size(1) + 1 - self.context_size
        return torch.cat([rw[:, j:j + self.context_size] for j in range(num)], dim=0)

    @torch.jit.unused
    def pos_sample(self, batch: Tensor) -> Tensor:
        dev = self.embedding.weight.device
        batch = batch.to(dev).repeat(self.walks_per_node)
        rw = random_walks(self.csr.to(dev), batch, self.walk_length + 1, self.p, self.q)
        rw = torch.where(rw < 0, rw[:, :1].expand_as(rw), rw)  # dead ends: stay put
        return self._windows(rw)

    @torch.jit.unused
    def neg_sample(self, batch: Tensor) -> Tensor:
        dev = self.embedding.weight.device
        batch = batch.to(dev).repeat(self.walks_per_node * self.num_negative_samples)
        self._neg.cdf = self._neg.cdf.to(dev)
        rest = self._neg.draw((batch.numel(), self.walk_length), None)
        return self._windows(torch.cat([batch.view(-1, 1), rest], dim=-1))

    @torch.jit.unused
    def sample(self, batch: list[int] | Tensor) -> tuple[Tensor, Tensor]:
        if not isinstance(batch, Tensor):
            batch = torch.tensor(batch)
        return self.pos_sample(batch), self.neg_sample(batch)

    def _window_loss(self, rw: Tensor, positive: bool) -> Tensor:
        start, rest = rw[:, 0], rw[:, 1:].contiguous()
        h_start = self.embedding(start).view(rw.size(0), 1, self.embedding_dim)
        h_rest = self.context_embedding(rest.view(-1)).view(rw.size(0), -1, self.embedding_dim)
        out = (h_start * h_rest).sum(dim=-1).view(-1)
        if positive:
            return -torch.log(torch.sigmoid(out) + EPS).mean()
        return -torch.log(1 - torch.sigmoid(out) + EPS).mean()

    def loss(self, pos_rw: Tensor, neg_rw: Tensor) -> Tensor:
        """Skip-gram negative-sampling loss of positive and negative windows."""
        return self._window_loss(pos_rw, True) + self._window_loss(neg_rw, False)

    @torch.no_grad()
    def fit(self, epochs: int = 1, window_size: int | None = None, lr: float = 0.025,
            subsample: float = 0.0, generator: torch.Generator | None = None) -> None:
        """Train in place with the batched word2vec trainer (what ``embed_graph`` runs)."""
        dev = self.embedding.weight.device
        starts = torch.arange(self.num_nodes, device=dev).repeat(self.walks_per_node)
        walks = random_walks(self.csr.to(dev), starts, self.walk_length + 1, self.p, self.q,
                             generator=generator)
        train_skipgram(walks, self.embedding.weight.data, self.context_embedding.weight.data,
                       window=window_size or self.context_size - 1,
                       negative=self.num_negative_samples, lr=lr, epochs=epochs,
                       subsample=subsample, gen=generator,
                       batch_walks=max(4, min(128, walks.size(0) // 256)))

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.num_nodes}, {self.embedding_dim}, "
                f"walk_length={self.walk_length}, context_size={self.context_size}, "
                f"p={self.p}, q={self.q})")
