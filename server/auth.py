"""Who is calling, and may they? Bearer tokens: the admin token, or per-project tokens.

Auth is on when ``ALLOOP_ADMIN_TOKEN`` is set. Then every call but ``/health`` needs
``Authorization: Bearer <token>``:

- the admin token may do everything;
- a project ``admin`` token may configure, import, export and read its own project, and
  label it;
- a project ``annotator`` token may only call ``/next`` and ``/labels`` on its project,
  and its name *is* the annotator: the ``annotator`` field of the body is ignored.

Tokens are never logged; the store keeps only their hashes.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request

from alloop.errors import Forbidden, Unauthorized
from alloop.store.tokens import find_token

__all__ = ["Caller", "require_token", "require_admin", "require_annotator"]


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: the server admin, or a project token's role and name."""

    role: str  # "server_admin" | "admin" | "annotator" | "open" (auth off)
    project_id: int | None = None
    name: str | None = None

    def annotator(self, claimed: str) -> str:
        """The annotator name to record: the token's name for annotator tokens, else the claim."""
        return self.name if self.role == "annotator" and self.name else claimed


def _bearer(request: Request) -> str:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    return given.strip()


def identify(request: Request) -> Caller:
    """Resolve the caller from the bearer token; 401 when auth is on and the token is unknown."""
    admin = request.app.state.settings.admin_token
    if admin is None:
        return Caller("open")
    given = _bearer(request)
    if hmac.compare_digest(given, admin.get_secret_value()):
        return Caller("server_admin")
    row = find_token(request.app.state.store.conn(), given)
    if row is None:
        raise Unauthorized("wrong or revoked bearer token")
    return Caller(row["role"], row["project_id"], row["name"])


def _allowed(request: Request, caller: Caller, roles: tuple[str, ...]) -> Caller:
    if caller.role in ("open", "server_admin"):
        return caller
    project_id = request.path_params.get("project_id")
    if project_id is None or str(caller.project_id) != str(project_id):
        raise Forbidden("this token belongs to another project" if project_id else "this call needs the admin token")
    if caller.role not in roles:
        raise Forbidden(f"a {caller.role} token may not do this; it needs one of: {', '.join(roles)}")
    return caller


# The three levels are async dependencies: resolving a caller is one indexed lookup of a
# token hash (microseconds), cheaper on the event loop than a hop to the thread pool.


async def require_token(request: Request) -> Caller:
    """Project admin level: the admin token, or an ``admin`` token of the project in the path."""
    return _allowed(request, identify(request), ("admin",))


require_admin = require_token


async def require_annotator(request: Request) -> Caller:
    """Labeling level: any token of the project in the path (or the admin token)."""
    return _allowed(request, identify(request), ("admin", "annotator"))


async def require_server_admin(request: Request) -> Caller:
    """Server level (creating projects): only the admin token."""
    caller = identify(request)
    if caller.role not in ("open", "server_admin"):
        raise Forbidden("only the server admin token may do this")
    return caller
