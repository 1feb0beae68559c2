"""Items that carry an image: inline PNG/JPEG (checked, normalized) or a link; served back by /next."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from helpers import project_body
from PIL import Image

from alloop.images import MAX_IMAGE_BYTES, png_data_url


def _encoded(fmt: str, size: tuple[int, int] = (4, 3)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


PNG, JPEG, GIF = _encoded("PNG"), _encoded("JPEG"), _encoded("GIF")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture
def pid(client):
    return client.post("/projects", json=project_body(labels=["a", "b"])).json()["id"]


def _pool(client, pid):
    with client.app.state.store.read() as conn:
        return dict(conn.execute("SELECT i.ext_id, m.image FROM items i LEFT JOIN item_images m ON m.item_idx = i.idx WHERE i.project_id = ?", (pid,)).fetchall())


def test_inline_png_jpeg_and_links_are_stored_and_served(client, pid):
    items = [
        {"id": "png", "features": [0, 1], "image": f"data:image/png;base64,{b64(PNG)}"},
        {"id": "jpeg", "features": [1, 0], "image": b64(JPEG)},  # bare base64: the bytes say what it is
        {"id": "link", "features": [1, 1], "image_url": "https://images.example.org/cat.png"},
        {"id": "local", "features": [0, 0], "image_url": "/files/dog.jpg"},
        {"id": "plain", "features": [0.5, 0.5]},
    ]
    assert client.post(f"/projects/{pid}/items", json={"items": items}).json() == {"added": 5, "skipped": 0}
    stored = _pool(client, pid)
    assert stored["png"] == f"data:image/png;base64,{b64(PNG)}"
    assert stored["jpeg"] == f"data:image/jpeg;base64,{b64(JPEG)}"
    assert stored["link"] == "https://images.example.org/cat.png" and stored["plain"] is None

    batch = client.post(f"/projects/{pid}/next", json={"annotator": "ann", "n": 5, "wait": 30}).json()
    served = {item["id"]: item for item in batch["items"]}
    assert served["png"]["image"] == stored["png"] and "image_url" not in served["png"]
    assert served["jpeg"]["image"].startswith("data:image/jpeg;base64,")
    assert served["link"]["image_url"] == "https://images.example.org/cat.png" and "image" not in served["link"]
    assert served["local"]["image_url"] == "/files/dog.jpg"
    assert "image" not in served["plain"] and "image_url" not in served["plain"]


@pytest.mark.parametrize(("field", "value", "says"), [
    ("image", f"data:image/gif;base64,{b64(GIF)}", "image/png or image/jpeg"),
    ("image", b64(GIF), "not a PNG or a JPEG"),
    ("image", f"data:image/png;base64,{b64(JPEG)}", "says image/png but the bytes are image/jpeg"),
    ("image", "data:image/png,rawbytes", "must be base64"),
    ("image", "not base64 at all!", "not valid base64"),
    ("image", b64(PNG[:40]), "not a readable image/png"),
    ("image", b64(b"\x89PNG\r\n\x1a\n" + b"\0" * (MAX_IMAGE_BYTES + 10)), f"more than {MAX_IMAGE_BYTES} bytes"),
    ("image_url", "javascript:alert(1)", "http(s) URL"),
    ("image_url", "//evil.example.org/x.png", "http(s) URL"),
    ("image_url", "https://host/a b.png", "without spaces"),
])
def test_bad_images_are_a_422_that_names_the_problem_and_add_nothing(client, pid, field, value, says):
    items = [{"id": "ok", "features": [0, 1]}, {"id": "bad", "features": [1, 0], field: value}]
    r = client.post(f"/projects/{pid}/items", json={"items": items})
    assert r.status_code == 422, r.text
    assert says in r.json()["detail"] and "items.1" in r.json()["detail"]
    assert _pool(client, pid) == {}


def test_an_item_gives_an_image_or_a_link_not_both(client, pid):
    item = {"id": "x", "features": [0, 1], "image": b64(PNG), "image_url": "https://host/x.png"}
    r = client.post(f"/projects/{pid}/items", json={"items": [item]})
    assert r.status_code == 422 and "not image and image_url" in r.json()["detail"]


def test_a_huge_pixel_count_in_a_small_file_is_refused(client, pid):
    buffer = io.BytesIO()
    Image.new("1", (8000, 6000)).save(buffer, format="PNG")  # 48 MP of one colour: a few kB
    r = client.post(f"/projects/{pid}/items", json={"items": [{"id": "x", "features": [0, 1],
                                                               "image": b64(buffer.getvalue())}]})
    assert r.status_code == 422 and "8000x6000 pixels" in r.json()["detail"]


def test_csv_image_columns_are_not_features(client, pid):
    csv_text = f"id,f0,f1,image_url,image\nc1,0.5,1.0,https://host/c1.png,\nc2,2,3,,{b64(PNG)}\n"
    r = client.post(f"/projects/{pid}/items", content=csv_text, headers={"Content-Type": "text/csv"})
    assert r.json() == {"added": 2, "skipped": 0}
    assert client.get(f"/projects/{pid}").json()["n_features"] == 2
    stored = _pool(client, pid)
    assert stored["c1"] == "https://host/c1.png" and stored["c2"].startswith("data:image/png;base64,")


def test_png_data_url_round_trips_a_digit():
    pixels = (np.arange(64).reshape(8, 8) * 4).astype(np.uint8)
    url = png_data_url(pixels)
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as picture:
        assert picture.size == (8, 8) and picture.mode == "L"
        assert np.array_equal(np.asarray(picture), pixels)
