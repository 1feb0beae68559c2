"""Image projects (input 'image'): pixels read from files under the images root or inline images,
decoded once at import into the feature file; the image route; every bad input a 422 that adds nothing."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from helpers import NO_DEDUP, digit_pictures, wait_for, write_pngs
from PIL import Image

from alloop.app import create_app
from alloop.image_files import MAX_FILE_BYTES
from alloop.images import MAX_IMAGE_PIXELS
from alloop.settings import Settings

LABELS = [str(d) for d in range(10)]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    return folder


@pytest.fixture
def image_client(tmp_path: Path, root: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", worker_poll_seconds=0.05, worker="thread", image_root=root)
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def pictures(digits, root: Path) -> tuple[list[str], np.ndarray]:
    X, y = digits
    return write_pngs(root, digit_pictures(X[:300]), [f"digits/{i:04d}.png" for i in range(300)]), y[:300]


def _image_project(client: TestClient, **overrides) -> int:
    body = {"name": "pictures", "labels": LABELS, "input": "image", "image": {"width": 8, "height": 8},
            "batch_size": 10, "retrain_every": 20, "budget": 200, "seed": 0, **NO_DEDUP, **overrides}
    r = client.post("/projects", json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _stored(client: TestClient, pid: int) -> dict:
    with client.app.state.store.read() as conn:
        rows = conn.execute("SELECT i.ext_id, m.image FROM items i LEFT JOIN item_images m ON m.item_idx = i.idx "
                            "WHERE i.project_id = ?", (pid,)).fetchall()
        project = conn.execute("SELECT n_features FROM projects WHERE id = ?", (pid,)).fetchone()[0]
    return {"items": dict(rows), "n_features": project}


def _png(picture: np.ndarray | Image.Image, fmt: str = "PNG") -> bytes:
    image = picture if isinstance(picture, Image.Image) else Image.fromarray(np.asarray(picture, dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_an_image_project_defaults_to_the_cnn_with_its_image_shape(image_client):
    pid = _image_project(image_client, image={"width": 28, "height": 24, "color": "rgb"})
    project = image_client.get(f"/projects/{pid}").json()
    assert project["input"] == "image" and project["image"] == {"width": 28, "height": 24, "color": "rgb"}
    assert project["model"]["name"] == "cnn" and project["model"]["input_shape"] == [3, 24, 28]
    plain = _image_project(image_client, image=None, model={"name": "logistic_regression"})
    project = image_client.get(f"/projects/{plain}").json()
    assert project["image"] == {"width": 32, "height": 32, "color": "gray"}  # the default size
    assert project["model"]["name"] == "logistic_regression" and "input_shape" not in project["model"]


def test_pixels_from_files_and_inline_images_match_what_pillow_reads(image_client, pictures, digits, root):
    paths, _ = pictures
    pid = _image_project(image_client)
    inline = base64.b64encode((root / paths[2]).read_bytes()).decode()
    items = [{"id": "a", "image_path": paths[0]}, {"id": "b", "image_path": "./digits//0001.png"},
             {"id": "c", "image": inline, "meta": {"source": "inline"}}]
    assert image_client.post(f"/projects/{pid}/items", json={"items": items}).json() == {"added": 3, "skipped": 0}
    stored = _stored(image_client, pid)
    assert stored["n_features"] == 64
    assert stored["items"]["a"] == "file:digits/0000.png" and stored["items"]["b"] == "file:digits/0001.png"
    assert stored["items"]["c"].startswith("data:image/png;base64,")
    matrix = np.fromfile(image_client.app.state.store.project_path(pid) / "features.f32", dtype=np.float32)
    expected = digit_pictures(digits[0][:3]).reshape(3, 64) / 255.0
    assert np.allclose(matrix.reshape(3, 64), expected, atol=1e-6)  # 8x8 to 8x8: the pixels themselves


def test_rgb_and_resizing_lay_pixels_out_channel_first(image_client, root):
    picture = np.zeros((10, 20, 3), dtype=np.uint8)
    picture[..., 0] = 255  # pure red
    (root / "red.jpg").write_bytes(_png(picture, "JPEG"))
    pid = _image_project(image_client, image={"width": 5, "height": 4, "color": "rgb"})
    assert image_client.post(f"/projects/{pid}/items", json={"items": [{"id": "r", "image_path": "red.jpg"}]}).json()["added"] == 1
    row = np.fromfile(image_client.app.state.store.project_path(pid) / "features.f32", dtype=np.float32)
    assert row.shape == (3 * 4 * 5,)
    red, green, blue = row.reshape(3, 4, 5)
    assert red.min() > 0.9 and green.max() < 0.1 and blue.max() < 0.1


def test_next_links_file_images_to_the_route_that_serves_them(image_client, pictures, root):
    paths, _ = pictures
    pid = _image_project(image_client)
    items = [{"id": f"p/{i}", "image_path": p} for i, p in enumerate(paths[:20])]
    image_client.post(f"/projects/{pid}/items", json={"items": items})
    batch = image_client.post(f"/projects/{pid}/next", json={"annotator": "ann", "n": 5, "wait": 30}).json()
    assert len(batch["items"]) == 5
    for item in batch["items"]:
        index = int(item["id"].split("/")[1])
        assert item["image_url"] == f"/projects/{pid}/items/p%2F{index}/image"
        assert "features" not in item and "image" not in item  # pixels stay on the server
        r = image_client.get(item["image_url"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.content == (root / paths[index]).read_bytes()


def test_the_route_checks_the_path_again_when_it_serves(image_client, pictures, root, tmp_path):
    paths, _ = pictures
    pid = _image_project(image_client)
    image_client.post(f"/projects/{pid}/items", json={"items": [{"id": "x", "image_path": paths[0]}]})
    outside = tmp_path / "secret.png"
    outside.write_bytes((root / paths[1]).read_bytes())
    (root / paths[0]).unlink()
    os.symlink(outside, root / paths[0])  # swapped for a link out of the root after the import
    r = image_client.get(f"/projects/{pid}/items/x/image")
    assert r.status_code == 404 and "outside the images root" in r.json()["detail"]
    assert image_client.get(f"/projects/{pid}/items/nope/image").status_code == 404


def test_signed_links_open_images_without_a_token(tmp_path, root, pictures):
    paths, _ = pictures
    settings = Settings(data_dir=tmp_path / "secure", worker="thread", image_root=root, admin_token="s3cret")
    auth = {"Authorization": "Bearer s3cret"}
    with TestClient(create_app(settings)) as client:
        body = {"name": "p", "labels": LABELS, "input": "image", "image": {"width": 8, "height": 8}, **NO_DEDUP}
        pid = client.post("/projects", json=body, headers=auth).json()["id"]
        client.post(f"/projects/{pid}/items", json={"items": [{"id": "x", "image_path": paths[0]}]}, headers=auth)
        url = client.post(f"/projects/{pid}/next", json={"annotator": "a", "wait": 30}, headers=auth).json()["items"][0]["image_url"]
        assert "?sig=" in url
        assert client.get(url).status_code == 200  # what <img src> or Label Studio sends: no header
        assert client.get(url.split("?")[0]).status_code == 401
        assert client.get(url[:-1] + ("0" if url[-1] != "0" else "1")).status_code == 401
        assert client.get(url.split("?")[0], headers=auth).status_code == 200
        links = client.post(f"/projects/{pid}/image-links", json={"ids": ["x", "missing"]}, headers=auth).json()
        assert links == {"links": {"x": url}}


def test_vector_models_read_the_flattened_pixels(image_client, pictures):
    paths, y = pictures
    pid = _image_project(image_client, model={"name": "logistic_regression"}, retrain_every=30, budget=60)
    image_client.post(f"/projects/{pid}/items", json={"items": [{"id": i, "image_path": p} for i, p in enumerate(paths[:200])]})
    image_client.post(f"/projects/{pid}/items", json={"split": "eval", "items": [
        {"id": i, "image_path": paths[i], "label": str(y[i])} for i in range(200, 300)]})
    for _ in range(2):
        batch = image_client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 30, "wait": 30}).json()
        image_client.post(f"/projects/{pid}/labels", json={"labels": [
            {"item_id": it["id"], "label": str(y[int(it["id"])]), "annotator": "a"} for it in batch["items"]]})
    status = wait_for(image_client, pid, lambda s: s["settled"], timeout=60)
    assert status["metrics"]["accuracy"] > 0.6


def _bad(client: TestClient, pid: int, item: dict, says: str, split: str = "pool") -> None:
    items = [{"id": "fine", "image_path": "digits/0000.png", **({"label": "0"} if split == "eval" else {})}, item]
    r = client.post(f"/projects/{pid}/items", json={"split": split, "items": items})
    assert r.status_code == 422, r.text
    assert says in r.json()["detail"], r.json()["detail"]
    stored = _stored(client, pid)
    assert stored["items"] == {} and stored["n_features"] is None
    assert not (client.app.state.store.project_path(pid) / "features.f32").exists()


@pytest.mark.parametrize(("path", "says"), [
    ("../outside.png", "leaves the images root"),
    ("digits/../../outside.png", "leaves the images root"),
    ("/etc/passwd", "is absolute"),
    ("~/x.png", "is absolute"),
    ("digits\\0001.png", "no backslash"),
    ("digits/9999.png", "does not exist under the images root"),
    ("digits", "is not a file"),
    ("escape.png", "leads outside the images root"),
    ("notes.png", "not an image Pillow can read"),
    ("anim.gif", "a GIF file, not a PNG or a JPEG"),
    ("cut.png", "a broken image"),
    ("huge.png", f"at most {MAX_IMAGE_PIXELS}"),
    ("big.png", f"at most {MAX_FILE_BYTES}"),
])
def test_bad_image_paths_are_a_422_naming_the_item_and_add_nothing(image_client, pictures, root, tmp_path, path, says):
    (tmp_path / "outside.png").write_bytes((root / pictures[0][0]).read_bytes())
    os.symlink(tmp_path / "outside.png", root / "escape.png")
    (root / "notes.png").write_text("not a picture at all")
    (root / "anim.gif").write_bytes(_png(Image.new("L", (4, 4)), "GIF"))
    (root / "cut.png").write_bytes((root / pictures[0][0]).read_bytes()[:60])
    (root / "huge.png").write_bytes(_png(Image.new("1", (8000, 6000))))  # 48 MP of one colour: a few kB
    with open(root / "big.png", "wb") as handle:
        handle.write((root / pictures[0][0]).read_bytes())
        handle.truncate(MAX_FILE_BYTES + 1)
    pid = _image_project(image_client)
    _bad(image_client, pid, {"id": "bad", "image_path": path}, says)
    if says.startswith(("leaves", "is absolute", "no backslash")):  # refused by the path's form, then
        assert "items.1" in image_client.post(f"/projects/{pid}/items", json={"items": [
            {"id": "ok", "image_path": "digits/0000.png"}, {"id": "bad", "image_path": path}]}).json()["detail"]
    else:
        detail = image_client.post(f"/projects/{pid}/items", json={"items": [
            {"id": "ok", "image_path": "digits/0000.png"}, {"id": "bad", "image_path": path}]}).json()["detail"]
        assert "items.1 (id 'bad')" in detail


def test_other_bad_inputs_are_a_422_and_add_nothing(image_client, pictures):
    pid = _image_project(image_client)
    _bad(image_client, pid, {"id": "v", "features": [0.0] * 64}, "not 'features'")
    _bad(image_client, pid, {"id": "t", "text": "a caption only"}, "give 'image'")
    _bad(image_client, pid, {"id": "u", "image_url": "https://host/x.png"}, "give 'image'")
    _bad(image_client, pid, {"id": "e", "image_path": "digits/0001.png"}, "eval items need their gold label", "eval")
    _bad(image_client, pid, {"id": "two", "image_path": "digits/0001.png", "image_url": "https://h/x.png"},
         "not image_url and image_path")


def test_image_path_needs_an_image_project_and_an_images_root(image_client, client, pictures):
    vector = image_client.post("/projects", json={"name": "v", "labels": LABELS, **NO_DEDUP}).json()["id"]
    r = image_client.post(f"/projects/{vector}/items", json={"items": [
        {"id": "a", "features": [0.0, 1.0], "image_path": "digits/0000.png"}]})
    assert r.status_code == 422 and "image_path is for image projects" in r.json()["detail"]
    pid = _image_project(client)  # the plain client's server has no images root
    r = client.post(f"/projects/{pid}/items", json={"items": [{"id": "a", "image_path": "digits/0000.png"}]})
    assert r.status_code == 422 and "this server has no images root" in r.json()["detail"]
    assert _stored(client, pid)["items"] == {}


@pytest.mark.parametrize(("body", "says"), [
    ({"image": {"width": 300, "height": 300, "color": "rgb"}}, "at most 65536"),
    ({"image": {"width": 2, "height": 8}}, "greater than or equal to 4"),
    ({"image": {"width": 8, "height": 8, "color": "cmyk"}}, "'gray' or 'rgb'"),
    ({"model": {"name": "transformer"}}, "reads text, not images"),
    ({"model": {"name": "cnn", "params": {"input_shape": [1, 8, 8]}}}, "input_shape follows the project"),
    ({"model": {"name": "cnn", "params": {"channels": []}}}, "conv block widths"),
])
def test_bad_image_project_settings_are_a_422(image_client, body, says):
    full = {"name": "p", "labels": LABELS, "input": "image", **body}
    r = image_client.post("/projects", json=full)
    assert r.status_code == 422 and says in r.text, r.text


@pytest.mark.parametrize(("body", "says"), [
    ({"image": {"width": 8, "height": 8}}, "only image projects"),
    ({"model": {"name": "cnn"}}, "reads images; use it in a project with input 'image'"),
])
def test_image_settings_and_the_cnn_need_an_image_project(image_client, body, says):
    r = image_client.post("/projects", json={"name": "p", "labels": LABELS, **body})
    assert r.status_code == 422 and says in r.json()["detail"]


def test_the_embedding_alternative_a_vector_project_shows_the_image_and_trains_on_your_vectors(client, digits):
    X, y = digits  # the 64 numbers stand in for a user's own embedding column; the picture is for people
    pictures = digit_pictures(X[:260])
    pid = client.post("/projects", json={"name": "mine", "labels": LABELS, "retrain_every": 40, "budget": 40,
                                         **NO_DEDUP}).json()["id"]
    pool = [{"id": i, "features": X[i].tolist(),
             "image": base64.b64encode(_png(pictures[i])).decode()} for i in range(160)]
    assert client.post(f"/projects/{pid}/items", json={"items": pool}).json()["added"] == 160
    client.post(f"/projects/{pid}/items", json={"split": "eval", "items": [
        {"id": i, "features": X[i].tolist(), "label": str(y[i])} for i in range(160, 260)]})
    batch = client.post(f"/projects/{pid}/next", json={"annotator": "a", "n": 40, "wait": 30}).json()["items"]
    assert all(it["image"].startswith("data:image/png;base64,") and len(it["features"]) == 64 for it in batch)
    client.post(f"/projects/{pid}/labels", json={"labels": [
        {"item_id": it["id"], "label": str(y[int(it["id"])]), "annotator": "a"} for it in batch]})
    status = wait_for(client, pid, lambda s: s["settled"], timeout=60)
    assert status["input"] == "vector" and status["model"]["name"] == "logistic_regression"
    assert status["metrics"]["accuracy"] > 0.7


def test_csv_and_jsonl_uploads_take_an_image_path_column(image_client, pictures):
    paths, y = pictures
    pid = _image_project(image_client)
    csv_text = "id,image_path,label\n" + "".join(f"c{i},{paths[i]},{y[i]}\n" for i in range(5))
    r = image_client.post(f"/projects/{pid}/items", params={"split": "eval"}, content=csv_text,
                          headers={"Content-Type": "text/csv"})
    assert r.json() == {"added": 5, "skipped": 0}
    jsonl = "".join(f'{{"id": "j{i}", "image_path": "{paths[i]}"}}\n' for i in range(5, 9))
    r = image_client.post(f"/projects/{pid}/items", files={"file": ("pool.jsonl", jsonl)}, data={"split": "pool"})
    assert r.json() == {"added": 4, "skipped": 0}
    assert _stored(image_client, pid)["items"]["c3"] == f"file:{paths[3]}"


def test_a_repeated_upload_skips_stored_items_without_reading_their_files_again(image_client, pictures, root):
    paths, _ = pictures
    pid = _image_project(image_client)
    first = [{"id": i, "image_path": paths[i]} for i in range(3)]
    assert image_client.post(f"/projects/{pid}/items", json={"items": first}).json() == {"added": 3, "skipped": 0}
    (root / paths[0]).unlink()  # moved away after its pixels were stored
    again = [*first, {"id": 3, "image_path": paths[3]}]
    assert image_client.post(f"/projects/{pid}/items", json={"items": again}).json() == {"added": 1, "skipped": 3}
    matrix = np.fromfile(image_client.app.state.store.project_path(pid) / "features.f32", dtype=np.float32)
    assert matrix.reshape(-1, 64).shape == (4, 64)
