"""Load generator: many annotator threads polling ``/next`` and labeling over loopback HTTP.

Each annotator labels most of what it gets and skips the rest (a skipped item stays leased
to it and comes back on its next poll), now and then walks away from a whole batch for
longer than the lease (so leases expire and items return to the queue for the others), and
records every grant it received with the lease expiry the server gave. :func:`violations` then checks that no item was ever held by two
annotators at once and that nothing was served after its label was acknowledged.
Used by the reliability tests and ``scripts/bench_load.py``.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from urllib.parse import urlsplit

__all__ = ["Behaviour", "LoadResult", "run_load", "violations", "percentile"]


@dataclass
class LoadResult:
    """Latencies (seconds) and what every annotator was granted and labeled."""

    next_seconds: list[float] = field(default_factory=list)
    label_seconds: list[float] = field(default_factory=list)
    # item -> (annotator, request sent, answer received, lease expiry the server announced)
    grants: dict[str, list[tuple[str, float, float, float]]] = field(default_factory=lambda: defaultdict(list))
    acknowledged: dict[str, float] = field(default_factory=dict)  # item -> when its label was acknowledged
    errors: int = 0
    failures: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # what the errors were
    wall_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        return len(self.next_seconds) + len(self.label_seconds)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class _Http:
    """One keep-alive HTTP/1.1 connection (stdlib ``http.client``), reopened after a transport error.

    A plain client on purpose: httpx's sync client costs about as much CPU per request as the
    server itself (1.56 vs 1.44 ms here), which on a 2-core machine measured the client, not the server.
    """

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Content-Type": "application/json", **headers}
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60.0)
        try:
            self.conn.request("POST", path, json.dumps(body), self.headers)
            answer = self.conn.getresponse()
            return answer.status, json.loads(answer.read())
        except (OSError, http.client.HTTPException):
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _constant(item_id: str) -> str:
    return "a"


@dataclass(frozen=True)
class Behaviour:
    """How an annotator answers: which label, what it skips, when it walks away and for how long."""

    abandon: float = 0.1
    label_of: Callable[[str], str] = _constant
    breaks: float = 0.0
    break_seconds: float = 0.0


def _annotator(urls: list[str], pid: int, name: str, polls: int, how: Behaviour, result: LoadResult,
               headers: dict[str, str], seed: int) -> None:
    rng = random.Random(seed)
    at = seed % len(urls)
    conn = _Http(urls[at], headers)

    def fail(what: str) -> None:
        with result.lock:
            result.errors += 1
            result.failures[what] += 1

    def fail_over(what: str) -> None:  # a transport error: count it, and go to the next server (a load balancer would)
        nonlocal at, conn
        fail(what)
        conn.close()
        at = (at + 1) % len(urls)
        conn = _Http(urls[at], headers)

    try:
        for _ in range(polls):
            started, sent = time.perf_counter(), time.time()
            try:
                status, body = conn.post(f"/projects/{pid}/next", {"annotator": name, "n": rng.randint(1, 5)})
            except (OSError, http.client.HTTPException) as exc:
                fail_over(f"next: {type(exc).__name__}")
                continue
            if status != 200:
                fail(f"next: {status} {body.get('detail', '')}"[:200])
                continue
            elapsed = time.perf_counter() - started
            received = time.time()
            items = body.get("items", [])
            with result.lock:
                result.next_seconds.append(elapsed)
                for item in items:
                    result.grants[item["id"]].append((name, sent, received, _epoch(body["lease_expires_at"])))
            if body.get("done"):
                break
            if items and rng.random() < how.breaks:  # walk away: the whole batch's leases run out
                time.sleep(how.break_seconds)
                continue
            keep = [it for it in items if rng.random() >= how.abandon]
            if keep:
                labels = [{"item_id": it["id"], "label": how.label_of(it["id"]), "annotator": name} for it in keep]
                started = time.perf_counter()
                try:
                    status, answer = conn.post(f"/projects/{pid}/labels", {"labels": labels})
                except (OSError, http.client.HTTPException) as exc:
                    fail_over(f"labels: {type(exc).__name__}")  # not acknowledged: the items come back later
                    continue
                if status != 200:
                    fail(f"labels: {status} {answer.get('detail', '')}"[:200])
                elapsed = time.perf_counter() - started
                acked = time.time()
                with result.lock:
                    result.label_seconds.append(elapsed)
                    if status == 200 and answer["accepted"] == len(labels):
                        for it in keep:
                            result.acknowledged.setdefault(it["id"], acked)
    finally:
        conn.close()


def run_load(url: str | Sequence[str], pid: int, *, annotators: int, polls: int, behaviour: Behaviour = Behaviour(),
             headers: dict[str, str] | None = None, result: LoadResult | None = None) -> LoadResult:
    """Run ``annotators`` threads of ``polls`` polls each; returns what they saw.

    ``url`` may list several servers sharing one store (replicas): annotator k starts on the k-th
    (round robin) and moves to the next one when a request fails in transport. ``result``: filled in
    as the load runs (another thread may watch its progress under ``result.lock``); default a new one.
    """
    result = LoadResult() if result is None else result
    urls = [url] if isinstance(url, str) else list(url)
    threads = [
        threading.Thread(target=_annotator, args=(urls, pid, f"ann-{k}", polls, behaviour, result, headers or {}, k))
        for k in range(annotators)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.wall_seconds = time.perf_counter() - started
    return result


def violations(result: LoadResult, lease_seconds: float) -> list[str]:
    """Items held by two annotators at once, or served after their label was acknowledged.

    A grant's hold runs from the server's claim (its announced expiry minus the lease) to
    that expiry; responses can arrive late under load, so client receive times would
    misorder them.
    """
    found = []
    for item, grants in result.grants.items():
        ordered = sorted(grants, key=lambda g: g[3])
        for (a, _, _, expires_a), (b, _, _, expires_b) in zip(ordered, ordered[1:]):
            claimed_b = expires_b - lease_seconds
            if a != b and claimed_b < expires_a - 1e-6:
                found.append(f"{item}: {b} claimed it at {claimed_b:.3f} while {a} held it until {expires_a:.3f}")
        acked = result.acknowledged.get(item)
        # a late label on an expired lease is accepted; what must never happen is a /next
        # *sent* after the label was acknowledged returning the item
        if acked is not None and any(sent > acked for _, sent, _, _ in grants):
            found.append(f"{item}: served after its label was acknowledged")
    return found


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]
