"""The SQLite store: the single source of truth for every campaign.

Functions here take a connection; every write goes through ``Store.write()``, one
writer at a time, inside ``BEGIN IMMEDIATE``.
"""

from alloop.store.db import Store

__all__ = ["Store"]
