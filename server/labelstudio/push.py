"""Keep Label Studio's own queue in alloop's order, and stop it serving a stopped campaign.

Label Studio's "Uncertainty sampling" serves the open task with the lowest prediction ``score``
among the predictions whose ``model_version`` equals the project's ``model_version``; with none
such it serves at random. Label Studio never advances that version and fetches predictions only
when a task is opened, so after every new ranking alloop pushes, in this order:

1. one prediction per open task of the ranking, all read in one store snapshot, so they carry one
   version (``alloop-v<N>``) and one ranking's scores (rank / ranking size: lowest first);
2. the project's ``model_version``, set to that version (Label Studio accepts only a version that
   has predictions, hence the order);
3. every older ``alloop-v*`` version deleted, so a task holds at most two predictions, and only for
   the moment between steps 1 and 3.

A stopped campaign is paused in Label Studio: its open tasks are marked done (``is_labeled``,
best-ranked first, the ones Label Studio would serve next), which its queue skips; alloop lists
them, and unmarks exactly those, where still unannotated, once the campaign runs again.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from server.labelstudio.config import choices_control
from server.labelstudio.connection import Link, note
from server.labelstudio.lsapi import LabelStudio
from server.labelstudio.predict import ModelCache, predictions
from server.store.db import Store
from server.store.rounds import record_shown

__all__ = ["PREFIX", "pause", "push", "resume"]

log = logging.getLogger("alloop.labelstudio")

PREFIX = "alloop-v"
"""Prediction versions alloop owns (and may delete when superseded)."""
_CHUNK = 500
_MARKERS = 8  # concurrent task updates while pausing or resuming


def push(store: Store, cache: ModelCache, link: Link, ls: LabelStudio, now: float) -> dict[str, Any]:
    """Push the served ranking's predictions and version; answers ``{"version", "tasks", "deleted"}``."""
    project = ls.project(link.ls_project)
    tasks = [t for t in ls.tasks(link.ls_project) if not t.get("is_labeled")]
    answer = predictions(store, cache, link.project_id, tasks, choices_control(project.get("label_config")))
    name, gen = answer.name, answer.ranking["gen"]
    # Only the ranked tasks get a current prediction: Label Studio serves among those, in order.
    chosen = [(task, result, idx) for task, result, idx, ranked in
              zip(tasks, answer.results, answer.items, answer.ranked) if ranked]
    deleted = 0
    if name == link.pushed_version and gen != link.pushed_gen:  # a new ranking under the same model
        deleted += ls.delete_model_version(link.ls_project, name)
    rows = [{"task": task["id"], "result": r["result"], "score": r["score"], "model_version": name}
            for task, r, _ in chosen]
    for start in range(0, len(rows), _CHUNK):
        ls.import_predictions(link.ls_project, rows[start : start + _CHUNK])
    if rows and project.get("model_version") != name:
        ls.update_project(link.ls_project, model_version=name)
    for version in ls.model_versions(link.ls_project):
        if version.startswith(PREFIX) and version != name:
            deleted += ls.delete_model_version(link.ls_project, version)
    shown = [(idx, answer.ranking["model_version"], r["score"], answer.ranking["strategy"]) for _, r, idx in chosen]
    store.transact(lambda conn: (record_shown(conn, link.project_id, shown),
                                 note(conn, link.project_id, pushed_version=name, pushed_gen=gen, pushed_at=now)))
    log.info("project %s: pushed %s to Label Studio project %s (%d tasks)", link.project_id, name,
             link.ls_project, len(rows))
    return {"version": name, "tasks": len(rows), "deleted": deleted}


def _mark(ls: LabelStudio, task_ids: list[int], labeled: bool) -> None:
    with ThreadPoolExecutor(_MARKERS) as pool:
        list(pool.map(lambda task_id: ls.update_task(task_id, is_labeled=labeled), task_ids))


def pause(store: Store, cache: ModelCache, link: Link, ls: LabelStudio) -> int:
    """Mark the linked project's open tasks done so Label Studio serves none; answers how many."""
    project = ls.project(link.ls_project)
    tasks = [t for t in ls.tasks(link.ls_project) if not t.get("is_labeled") and not t.get("total_annotations")]
    answer = predictions(store, cache, link.project_id, tasks, choices_control(project.get("label_config")))
    order = sorted(zip(tasks, answer.results), key=lambda pair: pair[1]["score"])  # what it would serve next, first
    task_ids = [task["id"] for task, _ in order]
    store.transact(lambda conn: conn.executemany(
        "INSERT OR IGNORE INTO labelstudio_paused (project_id, task_id) VALUES (?, ?)",
        [(link.project_id, task_id) for task_id in task_ids]))
    _mark(ls, task_ids, True)
    store.transact(lambda conn: note(conn, link.project_id, paused=1))
    log.info("project %s stopped: Label Studio project %s serves none of its %d open tasks", link.project_id,
             link.ls_project, len(task_ids))
    return len(task_ids)


def resume(store: Store, link: Link, ls: LabelStudio) -> int:
    """Unmark the tasks a pause marked (those still without annotations); answers how many."""
    with store.read() as conn:
        marked = {r[0] for r in conn.execute(
            "SELECT task_id FROM labelstudio_paused WHERE project_id = ?", (link.project_id,))}
    open_ = [t["id"] for t in ls.tasks(link.ls_project) if t["id"] in marked and not t.get("total_annotations")]
    _mark(ls, open_, False)
    store.transact(lambda conn: (
        conn.execute("DELETE FROM labelstudio_paused WHERE project_id = ?", (link.project_id,)),
        note(conn, link.project_id, paused=0, pushed_version=None, pushed_gen=None),
    ))
    log.info("project %s runs again: Label Studio project %s serves its %d open tasks", link.project_id,
             link.ls_project, len(open_))
    return len(open_)
