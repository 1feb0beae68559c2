"""Small splits for the simulation tests (iris and wine: a campaign takes well under a second)."""

from __future__ import annotations

import pytest

from alloop.simulate.datasets import DataRef, load_dataset, make_split
from alloop.simulate.runner import Split


@pytest.fixture(scope="session")
def iris_ref() -> DataRef:
    return DataRef(name="iris")


@pytest.fixture(scope="session")
def iris_split(iris_ref: DataRef) -> Split:
    return make_split(load_dataset(iris_ref), seed=0)
