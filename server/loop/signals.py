"""Wake-ups for long-polls: the loop thread says when a project's ranking (or state) changed.

``/next`` waits here while the served ranking is too stale; the controller, a thread, calls
:meth:`Changes.notify` after every round it records, and each waiting request resumes on its
own event loop.
"""

from __future__ import annotations

import asyncio
import threading
from contextlib import suppress

__all__ = ["Changes"]


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


class Changes:
    """Per-project wake-ups, safe to notify from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[int, list[tuple[asyncio.AbstractEventLoop, asyncio.Future]]] = {}

    def notify(self, project_id: int) -> None:
        """Wake everyone waiting on ``project_id``."""
        with self._lock:
            waiters = self._waiters.pop(project_id, [])
        for loop, future in waiters:
            with suppress(RuntimeError):  # that event loop has closed: nobody is waiting any more
                loop.call_soon_threadsafe(_resolve, future)

    async def wait(self, project_id: int, timeout: float) -> bool:
        """Wait until ``project_id`` changes or ``timeout`` seconds pass; True if it changed."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        entry = (loop, future)
        with self._lock:
            self._waiters.setdefault(project_id, []).append(entry)
        try:
            await asyncio.wait_for(future, max(0.0, timeout))
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            with self._lock:
                waiting = self._waiters.get(project_id)
                if waiting and entry in waiting:
                    waiting.remove(entry)
