"""Per-project access tokens: stored only as SHA-256 hashes, shown once at creation."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from typing import Any

from alloop.errors import NotFound

__all__ = ["ROLES", "create_token", "find_token", "list_tokens", "revoke_token", "digest"]

ROLES = ("admin", "annotator")
PREFIX = "alp_"


def digest(token: str) -> str:
    """The stored form of a token (tokens are 256-bit random, so a plain hash suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: sqlite3.Connection, project_id: int, role: str, name: str) -> dict[str, Any]:
    """A new token for ``project_id``; the secret is in the answer and nowhere else."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    secret = PREFIX + secrets.token_urlsafe(32)
    cursor = conn.execute(
        "INSERT INTO tokens (project_id, role, name, hash, created_at) VALUES (?, ?, ?, ?, ?)",
        (project_id, role, name, digest(secret), time.time()),
    )
    return {"id": cursor.lastrowid, "project_id": project_id, "role": role, "name": name, "token": secret}


def find_token(conn: sqlite3.Connection, secret: str) -> sqlite3.Row | None:
    """The live token row for ``secret``, or None."""
    return conn.execute(
        "SELECT id, project_id, role, name FROM tokens WHERE hash = ? AND revoked_at IS NULL", (digest(secret),)
    ).fetchone()


def list_tokens(conn: sqlite3.Connection, project_id: int) -> list[dict[str, Any]]:
    """A project's tokens without their secrets."""
    rows = conn.execute(
        "SELECT id, role, name, created_at, revoked_at FROM tokens WHERE project_id = ? ORDER BY id", (project_id,)
    )
    return [dict(r) for r in rows]


def revoke_token(conn: sqlite3.Connection, project_id: int, token_id: int) -> None:
    """Revoke a token at once; unknown ids are 404."""
    cursor = conn.execute(
        "UPDATE tokens SET revoked_at = ? WHERE id = ? AND project_id = ? AND revoked_at IS NULL",
        (time.time(), token_id, project_id),
    )
    if cursor.rowcount == 0:
        raise NotFound(f"token {token_id} not found in project {project_id}")
