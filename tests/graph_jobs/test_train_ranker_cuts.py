"""bench/train_ranker.py: each inner cut of a repository keeps its own ingest, and a change
of the features' version re-featurizes each cut from its own (issue 26, third pass: the
cuts once shared one folder, so the last cut built held it and the earlier cuts were
re-featurized from a later cut, whose history reaches into their labels)."""

from __future__ import annotations

import pickle
import sys

import numpy as np

from tests.graph_jobs.test_learned_ranker import history  # noqa: F401 - the fixture
from tests.support.bench_modules import bench_module


def test_each_inner_cut_keeps_its_own_ingest(history, tmp_path):  # noqa: F811
    tr = bench_module("train_ranker")
    rb = sys.modules["relevance_bench"]
    cache = tmp_path / "cache"
    a = tr.training_data(history, cache, 0.7, 0.5)
    b = tr.training_data(history, cache, 0.7, 0.6)
    assert a["inner"] != b["inner"] and a["store"] != b["store"]
    assert tr.kept_ingest(a) and tr.kept_ingest(b)
    out = rb.cache_path(cache, "train0.5", history.name, a["outer"])
    d = pickle.loads(out.read_bytes())
    d["features_version"] = -1  # as after a change of the features
    out.write_bytes(pickle.dumps(d))
    again = tr.training_data(history, cache, 0.7, 0.5)
    assert again["features_version"] == rb.features_version()
    assert [g[0] for g in again["groups"]] == [g[0] for g in a["groups"]]
    for g, h in zip(again["groups"], a["groups"], strict=True):
        assert g[1] == h[1]
        np.testing.assert_allclose(g[2], h[2])


def test_a_cut_whose_kept_store_is_another_cuts_is_ingested_again(history, tmp_path):  # noqa: F811
    """A cache made when the cuts shared a folder: the earlier cut's pickle names the
    store the later cut overwrote; it is not re-featurized from it but ingested again."""
    tr = bench_module("train_ranker")
    rb = sys.modules["relevance_bench"]
    cache = tmp_path / "cache"
    a = tr.training_data(history, cache, 0.7, 0.5)
    b = tr.training_data(history, cache, 0.7, 0.6)
    out = rb.cache_path(cache, "train0.5", history.name, a["outer"])
    d = pickle.loads(out.read_bytes())
    d["features_version"], d["store"] = -1, b["store"]  # the old layout's pointer
    out.write_bytes(pickle.dumps(d))
    assert not tr.kept_ingest(d)
    again = tr.training_data(history, cache, 0.7, 0.5)
    assert again["store"] != b["store"] and tr.kept_ingest(again)
    for g, h in zip(again["groups"], a["groups"], strict=True):
        np.testing.assert_allclose(g[2], h[2])
