"""Pool scoring and embedding on a Ray cluster give what the worker computes alone (issue 16)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.datasets import make_classification

from alloop import campaign, distributed
from alloop.distributed.ray_pool import RayPool
from alloop.loop.embedding import embed_round
from alloop.models import build_model
from alloop.loop.snapshot import forget_snapshots, take_snapshot
from alloop.loop.training import train_round
from alloop.schemas import ItemIn, LabelIn, ProjectCreate
from alloop.store.items import import_items
from alloop.store.labels import submit_labels

pytestmark = pytest.mark.slow


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many chunks went to the cluster, by kind."""
    sent = {"outputs": 0, "samples": 0, "encode": 0}
    for kind in sent:
        real = getattr(RayPool, kind)

        def counted(self, *args, _real=real, _kind=kind):
            if _kind == "encode":
                sent[_kind] += 1
                return _real(self, *args)
            chunks = list(args[1])
            sent[_kind] += len(chunks)
            return _real(self, args[0], iter(chunks))

        monkeypatch.setattr(RayPool, kind, counted)
    return sent


def _ranking(store, settings, pid):
    forget_snapshots()
    outcome = train_round(store, settings, take_snapshot(store, pid))
    return outcome.ranking.item_idx.copy(), (None if outcome.ranking.scores is None else outcome.ranking.scores.copy())


@pytest.mark.parametrize("model", [
    {"name": "logistic_regression"},
    {"name": "svm", "params": {"kernel": "linear"}},  # decision mode: margins from the decision function
])
def test_a_100k_pool_ranks_the_same_with_and_without_ray(ray_cluster, store, settings, spy, model):
    X, y = make_classification(n_samples=101_000, n_features=16, n_informative=8, n_classes=3, random_state=0)
    settings = settings.model_copy(update={"score_chunk_rows": 16_384})
    project = campaign.create_project(store, settings, ProjectCreate(
        name="big", labels=["a", "b", "c"], model=model, strategy={"name": "margin"}, dedup="off", seed=3))
    names = np.array(["a", "b", "c"])
    import_items(store, project.id, "pool", [ItemIn(id=i, features=X[i].tolist()) for i in range(100_000)])
    import_items(store, project.id, "eval",
                 [ItemIn(id=i, features=X[i].tolist(), label=str(names[y[i]])) for i in range(100_000, 101_000)])
    submit_labels(store, project.id, [LabelIn(item_id=i, label=str(names[y[i]])) for i in range(0, 3000, 10)], 0.0)

    distributed.use(None)
    here, here_scores = _ranking(store, settings, project.id)
    distributed.use(ray_cluster)
    try:
        there, there_scores = _ranking(store, settings, project.id)
    finally:
        distributed.use(None)
    assert spy["outputs"] == 7  # 99,700 unlabeled rows in chunks of 16,384
    assert here.size == settings.queue_depth
    np.testing.assert_array_equal(there, here)
    np.testing.assert_array_equal(there_scores, here_scores)


def test_a_pool_of_one_chunk_is_scored_here(ray_cluster, store, settings, spy, digits):
    from helpers import store_campaign

    pid = store_campaign(store, settings, digits, pool=300, evals=50)
    X, y = digits
    submit_labels(store, pid, [LabelIn(item_id=i, label=str(y[i])) for i in range(40)], 0.0)
    distributed.use(ray_cluster)
    try:
        _ranking(store, settings, pid)
    finally:
        distributed.use(None)
    assert spy["outputs"] == 0


def test_texts_embed_on_the_cluster_as_they_do_here(ray_cluster, store, settings, spy):
    texts = [f"message {i} about {'cats' if i % 2 else 'the weather'} and item {i * 7}" for i in range(500)]
    vectors = {}
    for where in (None, ray_cluster):
        project = campaign.create_project(store, settings, ProjectCreate(
            name=f"texts {where}", labels=["a", "b"], input="text", dedup="off",
            encoder={"name": "hashing", "params": {"dim": 256}}))
        import_items(store, project.id, "pool", [ItemIn(id=i, text=t) for i, t in enumerate(texts)])
        distributed.use(where)
        try:
            done, apply = embed_round(store, project.id, 1000)
            if where is not None:  # the encoders stay up between batches and leave room for scoring tasks
                model = build_model({"name": "logistic_regression"}, 2, 0)
                X = np.random.default_rng(0).normal(size=(40, 4))
                model.fit(X, np.arange(40) % 2)
                with ThreadPoolExecutor(1) as run:
                    parts = run.submit(distributed.cluster().outputs, model, iter([X[:20], X[20:]])).result(timeout=120)
                np.testing.assert_array_equal(np.concatenate([p for p, _ in parts]), model.predict_proba(X))
        finally:
            distributed.use(None)
        assert done == 500
        store.transact(apply)
        with store.read() as conn:
            rows = [r[0] for r in conn.execute("SELECT row FROM items WHERE project_id = ? ORDER BY idx", (project.id,))]
        from alloop.store.items import feature_file

        with store.read() as conn:
            from alloop.store.projects import get_project

            vectors[where] = np.asarray(feature_file(store, get_project(conn, project.id)).matrix()[rows])
    assert spy["encode"] == 1
    np.testing.assert_array_equal(vectors[ray_cluster], vectors[None])


def test_a_cluster_that_does_not_answer_leaves_the_round_to_the_worker(store, settings, digits, caplog):
    import socket

    from helpers import store_campaign

    pid = store_campaign(store, settings, digits, pool=300, evals=50)
    X, y = digits
    submit_labels(store, pid, [LabelIn(item_id=i, label=str(y[i])) for i in range(40)], 0.0)
    settings = settings.model_copy(update={"score_chunk_rows": 100})
    here = _ranking(store, settings, pid)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        gone = f"127.0.0.1:{s.getsockname()[1]}"
    distributed.use(gone)
    try:
        there = _ranking(store, settings, pid)
        assert distributed.cluster() is None  # not tried again before RETRY_SECONDS
    finally:
        distributed.use(None)
    np.testing.assert_array_equal(there[0], here[0])
    assert f"Ray cluster at {gone} unavailable, scoring here" in caplog.text


def test_a_model_error_on_the_cluster_is_raised_as_itself(ray_cluster, digits):
    X, y = digits
    model = build_model({"name": "logistic_regression"}, 10, 0)
    model.fit(X[:200], y[:200])
    distributed.use(ray_cluster)
    try:
        pool = distributed.cluster()
        with pytest.raises(ValueError, match="features"):  # 5 features where the model was fitted on 64
            pool.outputs(model, iter([X[:10], np.zeros((3, 5), dtype=np.float32)]))
        assert distributed.cluster() is pool  # the cluster is fine: it stays in use
        np.testing.assert_array_equal(pool.outputs(model, iter([X[:10]]))[0][0], model.predict_proba(X[:10]))
    finally:
        distributed.use(None)
