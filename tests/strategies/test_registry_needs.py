"""What a configured strategy reads, wrapped strategies included (what a campaign must provide)."""

from __future__ import annotations

import pytest

from alloop.strategies import needs, register
from alloop.strategies.registry import unregister


def test_a_plain_strategy_needs_what_it_declares():
    assert needs("margin") == {"probs"}
    assert needs("bald") == {"samples"}


def test_prefilter_needs_its_base_and_its_diversity_step():
    assert needs("prefilter") == {"probs", "embeddings"}  # margin, then k-center
    assert needs("prefilter", {"diversify": "badge"}) == {"probs", "embeddings"}
    assert needs("prefilter", {"base": "bald", "diversify": "kmeans_pp"}) == {"samples", "embeddings"}


def test_nested_parameters_reach_the_wrapped_strategy():
    assert needs("per_cost") == {"costs", "probs"}
    assert needs("per_cost", {"base": "vote_entropy"}) == {"costs", "samples"}
    assert "embeddings" in needs("information_density", {"base": "margin"})


def test_wraps_must_name_a_parameter():
    with pytest.raises(ValueError, match="wraps"):
        register("broken_wrapper", params={"m": 1}, wraps=("base",))(lambda inputs, *, rng: None)
    unregister("broken_wrapper")
