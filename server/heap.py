"""Keep the garbage collector's full passes off the request path.

A full collection walks every tracked object, and the server holds ~190k of them from its
imports (FastAPI, pydantic, numpy, and scikit-learn once a campaign is checked). Under load,
requests promote enough short-lived objects to trigger a full pass about once a second:
100-150 ms with the event loop stopped, which was the whole of /next's p99 (160 ms against
a p50 of 55 ms; 87 ms p99 once frozen, from an ad-hoc /health probe during 50-annotator load).

``gc.freeze()`` moves every object alive now into a permanent generation that collections
skip. It runs at start-up and again whenever new modules were imported since the last time
(imports are finite, so freezes are rare); objects frozen while alive are never collected,
which costs at most the few request objects in flight at those moments.
"""

from __future__ import annotations

import asyncio
import gc
import sys

__all__ = ["freeze_imports", "refreeze_on_imports"]

CHECK_SECONDS = 1.0


def freeze_imports() -> int:
    """Collect once, then freeze what is alive (the imported modules' objects); returns the module count."""
    gc.collect()
    gc.freeze()
    return len(sys.modules)


async def refreeze_on_imports(every: float = CHECK_SECONDS) -> None:
    """Freeze again whenever ``sys.modules`` grew (lazy imports of the training stack); runs until cancelled."""
    seen = freeze_imports()
    while True:
        await asyncio.sleep(every)
        if len(sys.modules) != seen:
            seen = freeze_imports()
