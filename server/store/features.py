"""Feature matrices beside the store: one append-only float32 file per project.

Rows are appended and fsynced *before* the items that point at them are committed,
so a crash leaves at worst unreferenced rows at the end, never an item without its
vector. Scoring memory-maps the file; nothing reads vectors row by row from SQLite.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = ["FeatureFile"]

_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()

# Maps of complete rows, reused while the file is the same one (device, inode, modification time)
# with the same length: it only ever grows
# (a crash's torn row is cut back first), so rows mapped once never change. A new map costs
# 0.15 ms, which a simulated batch-1 round paid every round.
_MAPS: OrderedDict[tuple[str, int, int, int, int, int], np.ndarray] = OrderedDict()
_MAPS_SIZE = 16


def _lock_for(path: Path) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path.resolve(), threading.Lock())


class FeatureFile:
    """The ``(rows, dim)`` float32 matrix stored at ``path``."""

    def __init__(self, path: Path, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"feature dimension must be >= 1, got {dim}")
        self.path = Path(path)
        self.dim = dim
        self._row_bytes = 4 * dim

    def rows(self) -> int:
        """Complete rows on disk."""
        try:
            return self.path.stat().st_size // self._row_bytes
        except FileNotFoundError:
            return 0

    def append(self, matrix: np.ndarray, durable: bool = True) -> int:
        """Append ``matrix`` (fsynced unless ``durable`` is false: a throwaway store's); returns the row
        index of its first row."""
        matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] != self.dim:
            raise ValueError(f"expected rows of length {self.dim}, got shape {matrix.shape}")
        with _lock_for(self.path):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                # other processes append too (the training worker; replicas sharing the folder): one at a
                # time, or one would cut another's half-written row as a torn one
                fcntl.flock(fd, fcntl.LOCK_EX)
                start = os.fstat(fd).st_size // self._row_bytes
                os.ftruncate(fd, start * self._row_bytes)  # drop a torn row from a crash
                os.lseek(fd, 0, os.SEEK_END)
                view = memoryview(matrix).cast("B")
                while view:
                    view = view[os.write(fd, view) :]
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)  # closing releases the lock
        return start

    def read_rows(self, rows: list[int]) -> np.ndarray:
        """The given rows, read directly (``/next`` needs a handful; no memory map per request)."""
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        if not rows:
            return out
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for k, row in enumerate(rows):
                data = os.pread(fd, self._row_bytes, row * self._row_bytes)
                if len(data) != self._row_bytes:
                    raise IndexError(f"feature row {row} is beyond the end of {self.path}")
                out[k] = np.frombuffer(data, dtype=np.float32)
        finally:
            os.close(fd)
        return out

    def matrix(self) -> np.ndarray:
        """A read-only memory map of every complete row (an empty array when none)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return np.empty((0, self.dim), dtype=np.float32)
        rows = stat.st_size // self._row_bytes
        if rows == 0:
            return np.empty((0, self.dim), dtype=np.float32)
        key = (str(self.path), stat.st_dev, stat.st_ino, stat.st_mtime_ns, rows, self.dim)
        with _LOCKS_GUARD:
            mapped = _MAPS.get(key)
            if mapped is not None:
                _MAPS.move_to_end(key)
                return mapped
        # a plain ndarray over the map: indexing an np.memmap goes through its Python __getitem__ and
        # __array_finalize__ (a few microseconds a call, three calls a round)
        mapped = np.asarray(np.memmap(self.path, dtype=np.float32, mode="r", shape=(rows, self.dim)))
        with _LOCKS_GUARD:
            _MAPS[key] = mapped
            while len(_MAPS) > _MAPS_SIZE:
                _MAPS.popitem(last=False)
        return mapped
