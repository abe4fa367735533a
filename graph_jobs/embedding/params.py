"""Hyper-parameters of the embedding stage (no torch needed to build or validate them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Node2VecParams:
    """Node2Vec hyper-parameters, named as PecanPy / SNAP name them.

    dimensions:      size of each vector (64 in Pharos' collection).
    walk_length:     nodes per walk, start node included (PecanPy/SNAP convention; PyG's
                     ``walk_length`` counts steps, i.e. one less).
    num_walks:       walks started from every node.
    window_size:     skip-gram context window (each side), shrunk at random per centre
                     node as word2vec/gensim do.
    epochs:          passes over the walk corpus.
    p, q:            return and in-out parameters; p = q = 1 gives uniform walks.
    negative:        negative samples per positive pair.
    subsample:       word2vec's frequent-token down-sampling threshold (0, the default,
                     disables it: on import graphs it cost quality, badly so on small ones).
    lr:              initial learning rate, decayed linearly to ``lr * 1e-4``.
    batch_walks:     walks per optimisation step; 0 picks one from the corpus size
                     (at least ~256 steps per epoch, at most 128 walks on the CPU and
                     4,096 on a GPU).
    shared_negatives: negatives drawn once per walk and shared by its nodes (0: word2vec's
                     per-pair negatives, slower and no better here).
    update_cap:      a node repeated c times in a batch gets its summed update scaled by
                     min(1, cap / c) (see ``skipgram._scatter``).
    weighted, directed: how to read the edges.
    seed:            makes CPU runs bit-for-bit reproducible.
    output:          "input": the skip-gram input vectors (word2vec, PecanPy, PyG);
                     "input+context": input plus context vectors, which adds first-order
                     proximity (how often two nodes share a walk window) to the
                     second-order kind (sharing neighbours): what related files want
                     (Levy, Goldberg & Dagan 2015 found w+c helps similarity tasks).
    """

    dimensions: int = 64
    walk_length: int = 20
    num_walks: int = 10
    window_size: int = 10
    epochs: int = 1
    p: float = 1.0
    q: float = 1.0
    negative: int = 5
    subsample: float = 0.0
    lr: float = 0.025
    batch_walks: int = 0
    shared_negatives: int = 32
    update_cap: float = 5.0
    weighted: bool = False
    directed: bool = False
    seed: int | None = 0
    output: str = "input"

    def __post_init__(self) -> None:
        for name in ("dimensions", "walk_length", "num_walks", "window_size", "epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.p <= 0 or self.q <= 0:
            raise ValueError(f"p and q must be > 0, got p={self.p} q={self.q}")
        if self.batch_walks < 0 or self.shared_negatives < 0 or self.update_cap < 0:
            raise ValueError("batch_walks, shared_negatives and update_cap must be >= 0")
        if self.negative < 0:
            raise ValueError("negative must be >= 0")
        if not (0 < self.lr < 10):
            raise ValueError(f"lr out of range: {self.lr}")
        if self.output not in ("input", "input+context"):
            raise ValueError(f"output must be 'input' or 'input+context', got {self.output!r}")

    def to_dict(self) -> dict:
        return asdict(self)
