"""A 2-D picture of a repository's file embeddings (PCA), coloured by top-level directory."""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

import numpy as np


def project_2d(vectors: np.ndarray) -> np.ndarray:
    """PCA to two dimensions (deterministic up to sign, fixed here).

    The axes come from the d x d covariance (``eigh``), never an SVD of the n x d data:
    the cost is one pass over the vectors and no n-long factor is made. Vectors that
    are not finite are drawn at the origin; if the eigensolver still fails (LAPACK's own
    iteration cap), the first two coordinates are shown as they are."""
    x = np.asarray(vectors, dtype=np.float64)
    if len(x) < 2 or x.ndim != 2 or x.shape[1] == 0:
        return np.zeros((len(x), 2))
    ok = np.isfinite(x).all(1)
    x = x - (x[ok].mean(0) if ok.any() else 0.0)
    x[~ok] = 0.0
    try:
        _, vecs = np.linalg.eigh(x.T @ x)
    except np.linalg.LinAlgError:
        vecs = np.eye(x.shape[1])[:, ::-1]
    comp = vecs[:, ::-1][:, :2].T.copy()
    comp *= np.sign(comp[np.arange(len(comp)), np.abs(comp).argmax(1)])[:, None]
    xy = x @ comp.T
    return xy if xy.shape[1] == 2 else np.pad(xy, ((0, 0), (0, 2 - xy.shape[1])))


def top_dir(path: str) -> str:
    return path.split("/", 1)[0] if "/" in path else "(root)"


def draw_map(points, out: str | Path, title: str = "", max_groups: int = 12) -> Path:
    """``points``: Qdrant records with ``vector`` and ``payload['file_path']``."""
    out = Path(out)
    paths = [p.payload["file_path"] for p in points]
    xy = project_2d(np.array([p.vector for p in points], dtype=np.float64))
    groups = [top_dir(p) for p in paths]
    common = [g for g, _ in Counter(groups).most_common(max_groups)]
    groups = [g if g in common else "(other)" for g in groups]
    if out.suffix.lower() == ".html":
        out.write_text(_html(xy, paths, groups, title))
        return out
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 7), dpi=120)
    cmap = plt.get_cmap("tab20")
    for k, g in enumerate(common + ["(other)"]):
        sel = [i for i, x in enumerate(groups) if x == g]
        if sel:
            ax.scatter(xy[sel, 0], xy[sel, 1], s=12, color=cmap(k % 20), label=f"{g} ({len(sel)})",
                       alpha=0.8)
    ax.set_title(f"{title}\n{len(paths)} files, Node2Vec → PCA", fontsize=10)
    ax.legend(fontsize=7, markerscale=1.5, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def _html(xy: np.ndarray, paths: list[str], groups: list[str], title: str) -> str:
    w, h, pad = 900, 700, 20
    lo, hi = xy.min(0), xy.max(0)
    span = np.where(hi - lo > 0, hi - lo, 1)
    pts = pad + (xy - lo) / span * [w - 2 * pad, h - 2 * pad]
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#aaaaaa"]
    names = sorted(set(groups))
    colour = {g: palette[i % len(palette)] for i, g in enumerate(names)}
    dots = "\n".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour[g]}"><title>'
        f"{html.escape(p)}</title></circle>" for (x, y), p, g in zip(pts, paths, groups, strict=True))
    legend = "".join(f'<li style="color:{colour[g]}">{html.escape(g)}</li>' for g in names)
    return (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<h3>{html.escape(title)} — {len(paths)} files</h3><ul>{legend}</ul>"
            f'<svg width="{w}" height="{h}" style="border:1px solid #ccc">{dots}</svg>')
