"""SIGKILL the server at random moments during label traffic: no acknowledged label may be lost.

The rounds are :func:`alloop.chaos.kill_rounds`; ALLOOP_KILL_ROUNDS sets how many (20
here; ``scripts/bench_durability.py`` runs 100).
"""

from __future__ import annotations

import os

import pytest

from alloop.chaos import kill_rounds

pytestmark = pytest.mark.slow

ROUNDS = int(os.environ.get("ALLOOP_KILL_ROUNDS", "20"))


def test_no_acknowledged_label_is_lost_across_kill9_rounds(tmp_path):
    report = kill_rounds(tmp_path / "data", ROUNDS)
    assert report.rounds == ROUNDS
    assert report.corrupt_rounds == [], "PRAGMA integrity_check failed after these rounds"
    assert report.lost == {}, "acknowledged labels lost (round -> how many)"
    assert report.server_errors == [], "the servers logged errors:\n\n" + "\n\n".join(report.server_errors[:3])
    assert report.acknowledged > ROUNDS  # traffic really flowed
    assert report.labeled_at_end >= report.acknowledged  # unacknowledged commits may exist, never fewer
    print(f"\nkill -9: {ROUNDS} rounds, {report.acknowledged} acknowledged labels, 0 lost")
