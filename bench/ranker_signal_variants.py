"""New signals for the learned ranker, tried on the training corpus's folds before any
product change (issue 26, fourth pass).

    python bench/ranker_signal_variants.py --clones DIR --cache DIR
        [--variants base,msg,path,created,all] [--folds 4] [--out variants.json]

Reads what ``bench/train_ranker.py`` (``--inner 0.5,0.7,0.85``) and its ``--folds`` left
under ``--cache``: each cut's training groups and the outer cut's evaluation, and the
clone each was built from (kept in the cache's work folders). Nothing is ingested again.
From each cut's own clone (its past only; nothing later is reachable in it) this script
computes signals the store does not keep, appends them to the cached feature rows, and
scores variants by leave-repositories-out folds exactly as ``train_ranker.py --folds``
does (same folds, same LightGBM settings, the same scoring as ``relevance_bench.py``):

- ``msg``: the words of the commit messages that touched each file (subject and body,
  lower-cased words of 3 letters or more and ``#123`` references; commits of at most 30
  files), TF-IDF (sublinear tf, idf over files, a word of one file weighs nothing),
  cosine between query and candidate (``x_msg_words``) and its rank among the candidates
  (``x_msg_rank``): files changed for the same reasons, whether or not together;
- ``path``: TF-IDF cosine of the words of the two paths (folders and file name, split at
  ``_ - .`` and case) (``x_path_words``);
- ``pr``: co-change by pull request: the merges of the first-parent line, each as the
  files its first-parent diff names (at most 50), and for a pair the number of merges
  that changed both (``x_pr_cochange``, log) and that number over the query's merges
  (``x_pr_conf``): a branch's commits changed together even when no one commit did;
- ``created``: days between the first commits of query and candidate (``x_created_gap``)
  and the candidate's age since its first commit (``x_cand_created_age``): files born with
  one feature.

A variant is the shipped features plus the named extra columns; ``base`` has none of
them (the extra columns read as constants, so no tree splits on them, as
``train_ranker.py --drop`` does).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import pickle
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import relevance_bench as rb  # noqa: E402
import train_ranker as tr  # noqa: E402

from graph_jobs.history.git_log import read_commits  # noqa: E402

# named x_* so that none collides with a feature the product has since taken up
# (path words became ranker_features' version 3 after this bench's run)
EXTRA = ("x_msg_words", "x_msg_rank", "x_path_words", "x_created_gap", "x_cand_created_age",
         "x_pr_cochange", "x_pr_conf")
GROUPS = {"msg": ("x_msg_words", "x_msg_rank"), "path": ("x_path_words",),
          "created": ("x_created_gap", "x_cand_created_age"),
          "pr": ("x_pr_cochange", "x_pr_conf")}
EXTRAS_VERSION = 1  # of clone_signals: cached signals made with another are redone
MAX_PR_FILES = 50
DAY = 86_400.0
MAX_FILES = 30
_WORD = re.compile(r"#\d+|[a-z][a-z0-9]{2,}")
_STOP = frozenset(re.findall(r"\w+", """
    the and for with from this that into when not are was were has have but also all use
    used using add adds added fix fixes fixed update updates updated remove removed make
    makes change changes changed signed off authored some more can now only its"""))
_PART = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def _tfidf(bags: dict[str, Counter], files: list[str]):
    """Unit rows of sublinear TF-IDF (idf over ``files``; a word of one file weighs 0)."""
    import scipy.sparse as sp

    vocab: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for i, f in enumerate(files):
        for w, c in bags.get(f, {}).items():
            rows.append(i)
            cols.append(vocab.setdefault(w, len(vocab)))
            vals.append(1.0 + math.log(c))
    n = len(files)
    x = sp.csr_matrix((vals, (rows, cols)), shape=(n, max(1, len(vocab))))
    df = np.bincount(x.indices, minlength=x.shape[1])
    idf = np.log(n / np.maximum(df, 1))
    idf[df < 2] = 0.0
    x = (x @ sp.diags(idf)).tocsr()
    norm = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    return (sp.diags(1.0 / np.where(norm > 0, norm, 1.0)) @ x).tocsr()


def _path_words(path: str) -> Counter:
    p = PurePosixPath(path)
    parts = [*p.parts[:-1], p.name.split(".", 1)[0]]
    out: Counter = Counter()
    for part in parts:
        for piece in re.split(r"[_\-.\s]+", part):
            for w in _PART.findall(piece):
                if len(w) >= 2 and not w.isdigit():
                    out[w.lower()] += 1
    return out


def clone_signals(clone: Path, cache: Path) -> dict:
    """Per file of ``clone``'s HEAD: message-word rows, path-word rows, first commit."""
    head = rb.git(clone, "rev-parse", "HEAD").strip()
    key = hashlib.sha1(f"{clone.resolve()}:{head}:{EXTRAS_VERSION}".encode()).hexdigest()[:16]
    out = cache / "extras" / f"{key}.pkl"
    if out.exists():
        return pickle.loads(out.read_bytes())
    files = rb.git(clone, "ls-files", "-z").split("\0")
    files = [f for f in files if f]
    commits = read_commits(clone, exact_renames_only=False)  # newest first
    raw = subprocess.run(["git", "-C", str(clone), "log", "--no-merges", "--format=%x01%H%x02%B"],
                         capture_output=True, check=True).stdout.decode("utf-8", "replace")
    msgs = {}
    for chunk in raw.split("\x01")[1:]:
        sha, _, body = chunk.partition("\x02")
        msgs[sha.strip()] = body
    known = set(files)
    fwd: dict[str, str] = {}  # a name in an older commit -> its name at HEAD
    bags: dict[str, Counter] = defaultdict(Counter)
    first: dict[str, int] = {}
    for c in commits:
        names = set()
        for status, path, old in c.changes:
            cur = fwd.get(path, path)
            names.add(cur)
            if status.startswith("R") and old:
                fwd[old] = cur
        names &= known
        for n in names:
            first[n] = c.time  # the oldest one wins: the walk goes back in time
        if len(c.changes) <= MAX_FILES and names:
            words = Counter(w for w in _WORD.findall(msgs.get(c.sha, "").lower())
                            if w not in _STOP)
            for n in names:
                bags[n].update(words)
    raw = subprocess.run(["git", "-C", str(clone), "log", "--merges", "--first-parent",
                          "--diff-merges=first-parent", "--name-only", "-z",
                          "--format=%x01%H"], capture_output=True, check=True).stdout
    prs: dict[str, set[int]] = defaultdict(set)
    for k, chunk in enumerate(raw.decode("utf-8", "replace").split("\x01")[1:]):
        paths = (p.strip("\n") for p in chunk.split("\0")[1:])
        names = {fwd.get(p, p) for p in paths if p} & known
        if 2 <= len(names) <= MAX_PR_FILES:
            for n in names:
                prs[n].add(k)
    d = {"prs": dict(prs), "files": files, "index": {f: i for i, f in enumerate(files)},
         "msg": _tfidf(bags, files), "path": _tfidf({f: _path_words(f) for f in files}, files),
         "first": first, "head_time": commits[0].time if commits else 0}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pickle.dumps(d))
    return d


def extra_columns(sig: dict, query: str, names: list[str]) -> np.ndarray:
    n = len(names)
    x = np.zeros((n, len(EXTRA)))
    idx = sig["index"]
    qi = idx.get(query)
    ci = np.array([idx.get(p, -1) for p in names])
    ok = ci >= 0
    if qi is not None and ok.any():
        for col, mat in ((0, sig["msg"]), (2, sig["path"])):
            sims = np.asarray((mat[ci[ok]] @ mat[qi].T).todense()).ravel()
            x[ok, col] = sims
    v = x[:, 0]
    present = v > 0
    vp = np.sort(v[present])
    r = np.where(present, len(vp) - np.searchsorted(vp, v, "right"), len(vp))
    x[:, 1] = np.log1p(r)
    first, head = sig["first"], sig["head_time"]
    qf = first.get(query)
    for i, p in enumerate(names):
        cf = first.get(p)
        x[i, 3] = math.log1p(abs(qf - cf) / DAY) if qf and cf else 10.0
        x[i, 4] = math.log1p(max(0.0, head - cf) / DAY) if cf else 0.0
    q_prs = sig.get("prs", {}).get(query, set())
    if q_prs:
        for i, p in enumerate(names):
            both = len(q_prs & sig["prs"].get(p, set()))
            x[i, 5] = math.log1p(both)
            x[i, 6] = both / len(q_prs)
    return x


def extend(x: np.ndarray, sig: dict, query: str, names: list[str]) -> np.ndarray:
    return np.hstack([x, extra_columns(sig, query, names)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clones", type=Path, required=True)
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--corpus", type=Path, default=ROOT / "bench" / "ranker_corpus.txt")
    ap.add_argument("--inner", default="0.5,0.7,0.85")
    ap.add_argument("--variants", default="base,msg,path,created,pr,all")
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--params", type=json.loads, default=None)
    ap.add_argument("--boot", type=int, default=300)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    import graph_jobs.relations.learned_ranker as lr
    import graph_jobs.relations.ranker_features as rf

    base_features = rf.FEATURES
    rf.FEATURES = lr.FEATURES = base_features + EXTRA

    datas: dict[str, dict] = {}
    evals: dict[str, dict] = {}
    for _url, folder in tr.read_corpus(args.corpus):
        path = args.clones / folder
        groups, cuts = [], 0
        for inner in args.inner.split(","):
            try:
                outer_sha, _ = rb.cut_commit(path, 0.7)
            except (subprocess.CalledProcessError, SystemExit):
                break
            pkl = rb.cache_path(args.cache, f"train{inner}", folder, outer_sha)
            if not pkl.exists():
                continue
            d = pickle.loads(pkl.read_bytes())
            if d.get("features_version") != rf.VERSION or not tr.kept_ingest(d):
                print(f"{folder} {inner}: not this version's, or not its own ingest: left out")
                continue
            clone = (args.cache / "work" / f"train{inner}-{folder}-{outer_sha[:12]}" / "inner")
            sig = clone_signals(clone, args.cache)
            groups += [(q, ns, extend(x, sig, q, ns), y) for q, ns, x, y in d["groups"]]
            cuts += 1
        if not cuts:
            continue
        ev_pkl = rb.cache_path(args.cache, "eval", folder, outer_sha)
        if not ev_pkl.exists():
            print(f"{folder}: no evaluation in the cache: left out")
            continue
        ev = pickle.loads(ev_pkl.read_bytes())
        sig = clone_signals(Path(ev["clone"]), args.cache)
        ev["features"] = {q: (ns, extend(x, sig, q, ns)) for q, (ns, x) in ev["features"].items()}
        datas[folder] = {"name": folder, "groups": groups}
        evals[folder] = ev
        print(f"{folder}: {cuts} cuts, {len(groups)} groups, {len(ev['queries'])} queries",
              flush=True)

    from graph_jobs.relations.learned_ranker import LearnedRanker

    folds = tr.folds_of(sorted(datas), tr.languages(args.corpus), args.folds)
    methods = rb.BASELINES + rb.PHAROS
    table = {}
    for variant in args.variants.split(","):
        keep = set() if variant == "base" else (
            set(EXTRA) if variant == "all" else
            {c for g in variant.split("+") for c in GROUPS[g]})
        drop = tuple(c for c in EXTRA if c not in keep)
        results = {}
        for i, fold in enumerate(folds):
            model = LearnedRanker.from_dict(tr.train(
                [datas[r] for r in datas if r not in fold], args.params, tr.ROUNDS,
                f"fold{i}", drop))
            for r in fold:
                ev = evals[r]
                if ev["queries"]:
                    results[r] = {"info": {**ev["info"], "fold": i},
                                  "scores": rb.protocols(ev, methods, model)}
        fig = rb.summarize(results, methods, args.boot)
        s = fig["summary"]
        per = {r: fig["per_repository"][r]["pairs"]["pharos"]["r@10"] for r in results}
        table[variant] = {"r@10": s["pairs"]["pharos"]["r@10"],
                          "rrf": s["pairs"]["rrf"]["r@10"],
                          "hand": s["pairs"]["pharos-hand"]["r@10"],
                          "ratio": fig["ratio"], "best": fig["best_baseline"],
                          "nav_hit3": s["navigation"]["pharos"]["hit@3"],
                          "prev_r10": s["prevention"]["pharos"]["r@10"],
                          "repos": len(results), "per_repository": per}
        t = table[variant]
        print(f"{variant}: recall@10 {t['r@10']:.4f} ({t['ratio']:.3f}x {t['best']}), "
              f"nav hit@3 {t['nav_hit3']:.3f}, prevention {t['prev_r10']:.3f}, "
              f"hand {t['hand']:.4f}, {t['repos']} repositories", flush=True)
    if "base" in table:
        b = table["base"]["per_repository"]
        for v, t in table.items():
            if v == "base":
                continue
            d = np.array([t["per_repository"][r] - b[r] for r in b])
            rng = np.random.default_rng(0)
            boots = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(1000)]
            print(f"{v} - base: {d.mean():+.4f} ({np.percentile(boots, 2.5):+.4f} to "
                  f"{np.percentile(boots, 97.5):+.4f}), better on {(d > 0).sum()}, "
                  f"worse on {(d < 0).sum()} of {len(d)}")
    if args.out:
        args.out.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
