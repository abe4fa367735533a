"""Why role search finds few utilities, and the variants tried for them (issue 30, fourth
pass), on the train48 folds only (the design set; no held-out repository is read).

    python bench/role_variants.py --corpus DIR [--variants NAME,NAME,...]

Every variant is scored as ``bench/train_role_weights.py --folds 4 --fold-seeds 0,1``
scores the shipped one: 8 folds (2 partitions of train48 into 4), each fold's 12
repositories unseen by its model, precision@5 among the other 11's files, per role over
all fold queries. Variants:

- ``third``: the third pass's settings (:data:`THIRD`), as the trainer runs them; and, beside
  it, the ceiling of ranking by that model at all: each utilities question answered by
  the other repositories' files of highest modelled chance of being utilities, as if the
  question knew its own role (``oracle utilities``);
- ``given``: the question asks with its roles' probabilities given that it has one
  (divided by their sum), not its raw ones (more weight to the role part against the
  structural tail when the model is unsure the file has a role at all): chosen, and
  shipped (``train_role_weights.CHOSEN``);
- ``given tail 0.3``: the same, the tail x 0.3;
- ``utils x2``: the utilities class weighted twice in the training loss;
- ``mlp``: a two-layer network (64 hidden, dropout 0.2) in place of the softmax
  regression, 5 bagged copies, classes count^-0.5;
- ``words``: the log counts of the 300 words most common (by repositories) in the
  training folds' declared names, beside the raw features (identifiers inside the file:
  never its name);
- ``stage2``: the second pass's second regression on the probabilities within each
  repository, now under the shipped (dot) ranking;
- fifth pass: ``given sharpen 1.5`` / ``2`` / ``3``: the shipped model, the question's
  role part to that power (over its sum) before it asks (a sharper question, in case the
  probabilities are too flat); ``given words``: ``words``, asking given a role.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import train_role_weights as T  # noqa: E402
from roles_bench import CACHE, corpus, evaluate, repo_data, with_features  # noqa: E402

from graph_jobs.roles.role_features import DIM  # noqa: E402
from graph_jobs.roles.role_weights import RoleModel, hand_matrix  # noqa: E402

# the third pass's shipped settings, the base of every variant here
THIRD = {"balance": 0.25, "by_language": True, "decay": 1e-4, "dot": True}
EXTRA = {"given": {"given": True}, "given tail 0.3": {"given": True, "tail": 0.3},
         "utils x2": {"boost": {"utils": 2.0}}, "stage2": {"stage2": True}}
# fifth pass: the question's role part to a power (over its sum) before it asks
SHARPEN = {"given sharpen 1.5": 1.5, "given sharpen 2": 2.0, "given sharpen 3": 3.0}
SHOWN = ("entry", "utils", "cli", "errors", "types", "config", "test support")


def declared_words(r: dict, clones: Path, cache: Path) -> list[dict[str, int]]:
    """Each file's declared names' words (the extractor's patterns), cached."""
    from graph_jobs.graph.extract.declarations import _WORD, DECLARED_NAMES
    from graph_jobs.languages import FAMILY

    key = cache / f"words-{r['name']}-{r['commit'][:12]}.json"
    if key.exists():
        return json.loads(key.read_text())
    out = []
    for p, lang in zip(r["paths"], r["languages"], strict=True):
        fam, c = FAMILY.get(lang), Counter()
        if fam in DECLARED_NAMES:
            try:
                data = (clones / r["name"] / p).read_bytes()[:1_000_000]
            except OSError:
                data = b""
            for groups in DECLARED_NAMES[fam].findall(data):
                name = next((g for g in (groups if isinstance(groups, tuple) else (groups,))
                             if g), b"")
                c.update({w.lower() for w in _WORD.findall(name.decode("ascii", "replace"))
                          if len(w) > 1})
        out.append(dict(c))
    key.write_text(json.dumps(out))
    return out


class _Dot(RoleModel):
    """A dot role model whose probabilities come from :meth:`probs` (the variants)."""

    def __init__(self, roles: list[str]):
        c = len(roles)
        super().__init__(hand_matrix()[: DIM - c] * 0.1, np.zeros((c, 1)), np.zeros(c), 1.0,
                         True, dot=True)
        self.roles = roles

    def probabilities(self, raw, stage=2):
        return self.probs(np.asarray(raw, np.float64))

    def ask(self):
        return {"zero": len(self.roles) - 1, "norm": 1.0, **({"given": True} if self.given else {})}


class Mlp(_Dot):
    def __init__(self, tr: list[dict], hidden=64, bag=5, epochs=40, balance=0.5, seed=0):
        import torch

        labels = np.concatenate([r["labels"] for r in tr])
        super().__init__(sorted(set(labels) - {""}) + [""])
        x = torch.tensor(RoleModel.expand(np.vstack([r["raw"] for r in tr])),
                         dtype=torch.float32)
        y = torch.tensor([self.roles.index(v) for v in labels])
        counts = torch.bincount(y, minlength=len(self.roles)).float()
        w = counts.clamp(min=1) ** -balance
        w = w / (w * counts).sum() * len(y)
        rng, self.nets = np.random.default_rng(seed), []
        for b in range(bag):
            torch.manual_seed(seed + b)
            net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                                      torch.nn.Dropout(0.2), torch.nn.Linear(hidden, len(self.roles)))
            opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-3)
            lossf = torch.nn.CrossEntropyLoss(weight=w)
            idx = torch.tensor(rng.choice(len(y), len(y)))
            xi, yi = x[idx], y[idx]
            for _ in range(epochs):
                net.train()
                perm = torch.randperm(len(yi))
                for s in range(0, len(yi), 512):
                    bi = perm[s:s + 512]
                    loss = lossf(net(xi[bi]), yi[bi])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            net.eval()
            self.nets.append(net)

    def probs(self, raw):
        import torch

        x = torch.tensor(RoleModel.expand(raw), dtype=torch.float32)
        with torch.no_grad():
            return np.mean([torch.softmax(n(x), 1).numpy() for n in self.nets], axis=0)


class Words(_Dot):
    def __init__(self, tr: list[dict], vocabulary=300, balance=0.25, decay=1e-4):
        labels = np.concatenate([r["labels"] for r in tr])
        super().__init__(sorted(set(labels) - {""}) + [""])
        df = Counter()
        for r in tr:
            df.update(set().union(*map(set, r["words"])))
        self.vocabulary = {w: i for i, (w, _n) in enumerate(df.most_common(vocabulary))}
        x = np.vstack([self.x(r["raw"], r["words"]) for r in tr])
        y = np.array([self.roles.index(v) for v in labels])
        self.w, self.b = T._fit(x, y, len(self.roles), balance, 300, decay, T.SEED)
        self.words = None  # the scored repository's, set before each call

    def x(self, raw, words):
        f = np.zeros((len(words), len(self.vocabulary)))
        for i, c in enumerate(words):
            for w, n in c.items():
                if w in self.vocabulary:
                    f[i, self.vocabulary[w]] = min(1.0, np.log1p(n) / np.log1p(20))
        return np.concatenate([RoleModel.expand(np.asarray(raw, np.float64)), f], axis=1)

    def probs(self, raw):
        return RoleModel.softmax(self.x(raw, self.words) @ self.w.T + self.b)


def sharpen(q: np.ndarray, zero: int, power: float) -> np.ndarray:
    """The questions' role parts (before ``zero``) to ``power``, over their sum."""
    q = q.copy()
    part = q[:, :zero].astype(np.float64) ** power
    total = part.sum(axis=1, keepdims=True)
    q[:, :zero] = np.divide(part, total, out=np.zeros_like(part), where=total > 0)
    return q


def run(repos: list[dict], name: str) -> dict:
    acc, overall, oracle = defaultdict(list), [], []
    for seed in (0, 1):
        order = np.random.default_rng(seed).permutation(len(repos))
        for f in range(4):
            test = [repos[i] for i in order[f::4]]
            held = set(order[f::4].tolist())
            train = [repos[i] for i in order if i not in held]
            if name == "mlp":
                m = Mlp(train)
            elif name in ("words", "given words"):
                m = Words(train)
                m.given = name == "given words"
            elif name in SHARPEN:
                m = T.train_softmax(train, **{**THIRD, **EXTRA["given"]})
            else:
                m = T.train_softmax(train, **{**THIRD, **EXTRA.get(name, {})})
            for r in test:
                if name in ("words", "given words"):
                    m.words = r["words"]
                r["v"] = m(r["raw"])
                r["q"] = m.query(r["v"])
                if name in SHARPEN:
                    r["q"] = sharpen(r["q"], m.ask()["zero"], SHARPEN[name])
                r["p"] = m.probabilities(r["raw"])
            res = evaluate(test, "v", 5, np.random.default_rng(0), asks="q")
            overall.append(res["precision"])
            for role, (p, n) in res["per_role"].items():
                acc[role].append((p, n))
            if name == "third":
                ui = sorted(set(np.concatenate([r["labels"] for r in train])) - {""}).index(
                    "utils")
                for qi, q in enumerate(test):
                    others = [r for j, r in enumerate(test) if j != qi]
                    lab = np.concatenate([r["labels"] for r in others])
                    p = np.concatenate([r["p"][:, ui] for r in others])
                    top = np.argsort(-p, kind="stable")[:5]
                    oracle += [float(np.mean(lab[top] == "utils"))] * int(
                        (q["labels"] == "utils").sum())
    per = {r: sum(p * n for p, n in v) / sum(n for _p, n in v) for r, v in acc.items()}
    out = {"overall": float(np.mean(overall)), "per_role": per}
    if oracle:
        out["oracle utilities"] = float(np.mean(oracle))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="folder of clones")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--variants", default="third,given,given tail 0.3,utils x2,mlp,words,"
                                          "stage2")
    args = ap.parse_args()
    names = args.variants.split(",")
    repos = [with_features(repo_data(args.corpus / n, args.cache))
             for _g, n, _u in corpus("train48")]
    if {"words", "given words"} & set(names):
        for r in repos:
            r["words"] = declared_words(r, args.corpus, args.cache)
    print("| variant (train48, 8 folds) | overall | " + " | ".join(SHOWN) + " |")
    print("|---|---|" + "---|" * len(SHOWN))
    for name in names:
        got = run(repos, name)
        print(f"| {name} | {got['overall']:.3f} | "
              + " | ".join(f"{got['per_role'].get(r, 0.0):.2f}" for r in SHOWN) + " |",
              flush=True)
        if "oracle utilities" in got:
            print(f"| {name}: utilities, the question's role known (oracle) | | | "
                  f"{got['oracle utilities']:.2f} |" + " |" * (len(SHOWN) - 2), flush=True)


if __name__ == "__main__":
    main()
