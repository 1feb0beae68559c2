"""Shared route dependencies: the store, the controller, the settings, from app state."""

from __future__ import annotations

from fastapi import Request

from server.loop import Controller
from server.settings import Settings
from server.store import Store

__all__ = ["store", "controller", "settings"]


def store(request: Request) -> Store:
    return request.app.state.store


def controller(request: Request) -> Controller:
    return request.app.state.controller


def settings(request: Request) -> Settings:
    return request.app.state.settings
