"""The learned map from a file's raw role features to its role vector (issues 14, 30).

``role_weights.json`` beside this module holds a :class:`RoleModel` (and the names of the
features it was trained for): a softmax regression from the raw features
(:func:`graph_jobs.roles.role_features.raw_features`) to the roles that file names say,
whose probabilities are the vector's first numbers, then issue 14's structural features
times 0.1. It is trained across public repositories by ``bench/train_role_weights.py``
(the names are labels for training only and never reach a vector), and evaluated by
``bench/roles_bench.py`` on repositories it never saw. The file also records which
repositories it was trained on.

The shipped kind (``dot``, issue 30's third pass) is searched by the chance that two
files play the same role: see :meth:`RoleModel.query` and :func:`ask_with`. How to ask
is stored with each vector (:meth:`RoleModel.ask`), so a reader of any version asks the
way the writer's weights want.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

WEIGHTS_FILE = Path(__file__).with_name("role_weights.json")


class RoleModel:
    """``classes`` (``C x RAW_DIM``) and ``bias`` (``C``): a softmax regression whose
    probabilities, times ``scale``, are the vector's first ``C`` numbers; ``tail``
    (``(DIM - C) x RAW_DIM``): a linear map for the rest. With no classes the vector is
    ``tail x`` alone (a linear metric)."""

    def __init__(self, tail: np.ndarray, classes: np.ndarray | None = None,
                 bias: np.ndarray | None = None, scale: float = 1.0, by_language: bool = False,
                 root: bool = False, conditional: float | None = None,
                 stage2: np.ndarray | None = None, bias2: np.ndarray | None = None,
                 prior: np.ndarray | None = None, power: float = 1.0, dot: bool = False,
                 dot_weights: np.ndarray | None = None, given: bool = False):
        self.tail = np.asarray(tail, dtype=np.float32)
        self.classes = None if classes is None else np.asarray(classes, dtype=np.float32)
        self.bias = None if bias is None else np.asarray(bias, dtype=np.float32)
        self.scale = float(scale)
        self.by_language = by_language  # the classes see each feature once per language too
        self.root = root  # square roots of the probabilities (Hellinger distance)
        # set: the roles' probabilities given that the file has one (the last class is
        # "none"), and "none"'s own times this weight
        self.conditional = conditional
        # a second softmax regression (``C x (expanded RAW_DIM + 4 C)``): the raw features
        # and, beside them, the first one's probabilities within the repository
        # (:meth:`within`); its probabilities are the vector's
        self.stage2 = None if stage2 is None else np.asarray(stage2, dtype=np.float32)
        self.bias2 = None if bias2 is None else np.asarray(bias2, dtype=np.float32)
        # set: each probability over its class's share of the training files (how many
        # times likelier than a file drawn at random), to the ``power``, as a unit vector
        # (the file's most distinctive role dominates its direction)
        self.prior = None if prior is None else np.asarray(prior, dtype=np.float64)
        self.power = float(power)
        # set: the vector ranks by the chance that two files have the same role. The
        # roles' probabilities (not "none"'s) and, in "none"'s place, sqrt(1 - |p|^2):
        # every stored vector's class part is then a unit vector, and a question asks
        # with that last number 0 (:meth:`query`), so the squared Euclidean distance from
        # the question is ``const - 2 p_asked . p_stored`` plus the structural tail's
        # (maximum inner product search by Euclidean distance; Bachrach et al., RecSys
        # 2014): ordered by the chance, the order that maximises the expected precision
        # when the probabilities are calibrated, the small tail breaking near-ties
        self.dot = bool(dot)
        # with :attr:`dot`: each role's weight in the product (``sum_r w_r p_r q_r``), e.g.
        # its share of the training files to a negative power (rare roles count more)
        self.dot_weights = None if dot_weights is None else np.asarray(dot_weights, np.float64)
        # with :attr:`dot`: a question asks with its roles' probabilities given that it
        # has one (over their sum; issue 30, fourth pass), so the chance is that of the
        # same role given that the asked file plays one, and the role part outweighs
        # the structural tail however unsure the model is that the file has a role
        self.given = bool(given)
        if self.dot and (root or conditional is not None or prior is not None):
            # those change the numbers the product reads, or the stored vectors' length
            raise ValueError("a dot role model's vector is its probabilities: no root, "
                             "conditional or prior")

    @staticmethod
    def within(p: np.ndarray) -> np.ndarray:
        """``(n, 4 C)``: each class's probability ``p`` (the rows: one repository's files),
        over the repository's largest, as a percentile rank within the repository, and
        whether the file is the repository's most likely for it."""
        from graph_jobs.roles.role_features import _pct

        n, c = p.shape
        if n == 0:
            return np.zeros((0, 4 * c), dtype=np.float32)
        top = p.max(axis=0, keepdims=True)
        rank = np.stack([_pct(p[:, j]) for j in range(c)], axis=1) if n > 1 \
            else np.ones((n, c))
        return np.concatenate([p, p / np.maximum(top, 1e-12), rank, p >= top],
                              axis=1).astype(np.float32)

    @staticmethod
    def softmax(logits: np.ndarray) -> np.ndarray:
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def probabilities(self, raw: np.ndarray, stage: int = 2) -> np.ndarray:
        """The classes' probabilities of one repository's files (``stage`` 1: the first
        regression's alone)."""
        x = self.expand(raw) if self.by_language else raw
        p = self.softmax(x @ self.classes.T + self.bias)
        if stage == 2 and self.stage2 is not None:
            p = self.softmax(np.concatenate([x, self.within(p)], axis=1) @ self.stage2.T
                             + self.bias2)
        return p

    @staticmethod
    def expand(raw: np.ndarray) -> np.ndarray:
        """``raw`` and, beside it, ``raw`` times each language's one-hot column: a linear
        model on this weighs each feature per language family."""
        from graph_jobs.roles.role_features import FEATURES

        langs = [i for i, f in enumerate(FEATURES) if f.startswith("lang_")]
        return np.concatenate([raw, *(raw * raw[:, [i]] for i in langs)], axis=1)

    def ask(self) -> dict | None:
        """How a question asks with one of this model's vectors (stored in each point's
        payload beside the vector; :func:`ask_with`), or None: as stored, by distance."""
        if not self.dot or self.classes is None:
            return None
        top = 1.0 if self.dot_weights is None else float(self.dot_weights.max())
        return {"zero": int(self.classes.shape[0] - 1), "norm": self.scale ** 2 * top,
                **({"given": True} if self.given else {})}

    def query(self, vector: np.ndarray) -> np.ndarray:
        """The vector a question asks with, from the asked file's stored one (the same
        unless :attr:`dot`: then its last class number is 0)."""
        return ask_with(vector, self.ask())

    def same_role(self, asked, stored) -> float:
        """With :attr:`dot`: the chance, by the model, that the two files play the same
        role (``sum_r w_r p_r q_r`` over the roles, ``w`` at most 1), from the asked
        file's question vector and a stored vector."""
        return same_role_chance(asked, stored, self.ask())

    @property
    def dim(self) -> int:
        return self.tail.shape[0] + (0 if self.classes is None else self.classes.shape[0])

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float32)
        out = raw @ self.tail.T
        if self.classes is not None:
            p = self.probabilities(raw)
            if self.prior is not None:
                r = (p.astype(np.float64) / self.prior) ** self.power
                p = r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-300)
            if self.dot:
                w = np.ones(p.shape[1] - 1) if self.dot_weights is None else self.dot_weights
                roles = p[:, :-1].astype(np.float64) * np.sqrt(w)
                rest = np.sqrt(np.maximum(w.max() - (roles ** 2).sum(axis=1), 0.0))
                p = np.concatenate([roles, rest[:, None]], axis=1).astype(np.float32)
            if self.conditional is not None:
                roles = p[:, :-1] / np.maximum(p[:, :-1].sum(axis=1, keepdims=True), 1e-12)
                p = np.concatenate([roles, self.conditional * p[:, -1:]], axis=1)
            out = np.concatenate([self.scale * (np.sqrt(p) if self.root else p), out], axis=1)
        return out.astype(np.float32)

    def to_json(self) -> dict:
        def rows(m):
            return [[round(float(x), 5) for x in row] for row in m]

        return {"tail": rows(self.tail),
                **({"classes": rows(self.classes), "bias": [round(float(x), 5) for x in self.bias],
                    "scale": self.scale, "by_language": self.by_language, "root": self.root,
                    "conditional": self.conditional}
                   if self.classes is not None else {}),
                **({"stage2": rows(self.stage2), "bias2": [round(float(x), 5) for x in self.bias2]}
                   if self.stage2 is not None else {}),
                **({"prior": [float(f"{x:.6g}") for x in self.prior], "power": self.power}
                   if self.prior is not None else {}),
                **({"dot": True} if self.dot else {}),
                **({"given": True} if self.given else {}),
                **({"dot_weights": [float(f"{x:.6g}") for x in self.dot_weights]}
                   if self.dot_weights is not None else {})}


def ask_with(vector, ask: dict | None) -> np.ndarray:
    """The question vector from a stored role vector and its payload's ``ask``
    (:meth:`RoleModel.ask`): the number ``ask["zero"]`` set to 0 and, with
    ``ask["given"]``, the numbers before it over their sum; unchanged with none."""
    q = np.array(vector, dtype=np.float32, copy=True)
    if ask:
        c = int(ask["zero"])
        q[..., c] = 0.0
        if ask.get("given"):
            part = q[..., :c].astype(np.float64)
            total = part.sum(axis=-1, keepdims=True)
            q[..., :c] = np.divide(part, total, out=np.zeros_like(part), where=total > 0)
    return q


def same_role_chance(asked, stored, ask: dict) -> float:
    """The model's chance that two files play the same role: the product of the numbers
    before ``ask["zero"]`` (the roles' weighted probabilities) over ``ask["norm"]``."""
    c = int(ask["zero"])
    a = np.asarray(asked, dtype=np.float64)[:c]
    b = np.asarray(stored, dtype=np.float64)[:c]
    return float(a @ b) / float(ask["norm"])


@cache
def model() -> RoleModel:
    """The shipped model. Raises when it was trained for other features than
    :data:`~graph_jobs.roles.role_features.FEATURES` (retrain it)."""
    from graph_jobs.roles.role_features import DIM, FEATURES

    spec = json.loads(WEIGHTS_FILE.read_text())
    if tuple(spec["features"]) != FEATURES:
        raise RuntimeError(f"{WEIGHTS_FILE.name} was trained for other role features; "
                           "rebuild it with bench/train_role_weights.py")
    m = RoleModel(spec["tail"], spec.get("classes"), spec.get("bias"), spec.get("scale", 1.0),
                  spec.get("by_language", False), spec.get("root", False),
                  spec.get("conditional"), spec.get("stage2"), spec.get("bias2"),
                  spec.get("prior"), spec.get("power", 1.0), spec.get("dot", False),
                  spec.get("dot_weights"), spec.get("given", False))
    if m.dim != DIM or m.tail.shape[1] != len(FEATURES):
        raise RuntimeError(f"{WEIGHTS_FILE.name}: a {m.dim}-number vector, expected {DIM}")
    return m


@cache
def space() -> str:
    """The name of the space the shipped model's vectors live in: a digest of the weights
    file (which names the features it was trained for). Stored with every role vector, so
    that a role search compares only vectors made by the same weights: a package upgrade
    that retrains the weights leaves older repositories' vectors in their own space (found
    by no search from a newer one) until they are ingested again."""
    import hashlib

    # the weights alone: the ingress answers role searches without the parsers
    return hashlib.sha256(WEIGHTS_FILE.read_bytes()).hexdigest()[:16]


def project(raw: np.ndarray, m: np.ndarray | RoleModel | None = None) -> np.ndarray:
    """Role vectors (``(n, DIM)``, float32) of raw features (``(n, RAW_DIM)``): by the
    shipped model, or by ``m`` (a model, or a matrix: a linear map)."""
    if m is None:
        return model()(raw)
    if isinstance(m, RoleModel):
        return m(raw)
    return (np.asarray(raw, dtype=np.float32) @ m.T).astype(np.float32)


def hand_matrix() -> np.ndarray:
    """Issue 14's map: its hand weights on the structural features, nothing else (the
    starting point of the training, and the bench's ``role14`` baseline)."""
    from graph_jobs.roles.role_features import _W, DIM, FEATURES, STRUCTURE

    m = np.zeros((DIM, len(FEATURES)), dtype=np.float32)
    for i in range(min(DIM, len(STRUCTURE))):
        m[i, i] = _W[i]
    return m


def write(m: np.ndarray | RoleModel, meta: dict, path: Path = WEIGHTS_FILE) -> None:
    from graph_jobs.roles.role_features import FEATURES

    m = m if isinstance(m, RoleModel) else RoleModel(m)
    path.write_text(json.dumps({**meta, "features": list(FEATURES), **m.to_json()},
                               separators=(",", ":")) + "\n")
    model.cache_clear()
