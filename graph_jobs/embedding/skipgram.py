"""Skip-gram with negative sampling (word2vec's SGNS) trained on a batch of walks at once.

Instead of materialising (centre, context) pairs, a batch of ``b`` walks of ``L`` nodes
is scored as one batched matrix product ``U @ Vᵀ`` of shape ``[b, L, L]``; the skip-gram
window is a band mask on it. Per batch the work is a handful of ``bmm`` calls and three
``index_add_`` scatters, with no Python loop per walk or per pair, on CPU and GPU alike.

The choices that close PyG's known quality gap with word2vec-based Node2Vec
(PecanPy, SNAP) are the ones word2vec makes:

- separate input (``emb``) and context (``ctx``) tables; the input table is the result;
- negatives drawn from the walk-token distribution raised to the power 0.75;
- word2vec's dynamic window (each position draws its reach in ``1..window``, and the
  rows trained against it follow that draw, as in gensim) and its frequent-token
  down-sampling (``subsample``), applied before windowing;
- plain SGD with word2vec's linearly decaying learning rate.

Negatives are shared by the nodes of one walk: ``shared`` draws per walk, each weighted
so a centre node receives ``negative`` negatives per positive pair, as in word2vec.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(slots=True)
class SkipGramStats:
    tokens: int = 0  # walk tokens kept after down-sampling
    pairs: int = 0  # positive (centre, context) pairs trained
    steps: int = 0


def token_counts(walks: torch.Tensor, num_nodes: int, blocks: int = 8) -> torch.Tensor:
    """Tokens per node, counted an eighth of the rows at a time: the mask and the int64
    ids of a whole chunk at once would be ~13 bytes a token beside it (memory_plan)."""
    counts = torch.zeros(num_nodes, dtype=torch.float64, device=walks.device)
    rows = max(1, math.ceil(walks.size(0) / blocks))
    for block in walks.split(rows):
        counts += torch.bincount(block[block >= 0].long(), minlength=num_nodes)
    return counts


def keep_probability(counts: torch.Tensor, sample: float) -> torch.Tensor:
    """word2vec / gensim down-sampling: P(keep) per node from its token count."""
    if sample <= 0:
        return torch.ones_like(counts)
    threshold = sample * counts.sum()
    c = counts.clamp(min=1)
    return ((torch.sqrt(c / threshold) + 1) * (threshold / c)).clamp(max=1.0)


def subsample_walks(walks: torch.Tensor, keep_p: torch.Tensor,
                    gen: torch.Generator | None) -> torch.Tensor:
    """Drop tokens with probability ``1 - keep_p[node]`` and close the gaps (-1 padded)."""
    valid = walks >= 0
    u = torch.rand(walks.shape, generator=gen, device=walks.device)
    keep = valid & (u < keep_p[walks.clamp(min=0)].to(u.dtype))
    order = torch.sort((~keep).to(torch.int8), dim=1, stable=True).indices
    out = torch.gather(walks, 1, order)
    kept = torch.gather(keep, 1, order)
    return torch.where(kept, out, torch.full_like(out, -1))


class NegativeSampler:
    """Draws nodes with probability ∝ count^0.75 by inverse-CDF search (O(log N) a draw)."""

    def __init__(self, counts: torch.Tensor, power: float = 0.75) -> None:
        w = counts.to(torch.float64).pow(power)
        if float(w.sum()) <= 0:
            w = torch.ones_like(w)
        self.cdf = torch.cumsum(w, 0)
        self.cdf /= self.cdf[-1].clone()

    def draw(self, shape: tuple[int, ...], gen: torch.Generator | None) -> torch.Tensor:
        u = torch.rand(shape, generator=gen, device=self.cdf.device, dtype=torch.float64)
        return torch.searchsorted(self.cdf, u).clamp_(max=self.cdf.numel() - 1)


def init_tables(num_nodes: int, dim: int, device: torch.device | str,
                gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """word2vec's initialisation: inputs uniform in ±0.5/dim, contexts zero.

    The tables live where the generator draws (``device`` only when there is none).
    """
    where = gen.device if gen is not None else torch.device(device)
    emb = (torch.rand((num_nodes, dim), generator=gen, device=where) - 0.5) / dim
    ctx = torch.zeros((num_nodes, dim), device=where)
    return emb, ctx


class SkipGramTrainer:
    """Skip-gram state across chunks of a walk corpus: tables, sampler, learning rate.

    ``counts`` are the token counts of the whole corpus (negatives ∝ count^0.75, and the
    down-sampling probabilities); ``total_steps`` is the number of batches of the whole
    run, so the linear learning-rate decay spans every chunk. Each :meth:`train` call
    takes one chunk of walks ([W, L], int32 or int64, -1 padded) and trains on it in
    random order; a corpus given in one chunk trains exactly as :func:`train_skipgram`.
    """

    def __init__(self, emb: torch.Tensor, ctx: torch.Tensor, counts: torch.Tensor, *,
                 length: int, window: int, negative: int, lr: float, total_steps: int,
                 subsample: float = 0.0, batch_walks: int = 128, shared: int = 32,
                 cap: float = 5.0, gen: torch.Generator | None = None,
                 progress: Callable[[float], None] | None = None) -> None:
        self.emb, self.ctx = emb, ctx
        self.window, self.negative, self.shared, self.cap = window, negative, shared, cap
        self.subsample, self.batch_walks, self.gen = subsample, batch_walks, gen
        self.lr, self.min_lr = lr, lr * 1e-4
        self.total_steps = max(1, total_steps)
        self.progress = progress
        self.keep_p = keep_probability(counts, subsample)
        self.sampler = NegativeSampler(counts) if negative > 0 else None
        pos = torch.arange(length, device=emb.device)
        self.dist = (pos[:, None] - pos[None, :]).abs()  # [L, L]
        self.stats = SkipGramStats()

    def train(self, walks: torch.Tensor) -> None:
        n_walks = walks.size(0)
        if n_walks == 0:
            return
        gen = self.gen
        corpus = subsample_walks(walks, self.keep_p, gen) if self.subsample > 0 else walks
        # the permutation is drawn where its generator lives (a CUDA generator cannot
        # draw on the CPU), then moved to the walks if they live elsewhere
        order = torch.randperm(n_walks, generator=gen,
                               device=_draw_device(gen, walks)).to(walks.device)
        for start in range(0, n_walks, self.batch_walks):
            batch = corpus[order[start:start + self.batch_walks]].long()
            step = self.stats.steps
            alpha = max(self.min_lr, self.lr * (1.0 - step / self.total_steps))
            _sgd_step(batch, self.emb, self.ctx, self.dist, self.window, self.negative,
                      self.shared, self.sampler, alpha, gen, self.stats, self.cap)
            self.stats.steps += 1
            if self.progress is not None:
                self.progress(min(1.0, self.stats.steps / self.total_steps))


def _draw_device(gen: torch.Generator | None, like: torch.Tensor) -> torch.device:
    return gen.device if gen is not None else like.device


def train_skipgram(walks: torch.Tensor, emb: torch.Tensor, ctx: torch.Tensor, *,
                   window: int, negative: int, lr: float, epochs: int = 1,
                   subsample: float = 1e-3, batch_walks: int = 128, shared: int = 32,
                   cap: float = 5.0,
                   gen: torch.Generator | None = None,
                   progress: Callable[[float], None] | None = None) -> SkipGramStats:
    """Train ``emb``/``ctx`` in place on ``walks`` ([W, L] int64, -1 padded)."""
    n_walks, length = walks.shape
    if n_walks == 0 or length < 2:
        return SkipGramStats()
    trainer = SkipGramTrainer(
        emb, ctx, token_counts(walks, emb.size(0)), length=length, window=window,
        negative=negative, lr=lr, total_steps=epochs * math.ceil(n_walks / batch_walks),
        subsample=subsample, batch_walks=batch_walks, shared=shared, cap=cap, gen=gen,
        progress=progress)
    for _ in range(epochs):
        trainer.train(walks)
    return trainer.stats


def _sgd_step(batch: torch.Tensor, emb: torch.Tensor, ctx: torch.Tensor, dist: torch.Tensor,
              window: int, negative: int, shared: int, sampler: NegativeSampler | None,
              alpha: float, gen: torch.Generator | None, stats: SkipGramStats,
              cap: float = 0.0) -> None:
    b, length = batch.shape
    valid = batch >= 0
    tok = batch.clamp(min=0)
    u = emb[tok]  # [b, L, D]
    v = ctx[tok]
    # word2vec's dynamic window, drawn as gensim draws it: position j's reach (1..window)
    # decides which rows i train against it, so the pairs a row i trains on come from
    # independent draws of its neighbours, not all-or-nothing from one draw of its own
    # (same expectation; a row's summed update is far less variable, see docs/embedding.md)
    reach = torch.randint(1, window + 1, (b, 1, length), generator=gen, device=batch.device)
    band = (dist > 0) & (dist <= reach)  # [b, L, L]: row i (input), column j (context)
    band &= valid[:, :, None] & valid[:, None, :]
    mask = band.to(u.dtype)
    score = torch.bmm(u, v.transpose(1, 2))
    g_pos = (torch.sigmoid(score) - 1.0) * mask  # d(-log σ(s))/ds on the band
    grad_u = torch.bmm(g_pos, v)
    grad_v = torch.bmm(g_pos.transpose(1, 2), u)
    n_pairs = mask.sum(2)  # [b, L]
    if sampler is not None and shared == 0:
        # per-token negatives, exactly word2vec: `negative` draws for each pair's centre
        neg = sampler.draw((b, length, negative), gen)
        nv = ctx[neg]  # [b, L, k, D]
        s_neg = torch.einsum("bld,blkd->blk", u, nv)
        g_neg = torch.sigmoid(s_neg) * n_pairs[:, :, None]
        grad_u += torch.einsum("blk,blkd->bld", g_neg, nv)
        grad_nv = g_neg[..., None] * u[:, :, None, :]
        sel = valid[:, :, None].expand_as(neg)
        _scatter(ctx, neg[sel], grad_nv[sel], alpha, cap)
    elif sampler is not None:
        neg = sampler.draw((b, shared), gen)
        nv = ctx[neg]  # [b, S, D]
        weight = (n_pairs * (negative / shared))[:, :, None]
        g_neg = torch.sigmoid(torch.bmm(u, nv.transpose(1, 2))) * weight  # [b, L, S]
        grad_u += torch.bmm(g_neg, nv)
        grad_nv = torch.bmm(g_neg.transpose(1, 2), u)
        _scatter(ctx, neg.reshape(-1), grad_nv.reshape(-1, grad_nv.size(-1)), alpha, cap)
    flat_tok = tok[valid]
    _scatter(emb, flat_tok, grad_u[valid], alpha, cap)
    _scatter(ctx, flat_tok, grad_v[valid], alpha, cap)
    stats.tokens += int(flat_tok.numel())
    stats.pairs += int(n_pairs.sum().item())


def _scatter(table: torch.Tensor, index: torch.Tensor, grad: torch.Tensor, alpha: float,
             cap: float) -> None:
    """``table[index] -= alpha * grad``, summed over repeats, each row's sum capped.

    A node repeated ``c`` times in one batch gets ``c`` gradients computed at the same
    point; word2vec would apply them one after another and saturate. Summing them
    overshoots once ``c`` is large, so a row's sum is scaled by ``min(1, cap / c)``.
    """
    if cap > 0:
        # counts from the batch's own distinct ids (a sort of the batch), never an
        # N-long bincount: on 10M nodes that was 80 MB written per scatter
        _, inverse, counts = torch.unique(index, return_inverse=True, return_counts=True)
        count = counts[inverse].to(grad.dtype)
        grad = grad * (cap / count.clamp(min=cap)).unsqueeze(1)
    table.index_add_(0, index, grad, alpha=-alpha)
