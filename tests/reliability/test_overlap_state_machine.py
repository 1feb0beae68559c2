"""Hypothesis state machine for overlap (labels_per_item k > 1) at the store level.

Whatever the interleaving of /next, votes (leased or not), lease expiry and restarts: an item
never has more than k live holders and none twice, an annotator is never served an item it
voted on, an item never gets more than k votes, its final label exists exactly when it has k
votes and is their majority, the budget (in items) is never overrun, and the store agrees
with a plain model of the campaign.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule
from store_machine import LEASE, StoreCampaign

from alloop.schemas import LabelIn
from alloop.store.labels import submit_labels
from alloop.store.serving import claim_next
from alloop.store.votes import majority

POOL = 10
BUDGET = 6
K = 3
ANNOTATORS = st.sampled_from(["ann-a", "ann-b", "ann-c", "ann-d"])
LABELS = st.sampled_from(["x", "y", "z"])


class OverlapCampaign(StoreCampaign):
    def __init__(self) -> None:
        super().__init__(pool=POOL, labels=["x", "y", "z"], budget=BUDGET, labels_per_item=K)
        self.holds: dict[tuple[str, str], float] = {}  # (item, annotator) -> expires
        self.votes: dict[str, list[tuple[str, str]]] = {}  # item -> [(annotator, label)] in order
        self.decided: dict[str, str] = {}

    def live(self, item: str) -> set[str]:
        return {who for (i, who), expires in self.holds.items() if i == item and expires > self.now}

    def started(self) -> set[str]:
        """Undecided items with votes or a live lease: each holds one unit of the budget."""
        leased = {item for (item, _), expires in self.holds.items() if expires > self.now}
        return (set(self.votes) | leased) - set(self.decided)

    @rule(annotator=ANNOTATORS, n=st.integers(1, 4))
    def poll(self, annotator: str, n: int) -> None:
        answer = claim_next(self.store, self.pid, annotator, n, self.now)
        if answer["done"]:
            assert len(self.decided) >= BUDGET or len(self.decided) == POOL
            return
        served = [item["id"] for item in answer["items"]]
        assert len(served) == len(set(served)), f"{served} repeats an item"
        for item in served:
            assert item not in self.decided, f"{item} served after it was decided"
            assert annotator not in {who for who, _ in self.votes.get(item, [])}, f"{item} served again to {annotator}"
            holders = self.live(item) | {annotator}
            if annotator not in self.live(item):  # a new slot: the server counted votes and holders
                assert len(self.votes.get(item, [])) + len(holders) <= K, f"{item} over-served"
            self.holds[(item, annotator)] = self.now + LEASE

    def expect(self, item: str, annotator: str) -> str:
        """What the store should answer for this vote: accepted, duplicate or rejected."""
        if item in self.decided or annotator in {who for who, _ in self.votes.get(item, [])}:
            return "duplicate"
        if item not in self.started() and len(self.decided) + len(self.started()) >= BUDGET:
            return "rejected"
        return "accepted"

    def vote(self, item: str, annotator: str, label: str) -> None:
        expected = self.expect(item, annotator)
        answer = submit_labels(self.store, self.pid, [LabelIn(item_id=item, label=label, annotator=annotator)],
                               self.now)
        got = "accepted" if answer["accepted"] else "duplicate" if answer["duplicates"] else "rejected"
        assert got == expected, (item, annotator, answer)
        if got != "accepted":
            return
        self.votes.setdefault(item, []).append((annotator, label))
        self.holds.pop((item, annotator), None)
        if len(self.votes[item]) == K:
            self.decided[item] = majority([lab for _, lab in self.votes[item]])[0]
            self.holds = {key: t for key, t in self.holds.items() if key[0] != item}
        assert answer["decided"] == (1 if item in self.decided and len(self.votes[item]) == K else 0)

    @precondition(lambda self: any(t > self.now for t in self.holds.values()))
    @rule(data=st.data(), label=LABELS)
    def vote_held(self, data: st.DataObject, label: str) -> None:
        held = sorted(key for key, t in self.holds.items() if t > self.now)
        item, annotator = data.draw(st.sampled_from(held))
        self.vote(item, annotator, label)

    @rule(item=st.integers(0, POOL - 1), annotator=ANNOTATORS, label=LABELS)
    def vote_any(self, item: int, annotator: str, label: str) -> None:
        self.vote(str(item), annotator, label)

    @invariant()
    def store_agrees_with_the_model(self) -> None:
        with self.store.read() as conn:
            ext = {r[0]: r[1] for r in conn.execute("SELECT idx, ext_id FROM items")}
            leases = {(ext[r[0]], r[1]) for r in conn.execute(
                "SELECT item_idx, annotator FROM leases WHERE expires_at > ?", (self.now,))}
            votes: dict[str, list[tuple[str, str]]] = {}
            for r in conn.execute("SELECT item_idx, annotator, label FROM votes ORDER BY id"):
                votes.setdefault(ext[r[0]], []).append((r[1], r[2]))
            labels = {ext[r[0]]: (r[1], r[2]) for r in conn.execute("SELECT item_idx, label, agreement FROM labels")}
            tallies = {ext[r[0]]: r[1] for r in conn.execute("SELECT item_idx, votes FROM tallies")}
        assert leases == {key for key, t in self.holds.items() if t > self.now and key[0] not in self.decided}
        per_item: dict[str, int] = {}
        for item, _ in leases:
            per_item[item] = per_item.get(item, 0) + 1
        assert all(n <= K for n in per_item.values())  # never more than k live holders
        assert votes == self.votes
        assert all(len(v) <= K for v in votes.values())
        assert {item for item, v in votes.items() if len(v) == K} == set(labels)  # final exactly at k votes
        for item, (label, agreement) in labels.items():
            assert (label, agreement) == majority([lab for _, lab in votes[item]])
        assert tallies == {item: len(v) for item, v in votes.items() if item not in labels}
        assert {item: lab for item, (lab, _) in labels.items()} == self.decided
        started = set(tallies) | set(per_item)
        assert len(labels) + len(started) <= BUDGET  # the budget counts items, decided or started


OverlapCampaign.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_overlap_state_machine = OverlapCampaign.TestCase
