"""Simulated annotators that answer from gold labels over HTTP.

Used by the end-to-end tests and the loop benchmark: several threads poll ``/next``,
"think" for a while, and send the true label back, recording what they held and when.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

import httpx

from alloop.client import Client

__all__ = ["Ledger", "annotate", "run_annotators"]


@dataclass
class Ledger:
    """What the annotators saw: hold intervals per item, acknowledged labels, latencies."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    holds: dict[str, list[tuple[str, float, float]]] = field(default_factory=lambda: defaultdict(list))
    acknowledged: dict[str, str] = field(default_factory=dict)
    next_seconds: list[float] = field(default_factory=list)
    label_seconds: list[float] = field(default_factory=list)
    duplicates: int = 0
    rejected: int = 0
    done_reason: str | None = None
    # every served batch: the ranking it came from (labels behind when served), its items' provenance
    batches: list[dict] = field(default_factory=list)
    waits: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # empty answers, by reason

    def overlapping_holds(self) -> list[str]:
        """Items that two annotators held at the same moment (must be empty)."""
        bad = []
        for item, holds in self.holds.items():
            ordered = sorted(holds, key=lambda h: h[1])
            if any(a != b and start < end for (a, _, end), (b, start, _) in zip(ordered, ordered[1:])):
                bad.append(item)
        return bad


def _record(ledger: Ledger, name: str, items: list[dict], leased_at: float, result: dict, labels: list[dict]) -> None:
    with ledger.lock:
        for item in items:
            ledger.holds[item["id"]].append((name, leased_at, time.monotonic()))
        ledger.duplicates += result["duplicates"]
        ledger.rejected += len(result["rejected"])
        if result["accepted"] == len(labels):
            ledger.acknowledged.update({lab["item_id"]: lab["label"] for lab in labels})


def annotate(client: Client, project_id: int, name: str, gold: dict[str, str], ledger: Ledger, *,
             n: int = 10, think_seconds: float = 0.0, stop_at: int | None = None) -> None:
    """Poll, label with the gold label, repeat; stop when done, at ``stop_at`` labels, or if the server dies."""
    while stop_at is None or len(ledger.acknowledged) < stop_at:
        try:
            started = time.perf_counter()
            answer = client.next(project_id, name, n)
            ledger.next_seconds.append(time.perf_counter() - started)
            if answer["done"]:
                ledger.done_reason = answer["reason"]
                return
            if not answer["items"]:
                with ledger.lock:
                    ledger.waits[str(answer.get("reason"))] += 1
                time.sleep(min(0.05, answer.get("retry_after") or 0.05))
                continue
            leased_at = time.monotonic()
            with ledger.lock:
                ledger.batches.append({
                    "annotator": name, "at": leased_at, "ranking": answer.get("ranking"),
                    "items": [(it["id"], it.get("strategy"), it.get("model_version")) for it in answer["items"]],
                })
            time.sleep(think_seconds * len(answer["items"]))
            labels = [{"item_id": it["id"], "label": gold[it["id"]], "annotator": name} for it in answer["items"]]
            started = time.perf_counter()
            result = client.label(project_id, labels)
            ledger.label_seconds.append(time.perf_counter() - started)
        except httpx.TransportError:
            return  # the server went away
        _record(ledger, name, answer["items"], leased_at, result, labels)


def run_annotators(url: str, project_id: int, gold: dict[str, str], ledger: Ledger, *, annotators: int = 3,
                   n: int = 10, think_seconds: float = 0.0, stop_at: int | None = None) -> None:
    """Run ``annotators`` threads, each with its own connection, until they all stop."""

    def one(k: int) -> None:
        with Client(url, retries=0) as client:
            annotate(client, project_id, f"annotator-{k}", gold, ledger, n=n, think_seconds=think_seconds,
                     stop_at=stop_at)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(annotators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
