"""Node2Vec settings for relation graphs.

A repository of 60 files with the library's defaults (10 walks a node) gives skip-gram
about 600 walks to learn from: too few for stable vectors, and two seeds then disagree
on most of a file's nearest neighbours. The number of walks a node grows as the graph
shrinks, so every graph gets at least ``min_total_walks`` walks, within
``[base.num_walks, max_walks_per_node]``. Large graphs keep the base settings: their
cost is what the speed benchmarks measure.
"""

from __future__ import annotations

import dataclasses
import math

from graph_jobs.embedding.params import Node2VecParams

RELATION_DEFAULTS = Node2VecParams(p=1.0, q=1.0, weighted=True, num_walks=10,
                                   walk_length=20, window_size=5, output="input+context")
MIN_TOTAL_WALKS = 5_000
MAX_WALKS_PER_NODE = 100


def walks_per_node(num_nodes: int, base: int = 10, min_total_walks: int | None = None,
                   max_walks_per_node: int = MAX_WALKS_PER_NODE) -> int:
    if num_nodes <= 0:
        return base
    total = MIN_TOTAL_WALKS if min_total_walks is None else min_total_walks
    return max(base, min(max_walks_per_node, math.ceil(total / num_nodes)))


def relation_params(num_nodes: int, base: Node2VecParams | None = None, *,
                    weighted: bool = True, **overrides) -> Node2VecParams:
    """``base`` (default :data:`RELATION_DEFAULTS`) with the walks scaled to the graph."""
    base = base or RELATION_DEFAULTS
    out = dataclasses.replace(base, weighted=weighted,
                              num_walks=walks_per_node(num_nodes, base.num_walks))
    return dataclasses.replace(out, **overrides) if overrides else out
