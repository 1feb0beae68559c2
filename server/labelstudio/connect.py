"""Connect a Label Studio project to an alloop project, from the command line or a script.

:func:`connect` makes the Label Studio side ready (alloop as its ML backend, or only a webhook in
push mode; the webhook carries alloop's token; "Uncertainty sampling") and then links the two in
alloop (``PUT /projects/{id}/labelstudio/link``), after which alloop's server keeps Label Studio
in step by itself: no separate sync process is needed (see :mod:`alloop.labelstudio.agent`).
"""

from __future__ import annotations

import time
from typing import Any

from alloop.client import Client
from alloop.labelstudio.config import label_config
from alloop.labelstudio.lsapi import LabelStudio

__all__ = [
    "UNCERTAINTY", "connect", "create_ls_project", "disconnect", "image_links", "import_items", "link", "task_for",
    "wait_for_push",
]

UNCERTAINTY = "Uncertainty sampling"
_CHUNK = 500


def task_for(item: dict[str, Any], image: str | None = None) -> dict[str, Any]:
    """The Label Studio task of an alloop item: ``data.alloop_id``, ``data.text`` and the meta fields;
    ``data.image`` where the item has an image (``image``: the URL Label Studio loads it from)."""
    meta = item.get("meta") or {}
    text = item.get("text") or meta.get("text") or str(item["id"])
    data = {**meta, "text": text, "alloop_id": str(item["id"])}
    if image is not None:
        data["image"] = image
    return {"data": data}


def create_ls_project(alloop: Client, project_id: int, ls: LabelStudio, title: str | None = None) -> int:
    """A new Label Studio project for an alloop project, with its labels and uncertainty sampling
    (an image project's config shows ``$image``)."""
    project = alloop.project(project_id)
    config = label_config(project["labels"], input=project.get("input", "text"),
                          multiple=project.get("task") == "multilabel", task=project.get("task", "classification"))
    created = ls.create_project(title or f"alloop: {project['name']}", config, sampling=UNCERTAINTY)
    return int(created["id"])


def image_links(alloop: Client, project_id: int, ids: list[str]) -> dict[str, str]:
    """Absolute URLs of these items' images on the alloop server (signed when its auth is on)."""
    links: dict[str, str] = {}
    base = str(alloop.http.base_url).rstrip("/")
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        answer = alloop.request("POST", f"/projects/{project_id}/image-links", json={"ids": chunk})
        links.update({item: base + path for item, path in answer.json()["links"].items()})
    return links


def import_items(alloop: Client, project_id: int, ls: LabelStudio, ls_project: int,
                 items: list[dict[str, Any]]) -> dict[str, int]:
    """Add pool items to alloop and the same items as tasks to Label Studio; a task of an item with an
    image links to it on the alloop server (as this client reaches it: the browser must too)."""
    added = alloop.add_items(project_id, items)
    pictured = [str(item["id"]) for item in items if any(item.get(k) for k in ("image", "image_url", "image_path"))]
    links = image_links(alloop, project_id, pictured) if pictured else {}
    for start in range(0, len(items), _CHUNK):
        ls.import_tasks(ls_project, [task_for(item, links.get(str(item["id"])))
                                     for item in items[start : start + _CHUNK]])
    return added


def connect(ls: LabelStudio, ls_project: int, backend_url: str, token: str | None = None, *,
            push_only: bool = False) -> dict[str, Any] | None:
    """Make the Label Studio project ready: alloop as its ML backend (not with ``push_only``), a
    webhook to alloop that carries its token, and "Uncertainty sampling". Answers the backend.

    ``backend_url`` is ``http://HOST:PORT/projects/ID/labelstudio`` as Label Studio reaches alloop;
    ``token`` an alloop admin or project admin token when alloop runs with ``ALLOOP_ADMIN_TOKEN``.
    """
    backend = None if push_only else ls.add_ml_backend(ls_project, backend_url, token=token)
    hook_url = backend_url.rstrip("/") + "/webhook"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    hooks = [hook for hook in ls.webhooks(ls_project) if hook["url"] == hook_url]
    if not hooks:  # push mode, or a Label Studio that made no webhook for the backend
        ls.create_webhook(ls_project, hook_url, headers)
    for hook in hooks:
        if token:
            ls.update_webhook(hook["id"], headers=headers)
    ls.update_project(ls_project, sampling=UNCERTAINTY)
    return backend


def disconnect(ls: LabelStudio, ls_project: int, backend_url: str) -> dict[str, int]:
    """Remove alloop's ML backend and webhook from the Label Studio project (its tasks, annotations
    and predictions stay); answers how many of each."""
    base = backend_url.rstrip("/")
    backends = [b["id"] for b in ls.ml_backends(ls_project) if str(b.get("url", "")).rstrip("/") == base]
    hooks = [h["id"] for h in ls.webhooks(ls_project) if str(h.get("url", "")).startswith(base)]
    for backend_id in backends:
        ls.delete_ml_backend(backend_id)
    for hook_id in hooks:  # deleting a backend leaves its webhook behind
        ls.delete_webhook(hook_id)
    return {"ml_backends": len(backends), "webhooks": len(hooks)}


def link(alloop: Client, project_id: int, ls_url: str, ls_token: str, ls_project: int, mode: str) -> dict[str, Any]:
    """Tell alloop to keep the Label Studio project in step (``ls_url`` as alloop reaches it)."""
    body = {"url": ls_url, "token": ls_token, "ls_project": ls_project, "mode": mode}
    return alloop.request("PUT", f"/projects/{project_id}/labelstudio/link", json=body).json()


def wait_for_push(alloop: Client, project_id: int, timeout: float = 60.0) -> dict[str, Any]:
    """The link once alloop has pushed a ranking to Label Studio (or reports why it could not)."""
    deadline = time.monotonic() + timeout
    while True:
        state = alloop.request("GET", f"/projects/{project_id}/labelstudio/link").json()
        if state["pushed_version"] or state["last_error"] or state["paused"] or time.monotonic() > deadline:
            return state
        time.sleep(0.2)
