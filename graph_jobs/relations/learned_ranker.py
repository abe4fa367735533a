"""The learned ranker of related files: gradient-boosted trees (LightGBM ``lambdarank``,
trained offline by ``bench/train_ranker.py`` on repositories' own histories), shipped as
``ranker_model.json`` beside this module and evaluated here with numpy alone (no LightGBM
at run time, so the ingress ranks with it too).

The file holds the feature names (they must be :data:`ranker_features.FEATURES`, in that
order, or the model is not used), and each tree flattened: per internal node the feature,
the threshold (``x <= threshold`` goes left) and the two children (a child ``< 0`` is the
leaf ``~child``), and the leaves' values. The score of a pair is the sum over trees.

:func:`load` returns ``None`` when the file is absent, unreadable or made for other
features; ``related_files`` then ranks with the hand weights (:class:`RerankWeights`).
``PHAROS_RANKER=hand`` forces the hand weights; ``PHAROS_RANKER_MODEL=PATH`` reads
another model file (the bench's leave-repositories-out folds do).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graph_jobs.relations.ranker_features import FEATURES

MODEL_PATH = Path(__file__).with_name("ranker_model.json")
FORMAT = "pharos-ranker/1"


@dataclass(slots=True)
class LearnedRanker:
    name: str
    feature: np.ndarray  # (trees, internal nodes) feature index
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray  # (trees, leaves)
    depth: int

    @classmethod
    def from_dict(cls, d: dict) -> LearnedRanker:
        if d.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} model")
        if tuple(d["features"]) != FEATURES:
            raise ValueError("the model's features are not this version's")
        trees = d["trees"]
        ni = max(1, max(len(t["feature"]) for t in trees))
        nl = max(len(t["leaf"]) for t in trees)
        feat = np.zeros((len(trees), ni), np.int64)
        thr = np.zeros((len(trees), ni))
        left = np.full((len(trees), ni), -1, np.int64)
        right = np.full((len(trees), ni), -1, np.int64)
        leaf = np.zeros((len(trees), nl))
        for i, t in enumerate(trees):
            k = len(t["feature"])
            feat[i, :k], thr[i, :k] = t["feature"], t["threshold"]
            left[i, :k], right[i, :k] = t["left"], t["right"]
            leaf[i, :len(t["leaf"])] = t["leaf"]
            if k == 0:  # a single leaf: the root is leaf 0
                left[i, 0] = right[i, 0] = -1
                thr[i, 0] = np.inf
        return cls(d.get("name", "model"), feat, thr, left, right, leaf,
                   int(d.get("max_depth", ni)))

    def score(self, x: np.ndarray) -> np.ndarray:
        """The model's score of each row of ``x`` (``rows x len(FEATURES)``): every tree
        walked for every row at once, one level a step (flat indices into the trees'
        arrays: half the time of two-dimensional indexing)."""
        n, t = x.shape[0], self.feature.shape[0]
        if n == 0:
            return np.zeros(0)
        if x.ndim != 2 or x.shape[1] != len(FEATURES):  # flat indices would read the next row
            raise ValueError(f"{x.shape[1] if x.ndim == 2 else x.shape} features given; "
                             f"the model reads {len(FEATURES)}")
        ni, nl = self.feature.shape[1], self.leaf.shape[1]
        xf = np.ascontiguousarray(x, dtype=np.float64).ravel()
        feat, thr = self.feature.ravel(), self.threshold.ravel()
        left, right = self.left.ravel(), self.right.ravel()
        base = np.arange(t, dtype=np.int64)[None, :] * ni
        row = np.arange(n, dtype=np.int64)[:, None] * x.shape[1]
        node = np.zeros((n, t), np.int64)
        for _ in range(self.depth + 1):
            inner = node >= 0
            if not inner.any():
                break
            at = base + np.where(inner, node, 0)
            goes_left = xf[row + feat[at]] <= thr[at]
            node = np.where(inner, np.where(goes_left, left[at], right[at]), node)
        leaf_at = np.arange(t, dtype=np.int64)[None, :] * nl + ~node
        return self.leaf.ravel()[leaf_at].sum(axis=1)


_CACHE: dict[str, LearnedRanker | None] = {}
_LOCK = threading.Lock()


def load(path: str | Path | None = None) -> LearnedRanker | None:
    """The model at ``path`` (default: ``PHAROS_RANKER_MODEL`` or the shipped file), or
    ``None`` (absent, unreadable, other features, or ``PHAROS_RANKER=hand``)."""
    if path is None:
        if os.environ.get("PHAROS_RANKER", "").strip().lower() == "hand":
            return None
        path = os.environ.get("PHAROS_RANKER_MODEL") or MODEL_PATH
    key = str(path)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
    try:
        model = LearnedRanker.from_dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        model = None
    with _LOCK:
        _CACHE[key] = model
    return model


def _flatten(node: dict, t: dict, d: int = 0) -> tuple[int, int]:
    """Append ``node``'s subtree to ``t``; its index (``~leaf`` for a leaf) and depth."""
    if "split_feature" not in node:
        t["leaf"].append(float(node.get("leaf_value", 0.0)))
        return ~(len(t["leaf"]) - 1), d
    if node.get("decision_type", "<=") != "<=":
        raise ValueError(f"unsupported split {node.get('decision_type')}")
    i = len(t["feature"])
    t["feature"].append(int(node["split_feature"]))
    t["threshold"].append(float(node["threshold"]))
    t["left"].append(0)
    t["right"].append(0)
    t["left"][i], dl = _flatten(node["left_child"], t, d + 1)
    t["right"][i], dr = _flatten(node["right_child"], t, d + 1)
    return i, max(dl, dr)


def to_dict(booster, name: str) -> dict:
    """A LightGBM booster's trees in this module's format (training side only)."""
    dump = booster.dump_model()
    if dump.get("feature_names") != list(FEATURES):
        raise ValueError("the booster was trained on other features")
    trees, depth = [], 0
    for info in dump["tree_info"]:
        t = {"feature": [], "threshold": [], "left": [], "right": [], "leaf": []}
        _i, d = _flatten(info["tree_structure"], t)
        depth = max(depth, d)
        trees.append(t)
    return {"format": FORMAT, "name": name, "features": list(FEATURES), "max_depth": depth,
            "trees": trees}
