"""How far the navigation target (hit@3 >= 0.80) is from what the signals can reach.

    python bench/navigation_ceiling.py PATH [PATH ...] --cache DIR [--model FILE]

Reads the evaluations ``relevance_bench.py`` left under ``--cache`` (nothing is computed
again) and, for every navigation question (a file of a future commit asks; the rest of
that commit is the answer; repositories of at least 50 files, as the bench's mean),
sorts it into what Pharos's candidates know about its right answers:

- **not in the pool**: no right answer is among the candidates ``related_files`` ranks
  (no order of the pool can answer it);
- **no tie**: some right answer is a candidate, but none has a past co-change, an import
  either way, a test pair, shared identifier words, shared path words or the same
  folder with the asking file (only the vectors and the graph walks put it there);
- **only shared words or folder**: some right answer shares identifier or path words or
  the folder with it, none has a stronger tie;
- **a past co-change, an import or a test pair** with some right answer.

For each kind: the share of questions and the shipped model's hit@3 on them, and the
hit@3 a perfect order of the pool would reach (1 where a right answer is a candidate).
Means over repositories, as the bench's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import relevance_bench as rb  # noqa: E402

STRONG = ("cochange_commits", "imports", "imported_by", "test_pair")
WEAK = ("words", "path_words", "same_folder")
KINDS = ("not in the pool", "no tie", "only shared words or folder",
         "a past co-change, an import or a test pair")


def kinds_of(d: dict, model, tied: list[int] | None = None) -> dict[str, list[float]]:
    """Per kind, the model's hit@3 of each navigation question of ``d``; ``tied`` gets,
    for each question with a strong tie to a right answer, how many candidates have a
    strong tie to the asking file."""
    from graph_jobs.relations.ranker_features import FEATURES

    strong = [FEATURES.index(f) for f in STRONG]
    weak = [FEATURES.index(f) for f in WEAK if f in FEATURES]
    asked = set(d.get("asked") or {f for c in d["commits"] for f in c})  # as the bench
    out: dict[str, list[float]] = {k: [] for k in KINDS}
    for c in d["commits"]:
        for q in c:
            if q not in asked:
                continue
            if q not in d["features"]:  # no vector: the bench counts a miss
                out[KINDS[0]].append(0.0)
                continue
            names, x = d["features"][q]
            truth = set(c) - {q}
            right = [i for i, n in enumerate(names) if n in truth]
            top = rb.top_k(d, q, "pharos", model)
            hit = float(any(f in truth for f in top[:3]))
            if not right:
                kind = KINDS[0]
            elif (x[np.ix_(right, strong)] > 0).any():
                kind = KINDS[3]
                if tied is not None:
                    tied.append(int((x[:, strong] > 0).any(axis=1).sum()))
            elif (x[np.ix_(right, weak)] > 0).any():
                kind = KINDS[2]
            else:
                kind = KINDS[1]
            out[kind].append(hit)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--cut", type=float, default=0.7)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--min-files", type=int, default=50)
    args = ap.parse_args()

    from graph_jobs.relations import learned_ranker

    model = learned_ranker.load(args.model)
    if model is None:
        raise SystemExit("no learned model to score with")
    per_repo, tied = [], []
    for path in args.paths:
        try:
            sha, _ = rb.cut_commit(path, args.cut)
        except SystemExit:
            continue
        pkl = rb.cache_path(args.cache, "eval", path.name, sha)
        if not pkl.exists():
            print(f"{path.name}: not in the cache, left out")
            continue
        import pickle

        d = pickle.loads(pkl.read_bytes())
        if d["info"]["files"] < args.min_files:
            continue
        if d.get("features_version") != rb.features_version():
            print(f"{path.name}: cached with other features, left out")
            continue
        k = kinds_of(d, model, tied)
        n = sum(len(v) for v in k.values())
        if n:
            per_repo.append((path.name, n, k))
    print(f"{len(per_repo)} repositories of >= {args.min_files} files")
    print("| questions | share (mean over repositories) | pharos hit@3 on them | "
          "perfect order of the pool |")
    print("|---|---|---|---|")
    for kind in KINDS:
        share = np.mean([len(k[kind]) / n for _r, n, k in per_repo])
        hits = [np.mean(k[kind]) for _r, _n, k in per_repo if k[kind]]
        best = 0.0 if kind == KINDS[0] else 1.0
        print(f"| {kind} | {share:.3f} | {np.mean(hits) if hits else float('nan'):.3f} | "
              f"{best:.0f} |")
    overall = np.mean([np.mean([h for v in k.values() for h in v]) for _r, _n, k in per_repo])
    ceiling = np.mean([1 - len(k[KINDS[0]]) / n for _r, n, k in per_repo])
    print(f"pharos hit@3 {overall:.3f}; a perfect order of the pool {ceiling:.3f}")
    right = [h for _r, _n, k in per_repo for h in k[KINDS[3]]]
    print(f"questions with a strong tie to a right answer: candidates with a strong tie to "
          f"the asking file, median {np.median(tied):.0f} (quartiles "
          f"{np.percentile(tied, 25):.0f}-{np.percentile(tied, 75):.0f}); pooled hit@3 "
          f"{np.mean(right):.3f}")


if __name__ == "__main__":
    main()
