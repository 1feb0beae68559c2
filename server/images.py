"""Images that items carry for display: a link (``image_url``) or a PNG / JPEG given inline (``image``).

The image is what a person looks at while labeling; the model still reads the item's features
or text. Inline images are checked before anything is stored: base64 that decodes, the bytes of
a PNG or a JPEG (whatever the data URL claims), a size limit, a pixel limit, and an image that
Pillow can read. They are kept as one normalized data URL, and served back in ``/next``.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from urllib.parse import urlsplit

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "MAX_URL_CHARS", "check_image", "check_image_url", "png_data_url"]

MAX_IMAGE_BYTES = 2 * 1024 * 1024
"""Largest inline image, decoded (a link has no limit: the browser fetches it)."""
MAX_IMAGE_PIXELS = 40_000_000
"""Largest width x height: a small file can still unpack into gigabytes."""
MAX_URL_CHARS = 4096

_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}


def _sniff(raw: bytes) -> str | None:
    return next((kind for magic, kind in _MAGIC.items() if raw.startswith(magic)), None)


def check_image(value: str) -> str:
    """A data URL (``data:image/png;base64,...``) or bare base64 of a PNG or JPEG, checked; answers
    the normalized data URL. Raises ``ValueError`` saying what is wrong."""
    declared = None
    payload = value.strip()
    if payload.startswith("data:"):
        header, comma, payload = payload.partition(",")
        if not comma or not header.endswith(";base64"):
            raise ValueError("image: a data URL must be base64, like data:image/png;base64,iVBOR...")
        declared = header[len("data:") : -len(";base64")].lower()
        if declared not in _FORMATS.values():
            raise ValueError(f"image: type {declared!r} is not accepted; send image/png or image/jpeg")
    if len(payload) > (MAX_IMAGE_BYTES * 4) // 3 + 4:
        raise ValueError(f"image: more than {MAX_IMAGE_BYTES} bytes; link large images with image_url")
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("image: not valid base64") from None
    kind = _sniff(raw)
    if kind is None:
        raise ValueError("image: the bytes are not a PNG or a JPEG")
    if declared is not None and declared != kind:
        raise ValueError(f"image: the data URL says {declared} but the bytes are {kind}")
    try:
        with warnings.catch_warnings():  # the pixel limit below is ours; Pillow's own warning is not needed
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as picture:
                width, height = picture.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ValueError(f"image: {width}x{height} pixels; at most {MAX_IMAGE_PIXELS}")
                if _FORMATS.get(picture.format or "") != kind:
                    raise ValueError(f"image: not a readable {kind}")
                picture.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"image: not a readable {kind} ({exc})") from None
    return f"data:{kind};base64,{base64.b64encode(raw).decode('ascii')}"


def check_image_url(value: str) -> str:
    """An absolute http(s) URL, or a path on this server (``/static/cat.png``); raises ``ValueError``."""
    url = value.strip()
    if not url or len(url) > MAX_URL_CHARS or any(c.isspace() for c in url):
        raise ValueError(f"image_url: a URL without spaces, at most {MAX_URL_CHARS} characters")
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return url
    if not parts.scheme and not parts.netloc and url.startswith("/") and not url.startswith("//"):
        return url
    raise ValueError("image_url: an http(s) URL (https://host/cat.png) or a path on this server (/files/cat.png); "
                     "send inline images as image")


def png_data_url(pixels: np.ndarray) -> str:
    """A grayscale PNG data URL from a 2-D array of 0-255 values (the digits demo's 8x8 images)."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
