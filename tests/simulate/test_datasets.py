"""The catalog, the shared-folder loaders, user files, splits and the embedding cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alloop.simulate.datasets import (
    CATALOG,
    DataRef,
    load_dataset,
    make_split,
    read_user_file,
    shared_data_dir,
)
from alloop.simulate.embeddings import choose_encoder, embed_texts

needs_shared = pytest.mark.skipif(
    not shared_data_dir().is_dir(), reason=f"the shared data folder {shared_data_dir()} is absent"
)


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits"])
def test_bundled_sets_load_without_download(name):
    data = load_dataset(DataRef(name=name))
    assert data.X.shape[0] == data.y.size and data.X.dtype == np.float32
    assert len(data.labels) == int(data.y.max()) + 1 and data.kind in ("tabular", "image")


@needs_shared
@pytest.mark.parametrize(
    ("name", "rows", "classes"), [("letter", 20_000, 26), ("mnist", 10_000, 10)]
)
def test_shared_vector_sets(name, rows, classes):
    data = load_dataset(DataRef(name=name))
    assert data.X.shape[0] == rows and len(data.labels) == classes and np.isfinite(data.X).all()


def test_shared_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ALLOOP_SHARED_DATA", str(tmp_path / "missing"))
    assert shared_data_dir() == tmp_path / "missing"
    load_dataset.cache_clear()
    with pytest.raises(FileNotFoundError, match="ALLOOP_SHARED_DATA"):
        load_dataset(DataRef(name="letter"))
    load_dataset.cache_clear()


def test_unknown_dataset_lists_the_catalog():
    with pytest.raises(KeyError, match="digits"):
        load_dataset(DataRef(name="nope"))


def test_split_is_stratified_per_seed_and_capped():
    data = load_dataset(DataRef(name="digits"))
    protocol = CATALOG["digits"][3]
    a, b = make_split(data, 0), make_split(data, 1)
    assert a.y_eval.size == protocol.eval_size and a.y_pool.size == data.y.size - protocol.eval_size
    assert np.bincount(a.y_eval).min() >= 35  # about 40 per class
    assert not np.array_equal(a.X_eval, b.X_eval)
    assert np.array_equal(make_split(data, 0).X_pool, a.X_pool)


def write_rows(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_user_files_csv_columns_jsonl_features_and_text(tmp_path):
    csv_path = tmp_path / "t.csv"
    csv_path.write_text("id,f1,f2,label\n1,0.5,1.5,a\n2,1.0,2.0,b\n")
    X, texts, y = read_user_file(csv_path)
    assert X.tolist() == [[0.5, 1.5], [1.0, 2.0]] and texts is None and y == ["a", "b"]
    jsonl = tmp_path / "t.jsonl"
    write_rows(
        jsonl,
        [{"id": 1, "features": [1, 2], "label": "x"}, {"id": 2, "features": [3, 4], "label": "y"}],
    )
    assert read_user_file(jsonl)[0].tolist() == [[1, 2], [3, 4]]
    text = tmp_path / "s.csv"
    text.write_text("text,kind\nhello there,greet\nbye now,leave\n")
    X, texts, y = read_user_file(text, label_column="kind")
    assert X is None and texts == ["hello there", "bye now"] and y == ["greet", "leave"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("f1,label\n1.0,\n", "no 'label' value"),
        ("f1,label\nabc,a\n", "numbers"),
        ("label\na\n", "no feature columns"),
    ],
)
def test_bad_user_files_say_what_is_wrong(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        read_user_file(path)


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"features": [[0.0, 1.0], [1.0, 0.0]], "label": ["a", "b"]}), path)
    X, _, y = read_user_file(path)
    assert X.tolist() == [[0.0, 1.0], [1.0, 0.0]] and y == ["a", "b"]


def test_text_vectors_are_cached_by_dataset_encoder_and_content(tmp_path, monkeypatch):
    texts = ["a cat sat", "a dog ran", "the cat ran"]
    first, enc = embed_texts("toy", texts, encoder="hashing", cache_dir=tmp_path)
    assert enc == "hashing" and first.shape == (3, 1024)
    assert len(list((tmp_path / "embeddings").glob("toy-hashing-*.npy"))) == 1
    monkeypatch.setattr(
        "alloop.loop.embedding.load_encoder", lambda spec: pytest.fail("not cached")
    )
    again, _ = embed_texts("toy", texts, encoder="hashing", cache_dir=tmp_path)
    assert np.array_equal(first, again)


def test_encoder_choice():
    assert choose_encoder("hashing") == "hashing"
    assert choose_encoder("auto") in ("minilm", "hashing")
    with pytest.raises(ValueError, match="auto"):
        choose_encoder("bert")


def test_the_protocol_names_the_model_unless_the_run_does():
    from alloop.models import check_model
    from alloop.simulate.grid import Grid, grid_jobs

    for _, _, _, protocol in CATALOG.values():
        check_model({"name": protocol.model}, 3)  # every protocol's model builds
    letter = CATALOG["letter"][3]
    assert letter.model == "extra_trees" and CATALOG["digits"][3].model == "logistic_regression"

    def models(grid: Grid) -> set[str]:
        jobs = grid_jobs(grid, letter)
        reference = {j.args[3]["name"] for j in jobs if j.key[0] == "reference"}
        return reference | {j.args[2].model["name"] for j in jobs if j.key[0] == "campaign"}

    assert models(Grid(data=DataRef(name="letter"), seeds=(0, 1))) == {"extra_trees"}
    chosen = Grid(data=DataRef(name="letter"), seeds=(0,), model={"name": "knn", "params": {}})
    assert models(chosen) == {"knn"}
