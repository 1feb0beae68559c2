"""The loop controller: train in the background, evaluate, rescore, rank, decide when to stop."""

from server.loop.controller import Controller

__all__ = ["Controller"]
