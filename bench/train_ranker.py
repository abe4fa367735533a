"""Train the learned ranker of related files from repositories' own histories.

    python bench/train_ranker.py --clones DIR [--corpus bench/ranker_corpus.txt]
        [--cache /tmp/pharos-ranker/cache] [--folds 6] [--out graph_jobs/relations/ranker_model.json]

``--corpus``: one public repository a line, ``URL [folder]``; ``--clones``: a folder
holding a clone with full history of each (``DIR/<folder>``, default folder the
repository's name). For each repository:

1. **The outer cut** at ``--cut`` (70% of its non-merge commits, as
   ``relevance_bench.py`` cuts): a clone of the cut commit and its ancestors only. Nothing
   later is read: everything below comes from that clone.
2. **The inner cut** at ``--inner`` (70%) of the outer clone's own commits, and a clone of
   that. ``run_ingest`` of the inner clone; for each file changed in a commit between the
   inner and the outer cut (commits of at most 30 files, with two files of the graph or
   more; at most 120 of them, a seeded sample), the candidates ``related_files`` would
   rank and their features
   (``graph_jobs.relations.ranker_features.pair_features``: the product's function).
3. **Labels**: how many of those commits changed the query and the candidate together
   (0 to 3).

``--inner 0.5,0.7,0.85`` (the shipped model's) makes one inner cut of each fraction; the
repository's training groups are theirs together (a cut that fails is skipped alone). The
ingest of each cut is kept under ``--cache`` (a folder per cut): when
``ranker_features.VERSION`` changes, the candidates and features are read again from the
cut's own kept store, nothing re-ingested (a cache made before the folders were per cut
holds the last cut's store alone: the other cuts are ingested again).

LightGBM ``lambdarank`` (one query a group; NDCG@10) on the pairs of every repository,
exported as trees (``graph_jobs.relations.learned_ranker``; the export is checked against
LightGBM's own predictions). ``--folds N`` first scores leave-repositories-out folds: the
repositories split into N folds (by language, seeded), each fold's repositories ranked by
a model trained on the others and scored as ``relevance_bench.py`` scores (same cut, same
truth, same cache), with 95% bootstrap intervals. Every step is cached under ``--cache``:
a repository is never computed twice.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import relevance_bench as rb  # noqa: E402

# chosen by --inner-cv (4 folds over the training corpus, training labels alone):
# num_leaves 7 / 15 / 31 (31: 500 rounds at 0.03) -> recall@10 0.745 / 0.740 / 0.738
PARAMS = {"objective": "lambdarank", "metric": "ndcg", "eval_at": [10],
          "learning_rate": 0.05, "num_leaves": 7, "min_data_in_leaf": 50,
          "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1,
          "lambdarank_truncation_level": 20, "verbose": -1, "deterministic": True,
          "force_row_wise": True, "seed": 0, "num_threads": 2}
ROUNDS = 300


def read_corpus(path: Path) -> list[tuple[str, str]]:
    """``[(url, folder)]`` of a corpus list (comments and blank lines skipped)."""
    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        url, *rest = line.split()
        out.append((url, rest[0] if rest else url.rstrip("/").rsplit("/", 1)[-1]))
    return out


def training_data(path: Path, cache: Path, fraction: float = 0.7, inner: float = 0.7,
                  max_future_files: int = 30) -> dict:
    """One repository's training groups (see the module doc), cached."""
    outer_sha, _ = rb.cut_commit(path, fraction)
    out = rb.cache_path(cache, f"train{inner}", path.name, outer_sha)
    if out.exists():
        d = pickle.loads(out.read_bytes())
        if d.get("features_version") == rb.features_version():
            return d
        # the ingest is kept: re-featurize from it, when it is this cut's (before each cut
        # had its own folder, the cuts of a repository shared one and the last one built
        # held it; the others are ingested again)
        if kept_ingest(d):
            d["groups"] = groups_of(rb.refeaturize(d["store"], d["repo_url"], d["asked"]),
                                    d["commits"])
            d["features_version"] = rb.features_version()
            out.write_bytes(pickle.dumps(d))
            return d
        print(f"{path.name}: inner cut {inner}: its kept ingest is another cut's; "
              "ingested again", flush=True)
    work = cache / "work" / f"train{inner}-{path.name}-{outer_sha[:12]}"
    if work.exists():
        subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    d = build_training(path, work, outer_sha, inner, max_future_files)
    out.write_bytes(pickle.dumps(d))
    return d


def kept_ingest(d: dict) -> bool:
    """Whether ``d``'s kept store (SQLite, read as it is) holds the ingest of ``d``'s own
    inner cut."""
    import sqlite3

    db = Path(d["store"]) / "pharos.sqlite3"
    if not db.exists():
        return False
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT last_commit FROM repositories WHERE url = ?",
                          (d["repo_url"],)).fetchone()
    finally:
        con.close()
    return row is not None and row[0] == d["inner"]


def build_training(path: Path, work: Path, outer_sha: str, inner: float,
                   max_future_files: int, max_asked: int = 120) -> dict:
    t0 = time.perf_counter()
    outer = rb.clone_at(path, outer_sha, work / "outer")
    inner_sha, n = rb.cut_commit(outer, inner)
    clone = rb.clone_at(outer, inner_sha, work / "inner")
    stores, res = rb.ingest(clone, work / "store")
    files = {f["path"] for f in stores.metadata.repository_files(res.repo_url)}
    commits = rb.commit_sets(outer, inner_sha, files, max_future_files)
    asked = rb.sample_asked(sorted({f for c in commits for f in c}), max_asked,
                            f"{path.name}:{inner_sha}")
    feats = rb.candidate_features(stores, res.repo_url, asked)
    rb.close(stores)
    return {"name": path.name, "outer": outer_sha, "inner": inner_sha,
            "outer_commits": n, "label_commits": len(commits), "files": len(files),
            "groups": groups_of(feats, commits), "features_version": rb.features_version(),
            "store": str(work / "store"), "repo_url": res.repo_url, "asked": asked,
            "commits": commits, "seen": sorted(rb.reachable(outer) | rb.reachable(clone)),
            "seconds": time.perf_counter() - t0}


def groups_of(feats: dict, commits: list[list[str]]) -> list[tuple]:
    """``(query, candidates, features, labels)`` per query with a right candidate; the
    label: how many of ``commits`` changed both (0 to 3)."""
    together: dict[tuple[str, str], int] = {}
    for c in commits:
        for a in c:
            for b in c:
                if a != b:
                    together[a, b] = together.get((a, b), 0) + 1
    groups = []
    for q, (names, x) in feats.items():
        y = np.array([min(3, together.get((q, c), 0)) for c in names], dtype=np.int32)
        if y.any():
            groups.append((q, names, x, y))
    return groups


def train(datas: list[dict], params: dict | None = None, rounds: int = ROUNDS,
          name: str = "model", drop: tuple[str, ...] = ()) -> dict:
    """A LightGBM lambdarank model on ``datas``' groups, as a ``learned_ranker`` dict."""
    import lightgbm as lgb

    from graph_jobs.relations import learned_ranker
    from graph_jobs.relations.ranker_features import FEATURES

    xs, ys, sizes = [], [], []
    for d in datas:
        for _q, _names, x, y in d["groups"]:
            xs.append(x)
            ys.append(y)
            sizes.append(len(y))
    x, y = np.vstack(xs), np.concatenate(ys)
    if drop:  # an ablation: these features read as constants, so no tree splits on them
        x = x.copy()
        x[:, [FEATURES.index(f) for f in drop]] = 0.0
    ds = lgb.Dataset(x, y, group=sizes, feature_name=list(FEATURES), free_raw_data=False)
    booster = lgb.train({**PARAMS, **(params or {})}, ds, num_boost_round=rounds)
    model = learned_ranker.to_dict(booster, name)
    check = learned_ranker.LearnedRanker.from_dict(model)
    sample = x[:: max(1, len(x) // 5000)]
    diff = np.abs(check.score(sample) - booster.predict(sample)).max()
    if diff > 1e-6:
        raise SystemExit(f"the exported trees disagree with LightGBM ({diff:g})")
    model["trained_on"] = sorted(d["name"] for d in datas)
    model["pairs"], model["queries"] = int(len(y)), len(sizes)
    return model


def inner_recall(datas: list[dict], model) -> float:
    """Mean over repositories of recall@10 on their training groups (the commits between
    the inner and the outer cut), ranked by ``model`` (``None``: the hand weights)."""
    from graph_jobs.relations.ranker_features import FEATURES

    per = []
    for d in datas:
        got = []
        for _q, names, x, y in d["groups"]:
            s = x[:, FEATURES.index("hand_score")] if model is None else model.score(x)
            order = sorted(range(len(names)), key=lambda i: (-s[i], names[i]))[:10]
            got.append(sum(1 for i in order if y[i] > 0) / min(10, int((y > 0).sum())))
        if got:
            per.append(float(np.mean(got)))
    return float(np.mean(per)) if per else float("nan")


def inner_cv(datas: dict[str, dict], lang: dict[str, str], n: int, configs: dict) -> dict:
    """Leave-repositories-out folds on the training labels alone (no outer future is
    read): recall@10 of each configuration, to choose one before any evaluation."""
    from graph_jobs.relations.learned_ranker import LearnedRanker

    folds = folds_of(sorted(datas), lang, n)
    out = {"hand": float(np.mean([inner_recall([datas[r] for r in f], None) for f in folds]))}
    for name, (params, rounds) in configs.items():
        vals = []
        for f in folds:
            m = LearnedRanker.from_dict(train([datas[r] for r in datas if r not in f],
                                              params, rounds))
            vals.append(inner_recall([datas[r] for r in f], m))
        out[name] = float(np.mean(vals))
        print(f"inner cv {name}: {out[name]:.4f} (hand {out['hand']:.4f})", flush=True)
    return out


def folds_of(names: list[str], lang: dict[str, str], n: int, seed: int = 0) -> list[list[str]]:
    """``n`` folds, each language's repositories dealt round the folds (seeded)."""
    rng = random.Random(seed)
    by_lang: dict[str, list[str]] = {}
    for r in names:
        by_lang.setdefault(lang.get(r, ""), []).append(r)
    folds: list[list[str]] = [[] for _ in range(n)]
    i = 0
    for key in sorted(by_lang):
        group = sorted(by_lang[key])
        rng.shuffle(group)
        for r in group:
            folds[i % n].append(r)
            i += 1
    return folds


def languages(corpus: Path) -> dict[str, str]:
    lang, cur = {}, ""
    for line in corpus.read_text().splitlines():
        s = line.strip()
        if s.startswith("#"):
            cur = s[1:].strip() if len(s.split()) == 2 else cur
            continue
        if s:
            url, *rest = s.split()
            lang[rest[0] if rest else url.rsplit("/", 1)[-1]] = cur
    return lang


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clones", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, default=ROOT / "bench" / "ranker_corpus.txt")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/pharos-ranker/cache"))
    ap.add_argument("--cut", type=float, default=0.7)
    ap.add_argument("--inner", default="0.7",
                    help="the inner cut(s), comma-separated: each one's labels and features "
                         "are groups of the repository's training data")
    ap.add_argument("--folds", type=int, default=0)
    ap.add_argument("--params", type=json.loads, default=None,
                    help="JSON overrides of the LightGBM parameters")
    ap.add_argument("--rounds", type=int, default=ROUNDS)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--out", type=Path,
                    default=ROOT / "graph_jobs" / "relations" / "ranker_model.json")
    ap.add_argument("--no-write", action="store_true", help="folds only; no final model")
    ap.add_argument("--folds-out", type=Path, help="the folds' figures as JSON")
    ap.add_argument("--cached-only", action="store_true",
                    help="score the folds on the repositories already in the cache only")
    ap.add_argument("--label", choices=("count", "binary"), default="count",
                    help="a pair's label: commits together (0-3), or whether any")
    ap.add_argument("--drop", default="",
                    help="features (comma-separated) the model may not read: an ablation")
    ap.add_argument("--inner-cv", type=json.loads, default=None,
                    help='choose: {"name": [{lightgbm params}, rounds], ...} scored by '
                         "leave-repositories-out folds on the training labels alone")
    args = ap.parse_args()

    args.cache.mkdir(parents=True, exist_ok=True)
    corpus = read_corpus(args.corpus)
    drop = tuple(f for f in args.drop.split(",") if f)
    datas: dict[str, dict] = {}
    for _url, folder in corpus:
        path = args.clones / folder
        t0 = time.perf_counter()
        cuts = []
        for inner in args.inner.split(","):
            try:
                cuts.append(training_data(path, args.cache, args.cut, float(inner)))
            except (subprocess.CalledProcessError, SystemExit) as exc:
                print(f"{folder}: inner cut {inner} SKIPPED ({exc})", flush=True)
        if not cuts:
            continue
        d = {**cuts[0], "groups": [g for c in cuts for g in c["groups"]],
             "label_commits": sum(c["label_commits"] for c in cuts)}
        datas[folder] = d
        print(f"{folder}: {d['files']} files, {d['label_commits']} label commits, "
              f"{len(d['groups'])} queries ({time.perf_counter() - t0:.1f}s)", flush=True)

    if args.label == "binary":
        for d in datas.values():
            d["groups"] = [(q, ns, x, (y > 0).astype(np.int32)) for q, ns, x, y in d["groups"]]

    if args.inner_cv:
        inner_cv(datas, languages(args.corpus), args.folds or 6,
                 {k: (v[0], v[1]) for k, v in args.inner_cv.items()})
        return

    if args.folds:
        from graph_jobs.relations.learned_ranker import LearnedRanker

        folds = folds_of(sorted(datas), languages(args.corpus), args.folds)
        results = {}
        for i, fold in enumerate(folds):
            model = LearnedRanker.from_dict(train([datas[r] for r in datas if r not in fold],
                                                  args.params, args.rounds, f"fold{i}",
                                                  drop))
            for r in fold:
                if args.cached_only and not rb.cache_path(
                        args.cache, "eval", r, rb.cut_commit(args.clones / r, args.cut)[0]
                ).exists():
                    continue
                ev = rb.extract(args.clones / r, args.cache, args.cut)
                if not ev["queries"]:
                    continue
                results[r] = {"info": {**ev["info"], "fold": i},
                              "scores": rb.protocols(ev, rb.BASELINES + rb.PHAROS, model)}
            print(f"fold {i}: {', '.join(fold)}", flush=True)
        fig = rb.summarize(results, rb.BASELINES + rb.PHAROS, args.boot)
        print("\nleave-repositories-out folds over the training corpus")
        rb.report(fig, rb.BASELINES + rb.PHAROS)
        if args.folds_out:
            fig["folds"] = folds
            args.folds_out.write_text(json.dumps(fig, indent=1))

    if not args.no_write:
        model = train(list(datas.values()), args.params, args.rounds, "train48", drop)
        args.out.write_text(json.dumps(model, separators=(",", ":")))
        print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, "
              f"{len(model['trees'])} trees, {model['queries']} queries, "
              f"{model['pairs']} pairs from {len(datas)} repositories)")


if __name__ == "__main__":
    main()
