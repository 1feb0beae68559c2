"""Push mode: alloop drives a Label Studio project through Label Studio's REST API.

After each retrain :class:`Sync` pushes alloop's ranking into Label Studio as predictions
(with ``score`` = confidence, lowest first, and the new ``model_version``) and sets the
project's ``model_version``, which Label Studio does not advance by itself; with the
project's sampling on "Uncertainty sampling", Label Studio then serves tasks in alloop's
order. Annotations are pulled back and fed to alloop's webhook endpoint, so a missed
webhook is made good (a label already stored counts as a duplicate, never twice).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from server.client import AlloopHTTPError, Client
from server.labelstudio.config import label_config
from server.labelstudio.lsapi import LabelStudio

__all__ = ["Sync", "connect", "task_for"]

log = logging.getLogger("alloop.labelstudio")

UNCERTAINTY = "Uncertainty sampling"
_CHUNK = 500


def task_for(item: dict[str, Any]) -> dict[str, Any]:
    """The Label Studio task of an alloop item: ``data.alloop_id``, ``data.text`` and the meta fields."""
    meta = item.get("meta") or {}
    text = item.get("text") or meta.get("text") or str(item["id"])
    return {"data": {**meta, "text": text, "alloop_id": str(item["id"])}}


def connect(ls: LabelStudio, ls_project: int, backend_url: str, token: str | None = None) -> dict[str, Any]:
    """Add alloop as the project's ML backend, authorize its webhook, and sample by prediction score.

    ``backend_url`` is ``http://HOST:PORT/projects/ID/labelstudio``; ``token`` an alloop admin or
    project admin token when alloop runs with ``ALLOOP_ADMIN_TOKEN``.
    """
    backend = ls.add_ml_backend(ls_project, backend_url, token=token)
    hook_url = backend_url.rstrip("/") + "/webhook"
    for hook in ls.webhooks(ls_project):
        if hook["url"] == hook_url and token:
            ls.update_webhook(hook["id"], headers={"Authorization": f"Bearer {token}"})
    ls.update_project(ls_project, sampling=UNCERTAINTY)
    return backend


class Sync:
    """Keeps one Label Studio project and one alloop project in step."""

    def __init__(self, alloop: Client, project_id: int, ls: LabelStudio, ls_project: int) -> None:
        self.alloop = alloop
        self.project_id = project_id
        self.ls = ls
        self.ls_project = ls_project
        self.pushed_version: str | None = None
        self._forwarded: dict[int, str | None] = {}
        self._base = f"/projects/{project_id}/labelstudio"

    @classmethod
    def create_project(cls, alloop: Client, project_id: int, ls: LabelStudio, title: str | None = None) -> Sync:
        """A new Label Studio project for an alloop project, with its labels and uncertainty sampling."""
        project = alloop.project(project_id)
        created = ls.create_project(title or f"alloop: {project['name']}", label_config(project["labels"]),
                                    sampling=UNCERTAINTY)
        return cls(alloop, project_id, ls, created["id"])

    def import_items(self, items: list[dict[str, Any]]) -> dict[str, int]:
        """Add pool items to alloop and the same items as tasks to Label Studio."""
        added = self.alloop.add_items(self.project_id, items)
        for start in range(0, len(items), _CHUNK):
            self.ls.import_tasks(self.ls_project, [task_for(item) for item in items[start : start + _CHUNK]])
        return added

    def version(self) -> str:
        """alloop's current ranking version, as Label Studio sees it."""
        return self.alloop.request("GET", f"{self._base}/health").json()["model_version"]

    def _predict(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        config = self.ls.project(self.ls_project).get("label_config")
        results: list[dict[str, Any]] = []
        for start in range(0, len(tasks), _CHUNK):
            chunk = tasks[start : start + _CHUNK]
            body = {"tasks": chunk, "label_config": config}
            results += self.alloop.request("POST", f"{self._base}/predict", json=body).json()["results"]
        return results

    def push(self, force: bool = False) -> str | None:
        """Push the ranking if it changed since the last push; answers the version pushed, or None."""
        version = self.version()
        if version == self.pushed_version and not force:
            return None
        tasks = [t for t in self.ls.tasks(self.ls_project) if not t.get("is_labeled")]
        predictions = [
            {"task": task["id"], "result": r["result"], "score": r["score"], "model_version": r["model_version"]}
            for task, r in zip(tasks, self._predict(tasks))
        ]
        for start in range(0, len(predictions), _CHUNK):
            self.ls.import_predictions(self.ls_project, predictions[start : start + _CHUNK])
        self.ls.update_project(self.ls_project, model_version=version)
        self.pushed_version = version
        log.info("pushed ranking %s to Label Studio project %s (%d tasks)", version, self.ls_project, len(tasks))
        return version

    def _events(self, tasks: Iterable[dict[str, Any]]) -> Iterable[tuple[int, str | None, dict[str, Any]]]:
        for task in tasks:
            bare = {"id": task["id"], "data": task.get("data") or {}}
            for annotation in task.get("annotations") or []:
                stamp = annotation.get("updated_at")
                action = "ANNOTATION_UPDATED" if annotation["id"] in self._forwarded else "ANNOTATION_CREATED"
                yield annotation["id"], stamp, {"action": action, "task": bare, "annotation": annotation}

    def pull(self) -> int:
        """Forward annotations alloop has not seen (or that changed) to its webhook; answers how many."""
        forwarded = 0
        for annotation_id, stamp, payload in self._events(self.ls.annotated_tasks(self.ls_project)):
            if self._forwarded.get(annotation_id, "") == stamp:
                continue
            try:
                self.alloop.request("POST", f"{self._base}/webhook", json=payload)
                forwarded += 1
            except AlloopHTTPError as exc:  # e.g. a task without data.alloop_id: report once, go on
                if exc.status >= 500:
                    raise
                log.warning("annotation %s not taken by alloop: %s", annotation_id, exc.detail)
            self._forwarded[annotation_id] = stamp
        return forwarded

    def step(self) -> dict[str, Any]:
        """Pull annotations, then push the ranking if a retrain produced a new one."""
        pulled = self.pull()
        return {"pulled": pulled, "pushed": self.push()}

    def run(self, interval: float = 5.0, stop: threading.Event | None = None) -> None:
        """Step every ``interval`` seconds until ``stop`` is set (errors are logged, not fatal)."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                self.step()
            except Exception:  # keep syncing through a restart of either server
                log.exception("Label Studio sync step failed")
            stop.wait(interval)
