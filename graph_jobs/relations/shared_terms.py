"""Files that use the same words: TF-IDF over the words of their identifiers.

Two files that name the same things (``cookie``, ``jar``, ``expires``) tend to change
together, whether or not one imports the other: a field renamed, a format extended, a
protocol's two sides. Each file is a vector of its words (:mod:`graph_jobs.graph.extract.terms`),
``(1 + ln count) * ln(files / files with the word)``, unit length; a word found in one file
only, or in every file, weighs nothing. Cosine between two files is their similarity.

Each file keeps its ``k`` most similar files at ``min_similarity`` or more (the pair is
kept when either side keeps it), and its ``top`` heaviest words, which explain a pair:
"uses the same names: cookie, jar". The product is computed in blocks of rows, so memory
stays linear in files times ``block``; its time grows with files squared (0.64 s for
2,593 files), which is why the job skips it above ``PHAROS_WORDS_MAX_FILES``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class SharedTerms:
    pairs: dict[tuple[str, str], float] = field(default_factory=dict)  # (a, b), a < b
    top_terms: dict[str, list[str]] = field(default_factory=dict)  # heaviest first


def shared_terms(files: list[str], terms: dict[str, dict[str, int]], *, k: int = 30,
                 min_similarity: float = 0.05, top: int = 20, block: int = 512
                 ) -> SharedTerms:
    """Similar pairs and each file's heaviest words (see the module doc)."""
    import scipy.sparse as sp

    n = len(files)
    out = SharedTerms()
    if n < 2:
        return out
    sizes = [len(terms.get(f, ())) for f in files]
    keys = [w for f in files for w in terms.get(f, ())]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(keys))}
    indices = np.fromiter(map(vocab.__getitem__, keys), dtype=np.int64, count=len(keys))
    counts = np.fromiter((c for f in files for c in terms.get(f, {}).values()),
                         dtype=np.float64, count=len(keys))
    indptr = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    x = sp.csr_matrix((np.log(counts) + 1.0, indices, indptr), shape=(n, len(vocab)))
    df = np.bincount(x.indices, minlength=len(vocab))
    idf = np.log(n / np.maximum(df, 1))
    idf[df < 2] = 0.0
    x = (x @ sp.diags(idf)).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = (sp.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ x).tocsr()
    x.eliminate_zeros()
    x = x.astype(np.float32)  # same pairs as float64, a quarter faster

    words = np.array(list(vocab), dtype=object)
    for i, f in enumerate(files):
        lo, hi = x.indptr[i], x.indptr[i + 1]
        order = np.argsort(-x.data[lo:hi], kind="stable")[:top]
        out.top_terms[f] = [str(w) for w in words[x.indices[lo:hi][order]]]

    xt = x.T.tocsr()
    kk = min(k, n - 1)
    best_sim: dict[tuple[int, int], float] = {}
    for start in range(0, n, block):
        sims = (x[start:start + block] @ xt).toarray()
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = -1.0  # not itself
        best = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        got = np.take_along_axis(sims, best, axis=1)
        r, c = np.nonzero(got >= min_similarity)
        a, b = r + start, best[r, c]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        for i, j, v in zip(lo.tolist(), hi.tolist(), got[r, c].tolist(), strict=True):
            best_sim[(i, j)] = v
    for (i, j), v in best_sim.items():
        a, b = files[i], files[j]
        out.pairs[(a, b) if a < b else (b, a)] = v
    return out
