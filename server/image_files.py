"""Image files on the server's disk: paths under one images root, checked, and read back safely.

An item of an image project may name its image by ``image_path``: a relative path under the
server's images root (``ALLOOP_IMAGE_ROOT`` or ``alloop serve --image-root``). The path is checked
twice, by the same function: at import (it must exist, stay inside the root, and be a readable PNG or
JPEG) and every time the file is served, since a file or a symlink may change after the import.
Inside the root means after resolving every symlink: a link that leads out of the root is refused
like a ``..``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

__all__ = ["FILE_PREFIX", "MAX_FILE_BYTES", "MAX_PATH_CHARS", "check_image_path", "read_image_file", "resolve"]

FILE_PREFIX = "file:"
"""How ``item_images`` stores an image given by ``image_path``: ``file:`` + the relative path."""
MAX_FILE_BYTES = 20 * 1024 * 1024
"""Largest image file read from the images root (a photo from a phone is a few MB)."""
MAX_PATH_CHARS = 1024


def check_image_path(value: str) -> str:
    """A relative path (``digits/0001.png``): no ``..``, no absolute path, no backslash or control
    characters; answers it normalized (``./a//b.png`` -> ``a/b.png``). Raises ``ValueError``."""
    path = value.strip()
    if not path or len(path) > MAX_PATH_CHARS or any(ord(c) < 32 or c == "\\" for c in path):
        raise ValueError(f"image_path: a relative path like digits/0001.png, at most {MAX_PATH_CHARS} characters, "
                         "with / between folders (no backslash or control characters)")
    pure = PurePosixPath(path)
    if pure.is_absolute() or path.startswith("~"):
        raise ValueError(f"image_path: {path!r} is absolute; give it relative to the server's images root")
    if ".." in pure.parts:
        raise ValueError(f"image_path: {path!r} leaves the images root ('..' is not allowed)")
    normalized = str(pure)
    if normalized in (".", ""):
        raise ValueError("image_path: names the images root itself, not a file")
    return normalized


def resolve(root: Path, relative: str) -> Path:
    """The file ``relative`` names under ``root``, every symlink resolved, checked to be a regular file
    inside the root. Raises ``ValueError`` saying what is wrong (never how the root is laid out beyond
    the path given)."""
    relative = check_image_path(relative)
    base = Path(root).resolve()
    try:
        target = (base / relative).resolve(strict=True)
    except FileNotFoundError:
        raise ValueError(f"image_path: {relative!r} does not exist under the images root") from None
    except (OSError, RuntimeError) as exc:  # a symlink loop, a path too long
        raise ValueError(f"image_path: {relative!r} cannot be opened ({type(exc).__name__})") from None
    if not target.is_relative_to(base):
        raise ValueError(f"image_path: {relative!r} leads outside the images root (through a symlink)")
    if not target.is_file():
        raise ValueError(f"image_path: {relative!r} is not a file")
    return target


def read_image_file(root: Path, relative: str) -> bytes:
    """The bytes of the file ``relative`` names under ``root`` (see :func:`resolve`), at most
    :data:`MAX_FILE_BYTES`; opened without following a symlink swapped in after the check."""
    target = resolve(root, relative)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        raise ValueError(f"image_path: {relative!r} cannot be read ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"image_path: {relative!r} is not a file")
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(f"image_path: {relative!r} is {info.st_size} bytes; at most {MAX_FILE_BYTES}")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
