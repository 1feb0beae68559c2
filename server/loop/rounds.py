"""One round, computed: 'embed', 'train' or 'cold_start'. Imports the whole training stack."""

from __future__ import annotations

from alloop import distributed
from alloop.loop.embedding import embed_round
from alloop.loop.outcome import RoundWrite
from alloop.loop.snapshot import take_snapshot
from alloop.loop.training import cold_start_round, train_round
from alloop.settings import Settings
from alloop.store.db import Store

__all__ = ["execute_round"]


def execute_round(store: Store, settings: Settings, project_id: int, due: str) -> RoundWrite:
    """Compute one round; the caller's store makes its write (``RoundWrite.apply``)."""
    distributed.use(settings.ray_address)
    if due == "embed":
        done, apply = embed_round(store, project_id, settings.embed_batch_rows)
        return RoundWrite({"ran": done > 0, "embedded": done}, apply)
    snap = take_snapshot(store, project_id)
    if snap is None:
        return RoundWrite({"ran": False})
    if due == "train":
        return train_round(store, settings, snap)
    return cold_start_round(store, settings, snap)
