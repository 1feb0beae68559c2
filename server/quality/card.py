"""The dataset card: what a campaign's labeled set is, where it came from, and what to watch for.

One read of the store gives a JSON document (:func:`dataset_card`); :func:`card_markdown`
renders it for people. Sections:

- ``provenance``: annotators with their label counts and time spans, the campaign's time span,
  model versions, and what chose the labeled items (a strategy's ranking, a cold-start rule, the
  pool's random order past a ranking, or nothing: a label given without a lease);
- ``class_balance``: each class's share of the labels beside the newest model's predicted share
  of the unlabeled pool and the eval split's gold share (active learning picks items where the
  model is unsure, so the labeled set's balance is not the pool's);
- ``agreement``: with overlap, mean agreement and each annotator's agreement with the final labels;
- ``quality``: what the data-quality checks found (near-duplicate groups, eval leakage, reviews),
  where they have run;
- ``limitations``: plain sentences a reader of the labels should know, derived from the above.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from alloop.quality import duplicates, leakage
from alloop.quality.annotators import annotator_quality
from alloop.store import Store
from alloop.store.items import counts
from alloop.store.predictions import PREDICTIONS
from alloop.store.projects import Project, get_project
from alloop.store.reviews import review_summary
from alloop.store.votes import vote_summary
from alloop.store.serving import COLD_START, UNRANKED

__all__ = ["FORMATS", "QUALITY_SECTIONS", "card_markdown", "dataset_card"]

FORMATS = ("md", "json")
"""What ``GET /projects/{id}/card`` answers in: Markdown (default) or JSON."""

SKEW = 0.15
"""A class whose labeled share is this far (absolute) from its predicted pool share is named in the limitations."""

FEW_LABELS = 10
"""A class with fewer labels than this is named in the limitations."""

def _duplicates(conn: sqlite3.Connection, project: Project) -> dict[str, Any] | None:
    if project.dedup == "off" and not project.grouped:
        return None
    d = duplicates.summary(conn, project)
    near = "exact duplicates only" if d["threshold"] is None else f"exact and near (cosine >= {d['threshold']})"
    out = {**d, "summary": (
        f"Setting {d['setting']} ({near}): {d['groups']} groups holding {d['grouped_items']} pool items; "
        f"{d['skipped']} items skipped as duplicates of labeled ones (labels saved); {d['propagated']} labels "
        "propagated to exact duplicates.")}
    if d["setting"] == "off":
        out["limitations"] = ["Duplicates are grouped but not acted on (dedup off): the labels may repeat items."]
    elif d["threshold"] is None and project.input == "vector":
        out["limitations"] = ["Only exact duplicate vectors were grouped: near duplicates need a dedup_threshold."]
    elif d["threshold"] is None and project.input == "image":
        out["limitations"] = ["Only images with identical pixels (at the project's size) were grouped: near "
                              "duplicates need a dedup_threshold."]
    return out


def _leakage(conn: sqlite3.Connection, project: Project) -> dict[str, Any] | None:
    if project.dedup == "off" and not project.grouped:
        return None
    r = leakage.report(conn, project)
    out = {**r, "summary": (
        f"{r['eval_items']} eval items duplicate {r['pool_items']} pool items ({r['exact_eval_items']} exactly); "
        f"setting {r['setting']}, {r['dropped']} leaked pool items dropped from the pool.")}
    if r["eval_items"] and r["setting"] == "report":
        out["limitations"] = [f"{r['eval_items']} eval items have duplicates in the pool that may be labeled and "
                              "trained on: eval metrics may be optimistic (leakage: drop removes them)."]
    return out


def _review(conn: sqlite3.Connection, project: Project) -> dict[str, Any] | None:
    queue = review_summary(conn, project, time.time())["review_queue"]
    if not queue["enabled"] and not queue["reviews"]:
        return None
    last = queue["last_check"]
    out = {**queue, "annotators": annotator_quality(conn, project), "summary": (
        f"{queue['reviews']} suspected label errors reviewed: {queue['confirmed']} confirmed, {queue['replaced']} "
        f"replaced (the replaced labels are kept in the export's provenance); {queue['suspects']} suspects wait. "
        + ("" if last is None else f"Last check: {last.get('checked')} labels, {last.get('suspects')} suspects "
                                   f"({last.get('method')})."))}
    if queue["suspects"]:
        out["limitations"] = [f"{queue['suspects']} labels flagged as likely wrong have not been reviewed yet."]
    return out


QUALITY_SECTIONS: dict[str, Callable[[sqlite3.Connection, Project], dict[str, Any] | None]] = {
    "duplicates": _duplicates, "leakage": _leakage, "label_review": _review,
}
"""Data-quality checks that report into the card: name -> reader of (conn, project), None when not run."""


def _iso(ts: float | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _annotators(conn: sqlite3.Connection, project_id: int) -> list[dict[str, Any]]:
    """Who gave the final labels (with overlap: who voted), with counts and time spans."""
    table = "votes" if conn.execute("SELECT 1 FROM votes WHERE project_id = ? LIMIT 1", (project_id,)).fetchone() \
        else "labels"
    rows = conn.execute(
        f"SELECT annotator, COUNT(*), MIN(created_at), MAX(created_at) FROM {table} WHERE project_id = ? "
        "GROUP BY annotator ORDER BY COUNT(*) DESC, annotator",
        (project_id,),
    )
    return [{"annotator": a, "labels" if table == "labels" else "votes": n, "first": _iso(lo), "last": _iso(hi)}
            for a, n, lo, hi in rows]


def _chosen_by(conn: sqlite3.Connection, project_id: int) -> dict[str, int]:
    """How the labeled items were chosen: strategy name, cold-start rule, unranked, or no lease."""
    out: dict[str, int] = {}
    for strategy, n in conn.execute(
        "SELECT strategy, COUNT(*) FROM labels WHERE project_id = ? GROUP BY strategy ORDER BY COUNT(*) DESC",
        (project_id,),
    ):
        out["no lease" if strategy is None else str(strategy)] = n
    return out


def _models(conn: sqlite3.Connection, project_id: int) -> dict[str, Any]:
    row = conn.execute(
        "SELECT COUNT(*), MIN(created_at), MAX(created_at), MAX(version) FROM model_versions WHERE project_id = ?",
        (project_id,),
    ).fetchone()
    latest = conn.execute(
        "SELECT version, n_labels, metrics FROM model_versions WHERE project_id = ? ORDER BY version DESC LIMIT 1",
        (project_id,),
    ).fetchone()
    metrics = json.loads(latest["metrics"]) if latest else {}
    return {
        "versions": row[0], "first": _iso(row[1]), "last": _iso(row[2]),
        "latest": None if latest is None else {
            "version": latest["version"], "labels": latest["n_labels"],
            **{k: metrics[k] for k in ("accuracy", "macro_f1", "micro_f1", "subset_accuracy", "entity_f1",
                                      "eval_size") if k in metrics},
        },
    }


def _predicted_pool(store: Store, conn: sqlite3.Connection, project: Project) -> tuple[np.ndarray, int | None] | None:
    """Counts of the newest model's predicted class over the still unlabeled pool, and its version."""
    predictions = PREDICTIONS.get(store.project_path(project.id))
    if predictions is None:
        return None
    labeled = np.fromiter((r[0] for r in conn.execute(
        "SELECT item_idx FROM labels WHERE project_id = ?", (project.id,))), dtype=np.int64)
    keep = ~np.isin(predictions.idx, labeled)
    pred = predictions.pred[keep].astype(np.int64)
    return np.bincount(pred[pred < len(project.labels)], minlength=len(project.labels)), predictions.version


def _share(n: int, total: int) -> float | None:
    return None if total == 0 else round(n / total, 4)


def _balance(store: Store, conn: sqlite3.Connection, project: Project) -> dict[str, Any]:
    if project.task == "multilabel":  # issue 20: per-label shares of label sets
        from alloop.tasks.multilabel_card import label_balance

        return label_balance(store, conn, project)
    if project.task == "spans":  # spans: entities per type (alloop.tasks.spans_card)
        from alloop.tasks.spans_card import spans_balance

        return spans_balance(store, conn, project)
    labeled = dict(conn.execute(
        "SELECT label, COUNT(*) FROM labels WHERE project_id = ? GROUP BY label", (project.id,)).fetchall())
    gold = dict(conn.execute(
        "SELECT gold, COUNT(*) FROM items WHERE project_id = ? AND split = 'eval' GROUP BY gold", (project.id,)
    ).fetchall())
    predicted = _predicted_pool(store, conn, project)
    n_labeled, n_gold = sum(labeled.values()), sum(gold.values())
    n_pred = int(predicted[0].sum()) if predicted else 0
    classes = []
    for k, name in enumerate(project.labels):
        classes.append({
            "label": name, "labeled": labeled.get(name, 0), "labeled_share": _share(labeled.get(name, 0), n_labeled),
            "pool_predicted_share": _share(int(predicted[0][k]), n_pred) if predicted else None,
            "eval_share": _share(gold.get(name, 0), n_gold) if n_gold else None,
        })
    return {"classes": classes, "labeled": n_labeled, "eval": n_gold,
            "pool_predicted_by": None if predicted is None else {"model_version": predicted[1], "items": n_pred}}


def _limitations(card: dict[str, Any], project: Project) -> list[str]:
    out = []
    balance = card["class_balance"]
    if card["counts"]["labeled"] and any(v for k, v in card["provenance"]["chosen_by"].items()
                                         if k not in ("no lease", UNRANKED) and not k.startswith(COLD_START)):
        out.append("Items were chosen by active learning, so the labeled set is not a random sample of the pool: "
                   "estimates of class frequencies or accuracy from it are biased.")
    few = [f"{c['label']!r} ({c['labeled']})" for c in balance["classes"] if c["labeled"] < FEW_LABELS]
    if few:
        out.append(f"Classes with fewer than {FEW_LABELS} labels: {', '.join(few)}.")
    for c in balance["classes"]:
        pred = c["pool_predicted_share"]
        if pred is not None and c["labeled_share"] is not None and abs(c["labeled_share"] - pred) >= SKEW:
            out.append(f"Class {c['label']!r} is {c['labeled_share']:.0%} of the labels but {pred:.0%} of the "
                       "unlabeled pool by the newest model's predictions.")
    if balance["eval"] == 0:
        out.append("There is no eval split: no metric in this card was measured on held-out gold labels.")
    elif balance["eval"] < 100:
        out.append(f"The eval split has {balance['eval']} items: metrics move by several points between models.")
    if balance["pool_predicted_by"] is None and card["counts"]["unlabeled"]:
        out.append("No model's pool predictions are on file, so the pool's class balance is unknown.")
    if project.labels_per_item == 1:
        out.append("Each item was labeled once: label errors cannot be seen from disagreement.")
    if card["counts"]["unlabeled"]:
        out.append(f"{card['counts']['unlabeled']} pool items are unlabeled; the labeled set covers "
                   f"{card['counts']['labeled']} of {card['counts']['pool']}.")
    for name, section in card["quality"].items():
        if section is None:
            out.append(f"The {name.replace('_', ' ')} check has not run on this project.")
        else:
            out.extend(section.get("limitations", []))
    return out


def dataset_card(store: Store, project_id: int) -> dict[str, Any]:
    """The card of one project, as JSON-ready data (one consistent read)."""
    with store.read() as conn:
        project = get_project(conn, project_id)
        c = counts(conn, project_id, time.time())
        span = conn.execute("SELECT MIN(created_at), MAX(created_at) FROM labels WHERE project_id = ?",
                            (project_id,)).fetchone()
        votes = vote_summary(conn, project, c["labeled"], time.time())
        card: dict[str, Any] = {
            "project": {
                "id": project.id, "name": project.name, "labels": project.labels, "input": project.input,
                "model": project.model, "strategy": project.strategy, "budget": project.budget,
                "budget_unit": project.budget_unit, "labels_per_item": project.labels_per_item,
                "state": project.state, "stop_reason": project.stop_reason,
                "created_at": _iso(project.created_at), "stopped_at": _iso(project.stopped_at),
            },
            "counts": {k: c[k] for k in ("pool", "labeled", "unlabeled", "eval")},
            "provenance": {
                "first_label": _iso(span[0]), "last_label": _iso(span[1]),
                "annotators": _annotators(conn, project_id),
                "chosen_by": _chosen_by(conn, project_id),
                "models": _models(conn, project_id),
            },
            "class_balance": _balance(store, conn, project),
            "agreement": None if project.labels_per_item == 1 and votes["mean_agreement"] is None else {
                "labels_per_item": project.labels_per_item, "mean_agreement": votes["mean_agreement"],
                "annotators": votes["annotator_agreement"],
            },
            "quality": {name: read(conn, project) for name, read in QUALITY_SECTIONS.items()},
        }
    card["limitations"] = _limitations(card, project)
    card["generated_at"] = _iso(time.time())
    return card


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{share:.1%}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("–" if v is None else str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return lines


def card_markdown(card: dict[str, Any]) -> str:
    """The card for people: headings, tables and the limitations as a list."""
    p, prov, bal = card["project"], card["provenance"], card["class_balance"]
    model = p["model"]["name"] + (f" {json.dumps(p['model']['params'])}" if p["model"].get("params") else "")
    strategy = p["strategy"]["name"] + (f" {json.dumps(p['strategy']['params'])}" if p["strategy"].get("params") else "")
    out = [
        f"# Dataset card: {p['name']} (project {p['id']})", "",
        f"Generated {card['generated_at']} by alloop. Labels: {', '.join(p['labels'])}. Input: {p['input']}. "
        f"Model: {model}. Strategy: {strategy}. State: {p['state']}"
        + (f" ({p['stop_reason']})" if p["stop_reason"] else "") + ".", "",
        "## Contents", "",
        *_table(["pool items", "labeled", "unlabeled", "eval items", "budget"],
                [[card["counts"]["pool"], card["counts"]["labeled"], card["counts"]["unlabeled"], card["counts"]["eval"],
                  "none" if p["budget"] is None else f"{p['budget']} {p['budget_unit']}"]]), "",
        "## Provenance", "",
        f"Campaign created {p['created_at']}; labels from {prov['first_label'] or '–'} to {prov['last_label'] or '–'}.", "",
    ]
    if prov["annotators"]:
        unit = "labels" if "labels" in prov["annotators"][0] else "votes"
        out += _table(["annotator", unit, "first", "last"],
                      [[a["annotator"], a[unit], a["first"], a["last"]] for a in prov["annotators"]]) + [""]
    if prov["chosen_by"]:
        out += ["What chose the labeled items:", ""]
        out += _table(["chosen by", "labels"], [[k, v] for k, v in prov["chosen_by"].items()]) + [""]
    models = prov["models"]
    if models["latest"]:
        latest = models["latest"]
        scores = ", ".join(f"{k} {latest[k]:.4f}" for k in ("accuracy", "macro_f1", "entity_f1") if k in latest)
        out += [f"{models['versions']} model version{'s' if models['versions'] != 1 else ''}, "
                f"{models['first']} to {models['last']}. The newest, "
                f"v{latest['version']} on {latest['labels']} labels: {scores or 'no eval metrics'}.", ""]
    else:
        out += ["No model has been trained.", ""]
    out += ["## Class balance", ""]
    if bal.get("unit") == "entities":  # spans: counts are entities of each type
        out += [f"Entities of each type: {bal['entities']['labeled']} in the labels, {bal['entities']['eval']} in the "
                "eval split's gold.", ""]
    predicted = bal["pool_predicted_by"]
    out += _table(["label", "labeled", "share of labels", "predicted share of unlabeled pool", "share of eval"],
                  [[c["label"], c["labeled"], _pct(c["labeled_share"]), _pct(c["pool_predicted_share"]),
                    _pct(c["eval_share"])] for c in bal["classes"]]) + [""]
    if predicted:
        over = f"{predicted['items']} unlabeled items" if "items" in predicted else f"{predicted['entities']} predicted entities"
        out += [f"Pool predictions by model v{predicted['model_version']} over {over}.", ""]
    agreement = card["agreement"]
    out += ["## Agreement", ""]
    if agreement is None:
        out += ["Each item was labeled once (no overlap): there is no agreement to report.", ""]
    else:
        mean = agreement["mean_agreement"]
        out += [f"{agreement['labels_per_item']} labels per item; mean agreement "
                f"{'–' if mean is None else f'{mean:.1%}'}.", ""]
        if agreement["annotators"]:
            out += _table(["annotator", "votes on decided items", "agrees with final label"],
                          [[a, v["votes"], _pct(v["agreement"])] for a, v in agreement["annotators"].items()]) + [""]
    for name, section in card["quality"].items():
        out += [f"## {name.replace('_', ' ').capitalize()}", ""]
        out += [section["summary"] if section else "Not run on this project.", ""]
        if name == "label_review" and section and section["annotators"]:
            out += _table(["annotator", "answers", "agrees with final label", "reviewed", "upheld by review",
                           "reviews given"],
                          [[a["annotator"], a["answers"], _pct(a["agreement"]), a["reviewed"],
                            _pct(a["review_agreement"]), a["reviews_given"]] for a in section["annotators"]]) + [""]
    out += ["## Known limitations", ""]
    out += [f"- {line}" for line in card["limitations"]] or ["- None found."]
    return "\n".join(out) + "\n"
