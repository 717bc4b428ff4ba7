"""The drain loop against an in-memory stack, and the floors' bounded rate measurement."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.floors import call_rate
from load.evidence import Reader, drain, plain, processor_sets_delivered_at
from load.report import ATTRIBUTE, LOG


@dataclass
class FakeReader:
    """Items appear after `delay_rounds` reads; delivery lines per id."""

    items_by_id: dict[str, dict[str, Any]]
    lines_by_id: dict[str, list[float]] = field(default_factory=dict)
    delay_rounds: int = 0
    item_reads: list[list[str]] = field(default_factory=list)
    line_reads: int = 0

    def items(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        self.item_reads.append(list(ids))
        if len(self.item_reads) <= self.delay_rounds:
            return {}
        return {i: self.items_by_id[i] for i in ids if i in self.items_by_id}

    def delivery_lines(self, since: float) -> dict[str, list[float]]:
        self.line_reads += 1
        return self.lines_by_id


STORED = {"accepted_at": "2026-11-30T10:00:00.000Z", "stored_at": "2026-11-30T10:00:00.100Z"}
DELIVERED = {**STORED, "delivered_at": "2026-11-30T10:00:00.200Z"}


def run(reader: FakeReader, ids: list[str], mode: str = "auto", timeout: float = 5.0):
    return drain(
        reader,  # type: ignore[arg-type]
        ids,
        since=0.0,
        timeout_s=timeout,
        settle_s=0.0,
        mode_hint=mode,
        say=lambda _: None,
    )


def test_auto_switches_to_delivered_at_when_the_items_carry_it() -> None:
    reader = FakeReader({"a": DELIVERED, "b": DELIVERED}, {"a": [1.0], "b": [1.0, 2.0]})
    drained = run(reader, ["a", "b"])
    assert drained.complete and drained.mode == ATTRIBUTE
    assert drained.evidence["b"].lines == [1.0, 2.0]
    assert reader.line_reads == 1  # with delivered_at, the lines are read once, at the end


def test_log_mode_without_delivered_at() -> None:
    reader = FakeReader({"a": STORED}, {"a": [5.0]})
    drained = run(reader, ["a"])
    assert drained.complete and drained.mode == LOG
    assert drained.evidence["a"].complete(LOG)


def test_polls_until_items_appear_and_rereads_only_what_is_missing() -> None:
    reader = FakeReader({"a": DELIVERED, "b": DELIVERED}, {"a": [1.0], "b": [1.0]}, 1)
    drained = run(reader, ["a", "b", "a"], mode=ATTRIBUTE)
    assert drained.complete and drained.rounds == 2
    assert reader.item_reads == [["a", "b"], ["a", "b"]]


def test_gives_up_at_the_deadline_and_says_what_is_missing() -> None:
    reader = FakeReader({"a": STORED}, {})
    started = time.monotonic()
    drained = run(reader, ["a", "lost"], mode=ATTRIBUTE, timeout=0.3)
    assert time.monotonic() - started < 2
    assert not drained.complete
    assert drained.evidence["lost"].item is None
    assert drained.evidence["a"].item == STORED
    assert not drained.evidence["a"].complete(ATTRIBUTE)


def test_no_ids_nothing_to_wait_for() -> None:
    drained = run(FakeReader({}), [])
    assert drained.complete and drained.rounds == 0


def test_batch_reads_and_plain_items() -> None:
    class Dynamo:
        def __init__(self) -> None:
            self.calls: list[int] = []
            self.unprocessed_once = True

        def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
            keys = RequestItems["t"]["Keys"]
            self.calls.append(len(keys))
            if self.unprocessed_once:  # the first call leaves its last key unprocessed
                self.unprocessed_once = False
                served, left = keys[:-1], keys[-1:]
                unprocessed = {"t": {"Keys": left, "ConsistentRead": True}}
            else:
                served, unprocessed = keys, {}
            items = [{"id": k["id"], "n": {"N": "1"}} for k in served]
            return {"Responses": {"t": items}, "UnprocessedKeys": unprocessed}

    dynamo = Dynamo()
    reader = Reader(dynamo, None, "t", "group")
    found = reader.items(f"id-{n}" for n in range(150))
    assert len(found) == 150 and found["id-7"] == {"id": "id-7", "n": "1"}
    assert dynamo.calls == [100, 1, 50]
    assert plain({"id": {"S": "x"}, "ok": {"BOOL": True}}) == {"id": "x", "ok": True}


def test_processor_source_check(tmp_path: Any) -> None:
    (tmp_path / "app.py").write_text("stored_at = now()\n")
    assert not processor_sets_delivered_at(tmp_path)
    (tmp_path / "store.py").write_text("SET delivered_at = :at\n")
    assert processor_sets_delivered_at(tmp_path)


def test_call_rate_is_bounded_by_count_and_time() -> None:
    counter = itertools.count()
    rate = call_rate(lambda: next(counter), threads=4, seconds=5.0, max_calls=40, warmup=1)
    assert rate.calls + rate.errors <= 40 + 4  # the budget, give or take one call per thread
    assert rate.seconds < 5.0
    slow = call_rate(lambda: time.sleep(0.01), threads=2, seconds=0.2)
    assert 0.2 <= slow.seconds < 1.0 and slow.calls > 0
    assert slow.per_second == pytest.approx(slow.calls / slow.seconds)


def test_call_rate_counts_failures() -> None:
    def fail() -> None:
        raise RuntimeError("no")

    rate = call_rate(fail, threads=2, seconds=0.1)
    assert rate.calls == 0 and rate.errors > 0
