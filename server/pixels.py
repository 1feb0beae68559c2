"""The pixels an image project's model reads: each image decoded once, at import, to a fixed size.

Every image (inline ``image`` or a file named by ``image_path``) is decoded with Pillow, turned to
the project's color (``gray``: one channel; ``rgb``: three, transparency dropped), resized (stretched,
bilinear) to its ``width`` x ``height``, and stored as float32 in [0, 1], channel first, as one row of
the project's feature file. So every model reads them: the CNN reshapes a row to (C, H, W), the
vector models read it flat; cold start, duplicates and the diversity strategies work on it
unchanged; and the pool is memory-mapped for scoring, never held whole in memory. 28x28 gray is
3 KB an item: 31 MB for 10,000 MNIST digits.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from alloop.errors import Invalid
from alloop.image_files import read_image_file
from alloop.images import MAX_IMAGE_PIXELS
from alloop.schemas import ImageSpec, ItemIn

__all__ = ["MAX_IMPORT_BYTES", "decode", "item_pixels", "spec_of"]

MAX_IMPORT_BYTES = 256 * 1024 * 1024
"""Most pixel bytes one import decodes (10,000 items of 64x64 rgb fit; larger pools come in several uploads)."""
_FORMATS = ("PNG", "JPEG")


def spec_of(image: dict[str, Any] | None) -> ImageSpec:
    """A project's stored image settings (None: the defaults)."""
    return ImageSpec.model_validate(image or {})


def decode(raw: bytes, spec: ImageSpec, what: str = "image") -> np.ndarray:
    """(channels * height * width,) float32 in [0, 1] from PNG or JPEG bytes; ``ValueError`` says what is wrong."""
    try:
        with warnings.catch_warnings():  # our pixel limit below replaces Pillow's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as picture:
                if picture.format not in _FORMATS:
                    raise ValueError(f"{what}: a {picture.format or 'unknown'} file, not a PNG or a JPEG")
                width, height = picture.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ValueError(f"{what}: {width}x{height} pixels; at most {MAX_IMAGE_PIXELS}")
                picture = ImageOps.exif_transpose(picture)  # a phone photo taken sideways, upright
                converted = picture.convert("RGB" if spec.color == "rgb" else "L")
                resized = converted.resize((spec.width, spec.height), Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise ValueError(f"{what}: not an image Pillow can read (send a PNG or a JPEG)") from None
    except (OSError, SyntaxError, EOFError) as exc:
        raise ValueError(f"{what}: a broken image ({exc})") from None
    values = np.asarray(resized, dtype=np.float32) / 255.0
    if values.ndim == 3:  # (H, W, C) -> (C, H, W)
        values = values.transpose(2, 0, 1)
    return np.ascontiguousarray(values).reshape(-1)


def _raw(item: ItemIn, root: Path | None, where: str) -> bytes:
    if item.image is not None:  # checked at parse time: a data URL of a PNG or JPEG
        return base64.b64decode(item.image.partition(",")[2])
    if item.image_path is None:
        raise Invalid(f"{where}: this project takes image input; give 'image' (a PNG or JPEG, inline) or "
                      "'image_path' (a file under the server's images root)")
    if root is None:
        raise Invalid(f"{where}.image_path: this server has no images root; start it with --image-root DIR (or "
                      "ALLOOP_IMAGE_ROOT), or send the image inline as 'image'")
    return read_image_file(root, item.image_path)


def item_pixels(items: Sequence[ItemIn], spec: ImageSpec, root: Path | None,
                only: Sequence[int] | None = None) -> np.ndarray:
    """(len(only), values) float32 pixels of an import's items (those at positions ``only``, default all),
    in order; :class:`Invalid` naming the first item (``items.<n>``) whose image is missing, outside the
    root, unreadable or too large."""
    dim = spec.width * spec.height * spec.channels
    chosen = range(len(items)) if only is None else only
    if len(chosen) * dim * 4 > MAX_IMPORT_BYTES:
        most = MAX_IMPORT_BYTES // (dim * 4)
        raise Invalid(f"items: {len(chosen)} images of {spec.width}x{spec.height} {spec.color} are more than "
                      f"{MAX_IMPORT_BYTES // 2**20} MiB of pixels; import at most {most} per upload")
    out = np.empty((len(chosen), dim), dtype=np.float32)
    for k, n in enumerate(chosen):
        item = items[n]
        where = f"items.{n} (id {item.id!r})"
        try:
            out[k] = decode(_raw(item, root, where), spec)
        except ValueError as exc:
            raise Invalid(f"{where}: {exc}") from None
    return out
