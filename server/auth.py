"""Bearer-token check: with ``ALLOOP_ADMIN_TOKEN`` set, every call but /health needs it."""

from __future__ import annotations

import hmac

from fastapi import Request

from server.errors import Unauthorized

__all__ = ["require_token"]


def require_token(request: Request) -> None:
    """Reject the call unless it carries ``Authorization: Bearer <admin token>`` (when one is set)."""
    token = request.app.state.settings.admin_token
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token.get_secret_value()):
        raise Unauthorized("missing or wrong bearer token (Authorization: Bearer <ALLOOP_ADMIN_TOKEN>)")
