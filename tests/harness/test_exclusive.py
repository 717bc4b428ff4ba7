"""harness.exclusive: reader/writer locks across processes, and who holds them when a wait fails."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from harness.exclusive import Locks, LockTimeout


def _hold_exclusive(directory: Path, test: str, ready: object, release: object) -> None:
    os.environ["PYTEST_CURRENT_TEST"] = f"{test} (call)"
    with Locks(directory).hold(exclusive=["lane-low"]):
        ready.set()  # type: ignore[attr-defined]
        release.wait(30)  # type: ignore[attr-defined]


def test_a_timed_out_wait_names_the_test_holding_the_lock_now(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(
        target=_hold_exclusive, args=(tmp_path, "test_backlog.py::now[low]", ready, release)
    )
    holder.start()
    try:
        assert ready.wait(30)
        with (
            pytest.raises(LockTimeout) as failure,
            Locks(tmp_path, timeout=0.2).hold(shared=["lane-low"]),
        ):
            pass
        assert f"exclusive pid {holder.pid}: test_backlog.py::now[low]" in str(failure.value)
    finally:
        release.set()
        holder.join(30)
    # Released: no note is left behind to blame a holder that is gone.
    assert Locks(tmp_path).holders("lane-low") == ["nobody known"]


def test_the_holder_is_the_test_running_at_acquisition_not_at_creation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "first_test (setup)")
    locks = Locks(tmp_path)  # a session fixture is made during the first test that uses it
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "later_test (call)")
    with locks.hold(shared=["lane-high"]), locks.hold(shared=["lane-high"]):
        assert locks.holders("lane-high") == [f"shared pid {os.getpid()}: later_test"] * 2
    assert locks.holders("lane-high") == ["nobody known"]


def test_shared_holders_share_and_an_exclusive_one_waits(tmp_path: Path) -> None:
    locks = Locks(tmp_path, timeout=0.2)
    with (
        locks.hold(shared=["dlq-high"]),
        locks.hold(shared=["dlq-high"]),
        pytest.raises(LockTimeout, match=r"dlq-high \(exclusive\)"),
        Locks(tmp_path, timeout=0.2).hold(exclusive=["dlq-high"]),
    ):
        pass
    with locks.hold(exclusive=["dlq-high"]) as held:
        held.release("dlq-high")
        with locks.hold(exclusive=["dlq-high"]):
            pass
