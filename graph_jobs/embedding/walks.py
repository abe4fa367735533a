"""Random walks for Node2Vec, every walker advanced at once on the training device.

One Python iteration per *step*, never per walk: a step gathers the current nodes'
CSR rows and picks a neighbour for all walkers with a few tensor operations.

- p = q = 1: first-order walks (uniform, or proportional to weight when weighted).
- other p, q: second-order walks by rejection sampling (KnightKing; the approach of
  PecanPy's ``SparseOTF`` and of pyg-lib's GPU kernel): propose a neighbour from the
  first-order distribution and accept it with probability ``alpha / max(alpha)``, where
  alpha is 1/p for returning to the previous node, 1 for a neighbour of the previous node
  and 1/q otherwise. No per-edge transition table is ever built, so memory stays linear
  in the number of edges.

A walker that reaches a node with no out-edges (directed graphs) stops; the rest of its
row is ``-1``. Walks start at every node, including isolated ones (their rows are
``[v, -1, -1, ...]``).
"""

from __future__ import annotations

import torch

from graph_jobs.embedding.csr import CSRGraph


def _first_order(g: CSRGraph, cur: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """One neighbour of each node in ``cur`` (all have degree > 0)."""
    start = g.rowptr[cur]
    if g.cumw is None:
        deg = g.rowptr[cur + 1] - start
        u = torch.rand(cur.numel(), generator=gen, device=cur.device)
        off = (u * deg).long().clamp_(max=deg - 1)
        return g.col[start + off]
    end = g.rowptr[cur + 1]
    lo, hi = g.cumw[start], g.cumw[end]
    u = torch.rand(cur.numel(), generator=gen, device=cur.device, dtype=torch.float64)
    t = lo + u * (hi - lo)
    idx = torch.searchsorted(g.cumw, t, right=True) - 1
    idx = torch.minimum(torch.maximum(idx, start), end - 1)
    return g.col[idx]


def _is_edge(g: CSRGraph, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    if g.keys.numel() == 0:
        return torch.zeros_like(src, dtype=torch.bool)
    q = src * g.num_nodes + dst
    pos = torch.searchsorted(g.keys, q).clamp_(max=g.keys.numel() - 1)
    return g.keys[pos] == q


def _edge_weight(g: CSRGraph, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Weight of the edge src -> dst (1 when unweighted), 0 where there is none."""
    if g.keys.numel() == 0:
        return torch.zeros(src.shape, dtype=torch.float64, device=src.device)
    q = src * g.num_nodes + dst
    pos = torch.searchsorted(g.keys, q).clamp_(max=g.keys.numel() - 1)
    found = g.keys[pos] == q
    if g.cumw is None:
        return found.to(torch.float64)
    return torch.where(found, g.cumw[pos + 1] - g.cumw[pos], 0.0)


def second_order_step(g: CSRGraph, cur: torch.Tensor, prev: torch.Tensor, p: float,
                      q: float, generator: torch.Generator | None = None,
                      max_rejection_rounds: int = 1000) -> torch.Tensor:
    """The next node of node2vec walks at ``cur`` that came from ``prev`` (all deg > 0).

    Rejection sampling with the *return move folded out* (KnightKing's outlier
    folding): the envelope is ``m = max(1, 1/q)`` per unit of edge weight, and when
    ``1/p > m`` (a small p: returning is the likeliest move) the return's excess mass
    ``w(cur, prev) * (1/p - m)`` is an appendix drawn directly, never rejected. With
    p = 0.5, q = 2 a walker needs about half the rounds of the plain ``max(alpha)``
    envelope; the distribution is exactly node2vec's (tests compare it with the
    normalised alpha table).
    """
    inv_p, inv_q = 1.0 / p, 1.0 / q
    m = max(1.0, inv_q)
    extra = max(inv_p - m, 0.0)
    ret_alpha = min(inv_p, m)
    lo_alpha, hi_alpha = min(1.0, inv_q), max(1.0, inv_q)
    dev = cur.device
    if extra > 0:
        start, end = g.rowptr[cur], g.rowptr[cur + 1]
        total = ((end - start).to(torch.float64) if g.cumw is None
                 else g.cumw[end] - g.cumw[start])
        appendix = _edge_weight(g, cur, prev) * extra
        p_return = appendix / (total * m + appendix)
    nxt = torch.empty_like(cur)
    todo = torch.arange(cur.numel(), device=dev)
    for _ in range(max_rejection_rounds):
        c, pv = cur[todo], prev[todo]
        cand = _first_order(g, c, generator)
        u = torch.rand(cand.numel(), generator=generator, device=dev) * m
        is_ret = cand == pv
        # The edge test (a binary search, the costly part) decides only when u falls
        # between the two non-return alphas; elsewhere the outcome is the same either way.
        need = (u >= lo_alpha) & (u < hi_alpha) & ~is_ret
        alpha = torch.full(cand.shape, inv_q, dtype=torch.float32, device=dev)
        sel = need.nonzero().squeeze(1)
        alpha[sel[_is_edge(g, pv[sel], cand[sel])]] = 1.0
        alpha[is_ret] = ret_alpha
        ok = u < alpha
        if extra > 0:
            back = torch.rand(cand.numel(), generator=generator, device=dev,
                              dtype=torch.float64) < p_return[todo]
            cand = torch.where(back, pv, cand)
            ok |= back
        nxt[todo[ok]] = cand[ok]
        todo = todo[~ok]
        if todo.numel() == 0:
            break
    else:  # pragma: no cover - needs an astronomically unlucky run
        nxt[todo] = _first_order(g, cur[todo], generator)
    return nxt


def random_walks(g: CSRGraph, start: torch.Tensor, length: int, p: float = 1.0,
                 q: float = 1.0, generator: torch.Generator | None = None,
                 max_rejection_rounds: int = 1000,
                 dtype: torch.dtype = torch.long) -> torch.Tensor:
    """Walks of ``length`` nodes (start included) from each node in ``start``.

    Returns a ``dtype`` tensor ``[len(start), length]`` on ``start``'s device (int64 by
    default; int32 halves a corpus's memory when the node ids fit), ``-1`` after a dead
    end. The walkers' own arithmetic is int64 either way.
    """
    n = start.numel()
    walks = torch.full((n, length), -1, dtype=dtype, device=start.device)
    if n == 0:
        return walks
    walks[:, 0] = start
    deg = g.degree()
    biased = not (p == 1.0 and q == 1.0)
    alive = torch.arange(n, device=start.device)
    alive = alive[deg[start] > 0]
    for step in range(1, length):
        if alive.numel() == 0:
            break
        cur = walks[alive, step - 1].long()
        if not biased or step == 1:
            nxt = _first_order(g, cur, generator)
        else:
            nxt = second_order_step(g, cur, walks[alive, step - 2].long(), p, q, generator,
                                    max_rejection_rounds)
        walks[alive, step] = nxt.to(dtype)
        alive = alive[deg[nxt] > 0]
    return walks
