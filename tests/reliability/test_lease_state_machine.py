"""Hypothesis state machine over /next, /labels, lease expiry and restarts, at the store level.

Whatever the interleaving: an item is never held by two annotators at once, a labeled
item is never served again, every acknowledged label survives a restart, the budget is
never overrun, and the store's counts agree with a plain model of the campaign.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import invariant, precondition, rule
from store_machine import LEASE, StoreCampaign

from alloop.schemas import LabelIn
from alloop.store.items import counts
from alloop.store.labels import submit_labels
from alloop.store.serving import claim_next

POOL = 25
BUDGET = 18
ANNOTATORS = st.sampled_from(["ann-a", "ann-b", "ann-c"])


class Campaign(StoreCampaign):
    def __init__(self) -> None:
        super().__init__(pool=POOL, labels=["x", "y"], budget=BUDGET)
        self.holds: dict[str, tuple[str, float]] = {}  # item -> (annotator, expires)
        self.labeled: dict[str, str] = {}

    def active_holder(self, item: str) -> str | None:
        hold = self.holds.get(item)
        return hold[0] if hold and hold[1] > self.now and item not in self.labeled else None

    @rule(annotator=ANNOTATORS, n=st.integers(1, 6))
    def poll(self, annotator: str, n: int) -> None:
        answer = claim_next(self.store, self.pid, annotator, n, self.now)
        if answer["done"]:
            assert len(self.labeled) >= BUDGET or len(self.labeled) == POOL
            return
        for item in answer["items"]:
            holder = self.active_holder(item["id"])
            assert holder in (None, annotator), f"{item['id']} served to {annotator} while {holder} holds it"
            assert item["id"] not in self.labeled, f"{item['id']} served after it was labeled"
            self.holds[item["id"]] = (annotator, self.now + LEASE)

    @precondition(lambda self: any(self.active_holder(i) for i in self.holds))
    @rule(data=st.data())
    def label_held(self, data: st.DataObject) -> None:
        held = sorted(i for i in self.holds if self.active_holder(i))
        item = data.draw(st.sampled_from(held))
        annotator = self.holds[item][0]
        answer = submit_labels(self.store, self.pid, [LabelIn(item_id=item, label="x", annotator=annotator)], self.now)
        if answer["accepted"]:
            self.labeled[item] = annotator
        else:
            assert answer["rejected"] or answer["duplicates"]

    @rule(item=st.integers(0, POOL - 1), annotator=ANNOTATORS)
    def label_any(self, item: int, annotator: str) -> None:
        answer = submit_labels(self.store, self.pid, [LabelIn(item_id=str(item), label="y", annotator=annotator)], self.now)
        if str(item) in self.labeled:
            assert answer["duplicates"] == 1 and answer["accepted"] == 0
        elif answer["accepted"]:
            self.labeled[str(item)] = annotator
        else:
            assert answer["rejected"] == [{"item_id": str(item), "reason": "budget_exhausted"}]

    @invariant()
    def store_agrees_with_the_model(self) -> None:
        with self.store.read() as conn:
            c = counts(conn, self.pid, self.now)
            stored = {r[0]: r[1] for r in conn.execute(
                "SELECT i.ext_id, b.annotator FROM labels b JOIN items i ON i.idx = b.item_idx")}
        assert stored == self.labeled
        assert c["labeled"] <= BUDGET
        assert c["leased"] == sum(1 for i in self.holds if self.active_holder(i))
        assert c["leased"] <= BUDGET  # /next never leases past the budget


Campaign.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_campaign_state_machine = Campaign.TestCase
