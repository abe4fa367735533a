"""PecanPy / SNAP file formats: ``.edg`` in, word2vec text ``.emb`` out."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class EdgeListError(ValueError):
    pass


def read_edg(path: Path, weighted: bool = False) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """``u v [w]`` per line (tabs or spaces; ``#`` comments and blank lines skipped).

    Returns node names (in order of first appearance), an int64 ``[E, 2]`` edge array of
    indices into them, and the weights (float64) when ``weighted``.
    """
    ids: dict[str, int] = {}
    src: list[int] = []
    dst: list[int] = []
    wts: list[float] = []
    with open(path, encoding="utf-8", errors="strict") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if len(parts) < 2 or len(parts) > 3:
                raise EdgeListError(f"{path}:{lineno}: expected 'u v [w]', got {line.strip()!r}")
            u, v = (ids.setdefault(x, len(ids)) for x in parts[:2])
            src.append(u)
            dst.append(v)
            if weighted:
                if len(parts) != 3:
                    raise EdgeListError(f"{path}:{lineno}: --weighted needs a third column")
                try:
                    w = float(parts[2])
                except ValueError:
                    raise EdgeListError(f"{path}:{lineno}: weight {parts[2]!r} is not a number") from None
                if not w > 0:
                    raise EdgeListError(f"{path}:{lineno}: weight must be > 0, got {w}")
                wts.append(w)
    edges = np.array([src, dst], dtype=np.int64).T.reshape(-1, 2)
    return list(ids), edges, (np.array(wts) if weighted else None)


def write_emb(path: Path, names: list[str], vectors: np.ndarray) -> None:
    """word2vec text format: ``N D`` header, then ``name v1 ... vD`` per node."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"{len(names)} {vectors.shape[1]}\n")
        for name, row in zip(names, vectors, strict=True):
            fh.write(name + " " + " ".join(f"{x:.6g}" for x in row.tolist()) + "\n")


def read_emb(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, encoding="utf-8") as fh:
        n, d = map(int, fh.readline().split())
        names, rows = [], []
        for line in fh:
            parts = line.rstrip("\n").split(" ")
            names.append(parts[0])
            rows.append([float(x) for x in parts[1:]])
    vec = np.array(rows, dtype=np.float32).reshape(-1, d)
    if len(names) != n:
        raise EdgeListError(f"{path}: header says {n} rows, found {len(names)}")
    return names, vec
