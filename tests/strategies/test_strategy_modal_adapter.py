"""The modAL adapter: modAL-signature query functions registered from configuration."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator

import numpy as np
import pytest
from strategy_data import make_inputs

from alloop.strategies import names, rank
from alloop.strategies.modal_adapter import load_from_config, register_modal_query
from alloop.strategies.registry import unregister


def top_uncertain(classifier, X_pool, n_instances=1):  # noqa: ANN001, N803 - modAL's signature
    """A modAL-style query function: least confident rows, as (indices, utilities)."""
    utility = 1 - classifier.predict_proba(X_pool).max(axis=1)
    idx = np.argsort(-utility)[:n_instances]
    return idx, utility[idx]


def subset_query(classifier, X_pool, n_instances=1):  # noqa: ANN001, N803
    """Asks about a copy of part of the pool (rows matched by value)."""
    part = np.array(X_pool[::2], copy=True)
    proba = classifier.predict_proba(part)
    return np.arange(0, len(X_pool), 2)[np.argsort(proba[:, 0])[:n_instances]]


@pytest.fixture
def plugin_module() -> Iterator[str]:
    module = types.ModuleType("alloop_test_modal_plugin")
    module.top_uncertain = top_uncertain  # type: ignore[attr-defined]
    module.subset_query = subset_query  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module.__name__
    del sys.modules[module.__name__]
    for name in ("my_top", "my_top_idx", "my_subset", "bad"):
        unregister(name)


def test_registered_function_ranks_like_least_confidence(plugin_module: str) -> None:
    assert load_from_config([f"my_top={plugin_module}:top_uncertain"]) == ["my_top"]
    assert "my_top" in names()
    inputs = make_inputs(100)
    got, scores = rank("my_top", inputs, 10, rng=np.random.default_rng(0))
    want, want_scores = rank("least_confidence", inputs, 10, rng=np.random.default_rng(0))
    assert got.tolist() == want.tolist()
    np.testing.assert_allclose(scores, want_scores)


def test_indices_mode_and_value_lookup(plugin_module: str) -> None:
    load_from_config([f"my_top_idx={plugin_module}:top_uncertain?x=indices",
                      f"my_subset={plugin_module}:subset_query"])  # fmt: skip
    inputs = make_inputs(50)
    got, _ = rank("my_top_idx", inputs, 5, rng=np.random.default_rng(0))
    want, _ = rank("least_confidence", inputs, 5, rng=np.random.default_rng(0))
    assert got.tolist() == want.tolist()
    sub, scores = rank("my_subset", inputs, 4, rng=np.random.default_rng(0))
    assert sub.size == 4 and np.all(sub % 2 == 0)
    assert np.all(np.diff(scores) < 0)  # rank order when the function gives no values


@pytest.mark.parametrize(
    "entry",
    ["no-equals-sign", "name=module_without_colon", "bad=alloop_no_such_module:f", "bad=sys:nope"],
)
def test_bad_config_entries_are_value_errors(entry: str) -> None:
    with pytest.raises(ValueError):
        load_from_config([entry])


def test_invalid_indices_from_the_function_are_rejected() -> None:
    register_modal_query("bad", lambda clf, x, n_instances: np.array([0, 999]))
    try:
        with pytest.raises(ValueError, match="invalid indices"):
            rank("bad", make_inputs(10), 2, rng=np.random.default_rng(0))
    finally:
        unregister("bad")


def test_modal_uncertainty_batch_sampling_through_the_adapter() -> None:
    pytest.importorskip("modAL")
    from modAL.batch import uncertainty_batch_sampling

    register_modal_query("bad", uncertainty_batch_sampling)
    try:
        inputs = make_inputs(80, m=4)
        got, _ = rank("bad", inputs, 6, rng=np.random.default_rng(0))
        want, _ = rank("ranked_batch", inputs, 6, rng=np.random.default_rng(0))
        assert got.tolist() == want.tolist()
    finally:
        unregister("bad")
