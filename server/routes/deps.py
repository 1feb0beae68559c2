"""Shared route dependencies: the store, the controller, the settings, from app state.

They are ``async`` because they only read attributes: FastAPI runs sync dependencies in
its thread pool, a hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request

from alloop.loop import Controller
from alloop.settings import Settings
from alloop.store import Store

__all__ = ["ProjectId", "agent", "store", "controller", "settings"]

ProjectId = Annotated[int, Path(ge=1, le=2**53, description="The project's id.")]


async def store(request: Request) -> Store:
    return request.app.state.store


async def controller(request: Request) -> Controller:
    return request.app.state.controller


async def settings(request: Request) -> Settings:
    return request.app.state.settings


async def agent(request: Request) -> Any:
    """The Label Studio agent (:class:`alloop.labelstudio.agent.Agent`)."""
    return request.app.state.labelstudio
