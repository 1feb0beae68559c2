"""The loop controller: train in the background, evaluate, rescore, rank, decide when to stop."""

from alloop.loop.controller import Controller

__all__ = ["Controller"]
