"""Shared fixtures for strategy tests: small random model outputs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from strategy_data import make_inputs

from alloop.strategies import StrategyInputs


@pytest.fixture
def inputs_factory() -> Callable[..., StrategyInputs]:
    """``make_inputs`` (strategy_data.py) as a fixture."""
    return make_inputs
