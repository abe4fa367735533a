"""Learn the role vector's map (``graph_jobs/roles/role_weights.json``) across repositories
(issue 30).

    python bench/train_role_weights.py --corpus DIR [--folds 4] [--write]

Trains on the ``train48`` repositories of :file:`bench/roles_corpus.txt` only (clones
under ``DIR``; graphs and declarations cached by ``bench/roles_bench.py`` under
``--cache``). Names are training labels only (``roles_bench.ROLES``): they never reach a
vector.

The shipped model (:data:`CHOSEN`, :class:`graph_jobs.roles.role_weights.RoleModel`): a
softmax regression from the raw features, each also once per language family (the
features times the language's one-hot column: each language weighs its own patterns),
to the roles and "none", the classes weighted by ``count ** -0.5`` and an L2 penalty;
the role vector is its 9 probabilities, then issue 14's first 18 structural features
times 0.1 (which orders files the probabilities tie). Compared on the folds (``--folds``):
a linear metric learned by neighbourhood components analysis (Goldberger et al., NIPS
2004; ``train``: the softmax over ``-|M (x - y)|^2`` of the files of *other*
repositories should put its mass on files of the same role), which scored lower.

``--folds F``: leave-repositories-out folds within train48 (the design is chosen on
these), precision@5 of each variant on each fold's held-out repositories
(``--variants`` picks some). ``--write``: train on all of train48 and write the weights
file (the held-out evaluation is ``bench/roles_bench.py --corpus DIR``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from roles_bench import CACHE, corpus, evaluate, repo_data, table, with_features  # noqa: E402

SEED = 0
# chosen on the train48 folds (BENCHMARKS.md, issue 30): the best mean precision@5
CHOSEN = {"balance": 0.5, "by_language": True, "decay": 1e-4, "tail": 0.1}


def train(repos: list[dict], *, diagonal: bool = False, steps: int = 300, batch: int = 256,
          candidates: int = 3000, lr: float = 0.03, decay: float = 1e-4,
          seed: int = SEED) -> np.ndarray:
    """``M`` (``(DIM, RAW_DIM)``) learned on ``repos`` (see the module doc)."""
    import torch

    from graph_jobs.roles.role_weights import hand_matrix

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = torch.tensor(np.vstack([r["raw"] for r in repos]), dtype=torch.float32)
    repo = torch.tensor(np.concatenate([np.full(len(r["raw"]), i) for i, r in enumerate(repos)]))
    labels = np.concatenate([r["labels"] for r in repos])
    roles = sorted(set(labels) - {""})
    lab = torch.tensor([roles.index(v) if v else -1 for v in labels])
    by_role = [np.flatnonzero(labels == r) for r in roles]
    m0 = torch.tensor(hand_matrix())
    if diagonal:  # one weight per feature (the vector keeps RAW_DIM numbers)
        w = torch.nn.Parameter(torch.full((x.shape[1],), 0.5))
        with torch.no_grad():
            w[: m0.shape[0]] = torch.diagonal(m0)
        params = [w]
    else:
        m = torch.nn.Parameter(m0 + 0.01 * torch.randn_like(m0))
        params = [m]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=decay)
    per = max(1, batch // len(roles))
    labelled = np.flatnonzero(labels != "")
    unlabelled = np.flatnonzero(labels == "")
    for _ in range(steps):
        q = np.concatenate([rng.choice(ix, min(per, len(ix)), replace=False) for ix in by_role])
        # candidates: every labelled file and a fresh sample of the others
        c = torch.tensor(np.concatenate([labelled, rng.choice(
            unlabelled, min(candidates, len(unlabelled)), replace=False)]))
        zq, zc = (x[q] * w, x[c] * w) if diagonal else (x[q] @ m.T, x[c] @ m.T)
        d = torch.cdist(zq, zc).square()
        d = d.masked_fill(repo[q][:, None] == repo[c][None, :], float("inf"))
        logp = torch.log_softmax(-d, dim=1)
        same = lab[q][:, None] == lab[c][None, :]
        loss = -torch.logsumexp(logp.masked_fill(~same, float("-inf")), dim=1)
        loss = loss.clamp(max=30).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        if diagonal:
            return torch.diag(w).numpy()
        return m.detach().numpy()


def train_softmax(repos: list[dict], *, balance: float = 0.5, steps: int = 300,
                  decay: float = 1e-4, scale: float = 1.0, tail: float = 0.1,
                  by_language: bool = False, root: bool = False,
                  conditional: float | None = None, seed: int = SEED):
    """A softmax regression from raw features to the roles (and "none"), classes weighted
    by ``count ** -balance``; the vector is its probabilities (times ``scale``) and, for
    the remaining numbers, issue 14's structural features times ``tail``."""
    import torch

    from graph_jobs.roles.role_features import DIM
    from graph_jobs.roles.role_weights import RoleModel, hand_matrix

    torch.manual_seed(seed)
    raw = np.vstack([r["raw"] for r in repos])
    x = torch.tensor(RoleModel.expand(raw) if by_language else raw, dtype=torch.float32)
    labels = np.concatenate([r["labels"] for r in repos])
    roles = sorted(set(labels) - {""}) + [""]
    y = torch.tensor([roles.index(v) for v in labels])
    counts = torch.bincount(y, minlength=len(roles)).float()
    weight = counts.clamp(min=1) ** -balance
    weight = weight / (weight * counts).sum() * len(y)
    lin = torch.nn.Linear(x.shape[1], len(roles))
    opt = torch.optim.LBFGS(lin.parameters(), lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")
    lossf = torch.nn.CrossEntropyLoss(weight=weight)

    def closure():
        opt.zero_grad()
        loss = lossf(lin(x), y) + decay * lin.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    c = len(roles)
    return RoleModel(hand_matrix()[: DIM - c] * tail, lin.weight.detach().numpy(),
                     lin.bias.detach().numpy(), scale, by_language, root, conditional)


def score(res: dict) -> tuple[float, float]:
    """(the worst role with >= 10 queries, overall)."""
    pr = res["per_role"]
    worst = min((p for p, n in pr.values() if n >= 10), default=0.0)
    return worst, res["precision"]


def folds(repos: list[dict], n: int, k: int = 5, only: str | None = None) -> dict:
    """``{variant: ((worst role, overall) mean precision@k over the folds, settings)}``."""
    from graph_jobs.roles.role_weights import hand_matrix, project

    order = np.random.default_rng(SEED).permutation(len(repos))
    variants = {"role14": None, "linear NCA": "linear",
                "softmax b=0.5": ("softmax", dict(balance=0.5)),
                "softmax b=1": ("softmax", dict(balance=1.0)),
                "softmax b=0.5 tail 0": ("softmax", dict(balance=0.5, tail=0.0)),
                "softmax b=0.5 sqrt": ("softmax", dict(balance=0.5, root=True)),
                "softmax b=0.5 lang": ("softmax", dict(balance=0.5, by_language=True)),
                "softmax b=0.5 lang sqrt": ("softmax", dict(balance=0.5, by_language=True,
                                                            root=True)),
                "softmax b=0.5 lang sqrt d1e-2": ("softmax", dict(
                    balance=0.5, by_language=True, root=True, decay=1e-2)),
                "softmax b=0.5 lang sqrt d1e-4": ("softmax", dict(
                    balance=0.5, by_language=True, root=True, decay=1e-4)),
                "lang d1e-4 cond 1": ("softmax", dict(balance=0.5, by_language=True,
                                                      decay=1e-4, conditional=1.0)),
                "lang d1e-4 cond .5": ("softmax", dict(balance=0.5, by_language=True,
                                                       decay=1e-4, conditional=0.5)),
                "lang d1e-4 cond .5 b1": ("softmax", dict(balance=1.0, by_language=True,
                                                          decay=1e-4, conditional=0.5)),
                "lang d1e-4": ("softmax", dict(balance=0.5, by_language=True, decay=1e-4)),
                "lang d1e-5": ("softmax", dict(balance=0.5, by_language=True, decay=1e-5)),
                "lang b=1 d1e-4": ("softmax", dict(balance=1.0, by_language=True, decay=1e-4)),
                "lang b=.75 d1e-4": ("softmax", dict(balance=0.75, by_language=True,
                                                      decay=1e-4)),
                "lang d1e-4 tail 0": ("softmax", dict(balance=0.5, by_language=True,
                                                      decay=1e-4, tail=0.0)),
                "softmax b=0.5 lang sqrt tail .3": ("softmax", dict(
                    balance=0.5, by_language=True, root=True, tail=0.3))}
    if only:
        variants = {k: v for k, v in variants.items() if k in only.split(",")}
    sums: dict[str, list] = {v: [] for v in variants}
    for f in range(n):
        test = [repos[i] for i in order[f::n]]
        trainset = [repos[i] for i in order if i not in set(order[f::n])]
        res = {}
        for name, how in variants.items():
            if how is None:
                key = "role14"
            else:
                if how == "untrained":
                    mat = hand_matrix()
                    mat = np.vstack([mat, np.eye(mat.shape[1])[mat.shape[0]:] * 0.5])
                elif isinstance(how, tuple):
                    mat = train_softmax(trainset, **how[1])
                else:
                    mat = train(trainset, diagonal=how == "diagonal")
                key = "v_" + name
                for r in test:
                    r[key] = project(r["raw"], mat)
            res[name] = evaluate(test, key, k, np.random.default_rng(0))
            sums[name].append(score(res[name]))
        res["degree"] = evaluate(test, "degree", k, np.random.default_rng(0))
        print(f"\nfold {f + 1}/{n}: {', '.join(r['name'] for r in test)}\n"
              + table(res, k), flush=True)
    print("\nmean over folds (worst role with >= 10 queries, overall):")
    means = {}
    for name, v in sums.items():
        means[name] = tuple(float(x) for x in np.mean(v, axis=0))
        print(f"  {name}: {means[name][0]:.3f}, {means[name][1]:.3f}")
    return {name: (means[name], variants[name]) for name in variants}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="folder of clones")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--folds", type=int, default=0)
    ap.add_argument("--variants", help="a comma list of the fold variants to run")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    names = corpus("train48")
    repos = [with_features(repo_data(args.corpus / name, args.cache)) for _g, name, _u in names]
    print(f"train48: {len(repos)} repositories, {sum(len(r['paths']) for r in repos)} files, "
          f"{sum(int((r['labels'] != '').sum()) for r in repos)} with a role label", flush=True)
    chosen, settings, fold_score = "default", CHOSEN, None
    if args.folds:
        got = folds(repos, args.folds, only=args.variants)
        soft = {k: v for k, v in got.items() if isinstance(v[1], tuple)}
        if soft:  # the softmax variant with the best mean overall precision on the folds
            chosen = max(soft, key=lambda k: soft[k][0][1])
            settings, fold_score = soft[chosen][1][1], soft[chosen][0]
            print(f"chosen on the folds: {chosen} {settings}")
    if args.write:
        from graph_jobs.roles.role_weights import write

        m = train_softmax(repos, **settings)
        write(m, {"model": "softmax regression per language family + issue 14's structure "
                           "(bench/train_role_weights.py)", "variant": chosen,
                  "settings": settings, "seed": SEED,
                  **({"folds": args.folds, "fold_precision_worst_overall": fold_score}
                     if fold_score else {}),
                  "trained_on": [u for _g, _n, u in names]})
        print("wrote graph_jobs/roles/role_weights.json")


if __name__ == "__main__":
    main()
