"""Per-project tokens: create (the secret is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import Field

from alloop.routes import deps
from alloop.schemas import Strict
from alloop.store import Store
from alloop.store.projects import get_project
from alloop.store.tokens import create_token, list_tokens, revoke_token

router = APIRouter(tags=["tokens"])


class TokenCreate(Strict):
    """A token for one project: ``annotator`` (next and labels) or ``admin`` (everything on it)."""

    role: Literal["admin", "annotator"] = "annotator"
    name: str = Field(min_length=1, max_length=200, description="The annotator's name, recorded with labels.")


@router.post("/projects/{project_id}/tokens", status_code=201)
def create(project_id: deps.ProjectId, body: TokenCreate, store: Store = Depends(deps.store)) -> dict[str, Any]:
    """Create a token; the answer holds the secret, which the server never shows again."""
    with store.write() as conn:
        get_project(conn, project_id)
        return create_token(conn, project_id, body.role, body.name)


@router.get("/projects/{project_id}/tokens")
def list_(project_id: deps.ProjectId, store: Store = Depends(deps.store)) -> dict[str, Any]:
    """The project's tokens, without secrets."""
    with store.read() as conn:
        get_project(conn, project_id)
        return {"tokens": list_tokens(conn, project_id)}


@router.delete("/projects/{project_id}/tokens/{token_id}", status_code=204)
def revoke(
    project_id: deps.ProjectId,
    token_id: Annotated[int, Path(ge=1, le=2**53)],
    store: Store = Depends(deps.store),
) -> None:
    """Revoke a token at once."""
    with store.write() as conn:
        get_project(conn, project_id)
        revoke_token(conn, project_id, token_id)
