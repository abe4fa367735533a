"""The graph as CSR tensors on the training device."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(slots=True)
class CSRGraph:
    """Compressed sparse rows: the out-neighbours of ``v`` are ``col[rowptr[v]:rowptr[v+1]]``.

    Columns are sorted inside each row, so ``keys = row * N + col`` is globally sorted and
    an edge test is one ``searchsorted`` (used by biased walks). ``cumw`` is the running
    sum of the weights (float64, length E + 1) when the graph is weighted.
    """

    num_nodes: int
    rowptr: torch.Tensor  # int64 [N + 1]
    col: torch.Tensor  # int64 [E]
    keys: torch.Tensor  # int64 [E], row * N + col, sorted
    cumw: torch.Tensor | None  # float64 [E + 1] or None

    @property
    def num_edges(self) -> int:
        return int(self.col.numel())

    def degree(self) -> torch.Tensor:
        return self.rowptr[1:] - self.rowptr[:-1]

    def to(self, device: torch.device | str) -> CSRGraph:
        return CSRGraph(self.num_nodes, self.rowptr.to(device), self.col.to(device),
                        self.keys.to(device),
                        None if self.cumw is None else self.cumw.to(device))


def build_csr(edge_index: torch.Tensor, num_nodes: int, weight: torch.Tensor | None = None,
              *, directed: bool = False, device: torch.device | str = "cpu") -> CSRGraph:
    """CSR from a ``[2, E]`` edge index; undirected graphs get both directions.

    Self-loops are kept (they are edges), duplicate edges are merged (their weights add up).
    """
    ei = edge_index.to(device=device, dtype=torch.long)
    if ei.dim() != 2 or ei.size(0) != 2:
        raise ValueError(f"edge_index must have shape [2, E], got {tuple(ei.shape)}")
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= num_nodes):
        raise ValueError("edge_index refers to a node outside [0, num_nodes)")
    w = None if weight is None else weight.to(device=device, dtype=torch.float64)
    if w is not None and w.numel() and float(w.min()) <= 0:
        raise ValueError("edge weights must be positive")
    if not directed:
        nonloop = ei[0] != ei[1]
        ei = torch.cat([ei, ei[:, nonloop].flip(0)], dim=1)
        if w is not None:
            w = torch.cat([w, w[nonloop]])
    keys = ei[0] * num_nodes + ei[1]
    keys, inverse = torch.unique(keys, sorted=True, return_inverse=True)
    if w is not None:
        w = torch.zeros(keys.numel(), dtype=torch.float64, device=device).index_add_(
            0, inverse, w)
    row = torch.div(keys, num_nodes, rounding_mode="floor")
    col = keys - row * num_nodes
    counts = torch.bincount(row, minlength=num_nodes)
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=device)
    torch.cumsum(counts, 0, out=rowptr[1:])
    cumw = None
    if w is not None:
        cumw = torch.zeros(keys.numel() + 1, dtype=torch.float64, device=device)
        torch.cumsum(w, 0, out=cumw[1:])
    return CSRGraph(num_nodes, rowptr, col, keys, cumw)
