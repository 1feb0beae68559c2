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

from alloop.labelstudio.config import choices_control
from alloop.labelstudio.connection import Link, note
from alloop.labelstudio.lsapi import LabelStudio
from alloop.labelstudio.predict import ModelCache, predictions
from alloop.store.db import Store
from alloop.store.projects import get_project
from alloop.store.rounds import CURRENT_GEN, record_shown

__all__ = ["PREFIX", "list_tasks", "pause", "push", "push_depth", "resume"]

log = logging.getLogger("alloop.labelstudio")

PREFIX = "alloop-v"
"""Prediction versions alloop owns (and may delete when superseded)."""
PUSH_MIN = 200
"""The fewest ranked tasks a push covers (see :func:`push_depth`)."""
LISTING_SECONDS = 60.0
"""Label Studio's task list is read again at most this often, when the ranking names an item it has not seen."""
_CHUNK = 500
_MARKERS = 8  # concurrent task updates while pausing or resuming


def push_depth(retrain_every: int) -> int:
    """How many of the ranking's best open tasks get a prediction: enough for the labels that come
    before the next retrain's push, many times over (importing and deleting predictions costs Label
    Studio about 3 ms each: a whole 5,000-task ranking took 30 s to replace)."""
    return max(PUSH_MIN, 5 * retrain_every)


def _best(store: Store, project_id: int) -> tuple[list[str], int]:
    """The client ids of the served ranking's best unlabeled items, as many as a push covers, and that number."""
    with store.read() as conn:
        depth = push_depth(get_project(conn, project_id).retrain_every)
        rows = conn.execute(
            "SELECT i.ext_id FROM queue q JOIN items i ON i.idx = q.item_idx WHERE q.project_id = ? "
            "AND q.gen = " + CURRENT_GEN.format("?") + " AND i.labeled = 0 ORDER BY q.rank LIMIT ?",
            (project_id, project_id, depth),
        ).fetchall()
    return [r[0] for r in rows], depth


def _task_ids(store: Store, project_id: int) -> dict[str, int]:
    with store.read() as conn:
        return dict(conn.execute(
            "SELECT ext_id, task_id FROM labelstudio_tasks WHERE project_id = ?", (project_id,)).fetchall())


def list_tasks(store: Store, link: Link, ls: LabelStudio, now: float) -> dict[str, int]:
    """Read every task of the Label Studio project once and remember which item each one is."""
    found = {str(t["data"]["alloop_id"]): t["id"] for t in ls.tasks(link.ls_project)
             if isinstance(t.get("data"), dict) and t["data"].get("alloop_id") is not None}

    def write(conn: Any) -> None:
        conn.execute("DELETE FROM labelstudio_tasks WHERE project_id = ?", (link.project_id,))
        conn.executemany("INSERT OR REPLACE INTO labelstudio_tasks (project_id, task_id, ext_id) VALUES (?, ?, ?)",
                         [(link.project_id, task_id, ext_id) for ext_id, task_id in found.items()])
        note(conn, link.project_id, listed_at=now)

    store.transact(write)
    return found


def push(store: Store, cache: ModelCache, link: Link, ls: LabelStudio, now: float) -> dict[str, Any]:
    """Push the served ranking's predictions and version; answers ``{"version", "tasks", "deleted"}``.

    Only the :func:`push_depth` best open tasks get a prediction: Label Studio serves among those,
    lowest score first. Tasks are listed from Label Studio once, and again when the ranking's best
    items include one not seen there yet (at most once a minute).
    """
    project = ls.project(link.ls_project)
    wanted, depth = _best(store, link.project_id)
    known = _task_ids(store, link.project_id)
    listed_long_ago = link.listed_at is None or now - link.listed_at > LISTING_SECONDS
    if (not known or any(ext_id not in known for ext_id in wanted)) and listed_long_ago:
        known = list_tasks(store, link, ls, now)
    tasks = [{"id": known[ext_id], "data": {"alloop_id": ext_id}} for ext_id in wanted if ext_id in known]
    answer = predictions(store, cache, link.project_id, tasks, choices_control(project.get("label_config")),
                         top=depth)
    name, gen = answer.name, answer.ranking["gen"]
    deleted = 0
    if name == link.pushed_version and gen != link.pushed_gen:  # a new ranking under the same model
        deleted += ls.delete_model_version(link.ls_project, name)
    rows = [{"task": task["id"], "result": r["result"], "score": r["score"], "model_version": name}
            for task, r in zip(answer.tasks, answer.results)]
    for start in range(0, len(rows), _CHUNK):
        ls.import_predictions(link.ls_project, rows[start : start + _CHUNK])
    if rows and project.get("model_version") != name:
        ls.update_project(link.ls_project, model_version=name)
    for version in ls.model_versions(link.ls_project):
        if version.startswith(PREFIX) and version != name:
            deleted += ls.delete_model_version(link.ls_project, version)
    shown = [(idx, answer.ranking["model_version"], r["score"], answer.ranking["strategy"])
             for idx, r in zip(answer.items, answer.results) if idx is not None]
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
    answer = predictions(store, cache, link.project_id, tasks, choices_control(project.get("label_config")),
                         labels=False)
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
