"""Where a client finds an item's image: a link to the server's image route, signed when auth is on.

A browser's ``<img src>`` (the labeling page, Label Studio) sends no bearer token, so with
``ALLOOP_ADMIN_TOKEN`` set the links alloop hands out carry ``sig``: an HMAC of the project and
item under the admin token. A link opens that one item's image and nothing else; changing the
admin token revokes every link.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote

from alloop.image_files import FILE_PREFIX

__all__ = ["image_route", "shown_image", "signature", "valid_signature"]


def signature(secret: str, project_id: int, item_id: str) -> str:
    """The ``sig`` of one item's image link."""
    message = f"alloop-image:{project_id}:{item_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def valid_signature(secret: str, project_id: int, item_id: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(signature(secret, project_id, item_id), given)


def image_route(project_id: int, item_id: str, secret: str | None) -> str:
    """The path of the route that serves an item's image (a path on this server; ``sig`` with auth on)."""
    path = f"/projects/{project_id}/items/{quote(item_id, safe='')}/image"
    return path if secret is None else f"{path}?sig={signature(secret, project_id, item_id)}"


def shown_image(project_id: int, item_id: str, stored: str | None, secret: str | None) -> dict[str, Any]:
    """What ``/next`` shows of an item's stored image: ``image`` (an inline data URL) or ``image_url``
    (a link as given, or the image route for a file under the images root); nothing without one."""
    if stored is None:
        return {}
    if stored.startswith("data:"):
        return {"image": stored}
    if stored.startswith(FILE_PREFIX):
        return {"image_url": image_route(project_id, item_id, secret)}
    return {"image_url": stored}
