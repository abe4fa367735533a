"""Node2Vec embedding stage.

torch is imported lazily by the modules below, never by ``graph_jobs`` itself, so the
graph stage and the cloud ingress run without it.

- :mod:`graph_jobs.embedding.csr` — the graph as CSR tensors.
- :mod:`graph_jobs.embedding.walks` — uniform, weighted and biased (p, q) random walks,
  batched on the training device; biased walks use rejection sampling.
- :mod:`graph_jobs.embedding.skipgram` — skip-gram with negative sampling over walks.
- :mod:`graph_jobs.embedding.node2vec` — the PyG-compatible ``Node2Vec`` module.
- :mod:`graph_jobs.embedding.engine` — ``embed_graph()``: what the pipeline calls.
- :mod:`graph_jobs.embedding.edgelist_io` — ``.edg`` in, word2vec ``.emb`` out.
"""

from graph_jobs.embedding.params import Node2VecParams

__all__ = ["Node2VecParams"]
