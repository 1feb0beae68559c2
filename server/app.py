"""The FastAPI application: ``create_app(settings)`` wires the store, the loop and the routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from alloop import __version__, errors
from alloop.auth import require_token
from alloop.heap import refreeze_on_imports
from alloop.limits import BodyLimit
from alloop.loop import Controller
from alloop.labelstudio import routes as labelstudio
from alloop.labelstudio.agent import Agent
from alloop.prometheus import RequestTimer, Telemetry
from alloop.routes import forecast, images, items, projects, results, serving, telemetry, tokens, ui
from alloop.settings import Settings
from alloop.store import Store

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app on the store in ``settings.data_dir``; the loop starts with the app."""
    settings = settings or Settings()
    if settings.ray_address is not None:  # an address that does not answer stops the start, not a round later
        from alloop.distributed import check_address

        check_address(settings.ray_address)
    store = Store(settings.data_dir, synchronous=settings.synchronous, group_commit=True, url=settings.store)
    controller = Controller(store, settings)
    agent = Agent(store)  # Label Studio links: pushes, reconciliation, pausing
    controller.listeners.append(agent.wake)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        controller.start()
        agent.start()
        freezer = asyncio.create_task(refreeze_on_imports())
        try:
            yield
        finally:
            freezer.cancel()
            agent.stop()
            if controller.stop():
                store.close()

    app = FastAPI(title="alloop", version=__version__, lifespan=lifespan,
                  description="Active-learning loop server: the next most useful items to label.")
    app.state.settings = settings
    app.state.store = store
    app.state.controller = controller
    app.state.labelstudio = agent
    app.state.telemetry = Telemetry(store)
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestTimer, telemetry=app.state.telemetry)  # outermost: times what a client waits

    @app.get("/health", tags=["health"])
    def health() -> dict[str, Any]:
        """Liveness and version; never needs a token."""
        return {"status": "ok", "version": __version__}

    app.include_router(projects.router)  # per-route: creating projects needs the server admin
    app.include_router(serving.router)  # /next and /labels take annotator tokens (per route)
    app.include_router(images.router)  # a signed link or a project token (per route): <img src> sends no header
    app.include_router(ui.router)  # static pages (no data); their API calls carry the token
    app.include_router(labelstudio.router)  # auth per router: bearer or Label Studio's Basic auth
    for module in (items, results, tokens):
        app.include_router(module.router, dependencies=[Depends(require_token)])
    app.include_router(forecast.router, dependencies=[Depends(require_token)])
    app.include_router(telemetry.router, dependencies=[Depends(require_token)])
    return app
