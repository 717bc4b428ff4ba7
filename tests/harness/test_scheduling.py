"""harness.scheduling: which tests start first, and xdist's hand-out size."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from harness import scheduling


@dataclass(eq=False)
class Item:
    """What `scheduling.order` reads of a pytest item."""

    name: str
    module_name: str = "test_unit"
    markers: tuple[str, ...] = ()
    fixturenames: tuple[str, ...] = ()
    callspec: Any = None  # SimpleNamespace(id=...) for a parametrized test
    module: Any = field(init=False)

    def __post_init__(self) -> None:
        self.module = SimpleNamespace(__name__=self.module_name)

    def get_closest_marker(self, name: str) -> object | None:
        return name if name in self.markers else None

    @property
    def nodeid(self) -> str:
        return self.name


def names(items: list[Item]) -> list[str]:
    return [item.name for item in items]


def test_long_tests_then_what_needs_no_stack_then_the_disruptive_ones_then_long_stack_ones():
    short = [Item(f"s{n}") for n in range(4)]
    on_stack = [Item(f"api{n}", fixturenames=("api", "stack")) for n in range(3)]
    stack = ("stack",)
    backlog = [Item(f"backlog-{p}", "test_backlog", ("disruptive",), stack) for p in "hml"]
    dlq = [Item(f"dlq-{p}", "test_dlq", ("disruptive",), stack) for p in "hml"]
    long = [Item("terraform", markers=("long",)), Item("snapshots", markers=("long",))]
    generated = Item("generated", markers=("long",), fixturenames=stack)
    items = [on_stack[0], short[0], *backlog, short[1], long[0], generated, *dlq, on_stack[1]]
    items += [short[2], long[1], short[3], on_stack[2]]
    scheduling.order(items)
    # every test without the stack before any that waits for its deploy (which runs in the
    # background meanwhile); modules interleaved; then the long one that uses the stack
    assert names(items) == [
        "terraform", "s0", "snapshots", "s1", "s2", "s3",
        "backlog-h", "api0", "dlq-h", "api1", "backlog-m", "api2", "dlq-m", "backlog-l", "dlq-l",
        "generated",
    ]  # fmt: skip


def test_without_long_or_disruptive_tests_the_order_is_kept():
    items = [Item(f"s{n}") for n in range(4)]
    before = list(items)
    scheduling.order(items)
    assert items == before


def test_xdist_hands_out_two_tests_at_a_time_unless_told_otherwise():
    def config(chunk: int | None) -> Any:
        option = SimpleNamespace(maxschedchunk=chunk)
        return SimpleNamespace(
            option=option,
            pluginmanager=SimpleNamespace(hasplugin=lambda name: name == "xdist"),
            getoption=lambda name: getattr(option, name),
        )

    default, chosen = config(None), config(8)
    scheduling.configure(default)
    scheduling.configure(chosen)
    assert (default.option.maxschedchunk, chosen.option.maxschedchunk) == (scheduling.CHUNK, 8)


class Node:
    """What xdist's load scheduling reads of a worker and sends it."""

    shutting_down = False

    def __init__(self) -> None:
        self.sent: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        self.shutting_down = True


@dataclass
class Scheduled:
    """A StackFirstScheduling of `items` with one worker, and a worker's view of its folder."""

    items: list[Item]
    config: Any = field(init=False)
    scheduler: scheduling.StackFirstScheduling = field(init=False)
    worker_config: Any = field(init=False)
    node: Node = field(default_factory=Node)

    def __post_init__(self) -> None:
        options = {"maxschedchunk": 2, "tx": ["2*popen"]}
        self.config = SimpleNamespace(
            getvalue=options.get, getoption=options.get, stash=pytest.Stash()
        )
        self.scheduler = scheduling.StackFirstScheduling(self.config)
        folder = str(self.scheduler.folder)
        self.worker_config = SimpleNamespace(workerinput={scheduling.FOLDER_KEY: folder})
        scheduling.tell_collection(self.worker_config, self.items)  # type: ignore[arg-type]
        self.scheduler.collection = names(self.items)
        self.scheduler.pending[:] = range(len(self.items))
        self.scheduler.node2pending[self.node] = []  # type: ignore[index]

    def check(self) -> None:
        self.scheduler.check_schedule(self.node)  # type: ignore[arg-type]

    def sent(self) -> list[str]:
        return [self.items[i].name for i in self.node.sent]

    def held(self) -> list[int]:
        return self.scheduler.node2pending[self.node]  # type: ignore[index]

    def pending(self) -> list[str]:
        return [self.items[i].name for i in self.scheduler.pending]


def test_once_the_stack_is_deployed_its_slow_tests_go_ahead_of_the_rest() -> None:
    stack = ("api", "stack")
    run = Scheduled(
        [
            Item("first"),
            Item("second"),
            Item("alarms", markers=("disruptive",), fixturenames=stack),
            Item("third"),
            Item("query", fixturenames=stack),
            Item("fourth"),
        ]
    )
    run.check()
    assert run.sent() == ["first", "second"]  # not deployed: in order

    run.held().clear()
    scheduling.tell_deployed(run.worker_config)
    run.check()
    assert run.sent()[2:] == ["alarms", "third"]  # the stack's slow test first, then in order
    assert run.pending() == ["query", "fourth"]

    run.check()
    assert len(run.sent()) == 4  # it holds two: the one it runs and the next
    run.held().pop(0)
    run.check()
    assert run.sent()[4:] == ["query"]  # one more, not a share
    run.held().clear()
    run.check()
    run.check()
    assert run.sent()[5:] == ["fourth"] and run.node.shutting_down
    scheduling.remove_shared_folder(run.config)
    assert not run.scheduler.folder.exists()


def test_the_test_queued_behind_a_slow_one_is_a_short_one_when_any_is_left() -> None:
    run = Scheduled(
        [
            Item("suite", markers=("long",)),
            Item("backlog", markers=("disruptive",)),
            Item("short"),
            Item("dlq", markers=("disruptive",)),
        ]
    )
    run.check()
    assert run.sent() == ["suite", "short"]  # not the backlog test behind the suite
    run.held()[:] = [2]  # the suite is done: "short" runs next
    run.check()
    assert run.sent()[2:] == ["backlog"]  # behind a short one: in order
    scheduling.remove_shared_folder(run.config)


def test_first_in_line_raises_a_processs_priority_where_the_os_allows_it() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        before = os.getpriority(os.PRIO_PROCESS, child.pid)
        old = scheduling.first_in_line(child.pid)
        now = os.getpriority(os.PRIO_PROCESS, child.pid)
        if old is None:  # not allowed (no CAP_SYS_NICE): left as it was
            assert now == before
        else:
            assert (old, now) == (before, min(before, scheduling.FIRST_IN_LINE))
    finally:
        child.kill()
        child.wait()
    assert scheduling.first_in_line(child.pid) is None  # it has ended


def test_first_in_line_meanwhile_gives_this_process_its_priority_back() -> None:
    before = os.getpriority(os.PRIO_PROCESS, 0)
    with scheduling.first_in_line_meanwhile():
        during = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before
    assert during in (before, min(before, scheduling.FIRST_IN_LINE))


def test_a_long_stack_test_waits_until_no_disruptive_test_is_left_unless_nothing_else_is() -> None:
    stack = ("api", "stack")
    backlog = Item("backlog", markers=("disruptive",), fixturenames=stack)
    generated = Item("generated", markers=("long",), fixturenames=stack)
    run = Scheduled([backlog, generated, Item("query", fixturenames=stack), Item("routing")])
    other: list[int] = []
    run.scheduler.node2pending[Node()] = other  # type: ignore[index]
    scheduling.tell_deployed(run.worker_config)
    run.scheduler.pending.remove(0)
    other.append(0)  # the backlog test runs on another worker
    run.check()
    assert run.sent() == ["query", "routing"]  # not the suite while the backlog test runs
    other.clear()  # the backlog test is done
    run.held().clear()
    run.check()
    assert run.sent()[2:] == ["generated"]

    # With nothing else left, it is handed out even while a disruptive test runs.
    again = Scheduled([backlog, generated])
    again.scheduler.node2pending[Node()] = [0]  # type: ignore[index]
    again.scheduler.pending.remove(0)
    scheduling.tell_deployed(again.worker_config)
    again.check()
    assert again.sent() == ["generated"]
    scheduling.remove_shared_folder(run.config)
    scheduling.remove_shared_folder(again.config)


def test_one_worker_tests_go_to_the_worker_that_took_the_first_unless_nothing_else_is() -> None:
    checks = [Item(f"tf-{n}", markers=("one_worker",)) for n in "abc"]
    run = Scheduled([checks[0], Item("s0"), checks[1], Item("s1"), Item("s2"), checks[2]])
    other = Node()
    run.scheduler.node2pending[other] = []  # type: ignore[index]
    run.check()
    assert run.sent() == ["tf-a", "s0"]  # this worker takes the first: they are its tests now
    run.scheduler.check_schedule(other)  # type: ignore[arg-type]
    assert [run.items[i].name for i in other.sent] == ["s1", "s2"]  # not tf-b, tf-c
    run.held().clear()  # tf-a and s0 are done
    run.check()
    assert run.sent()[2:] == ["tf-b", "tf-c"]

    # Only another worker's one_worker tests left: a worker that asks still gets one (a worker
    # needs a test queued behind the one it runs, or it stalls).
    again = Scheduled([checks[0], checks[1], checks[2]])
    owner = Node()
    again.scheduler.node2pending[owner] = []  # type: ignore[index]
    again.scheduler.check_schedule(owner)  # type: ignore[arg-type]
    again.check()
    assert again.sent() == ["tf-c"]
    scheduling.remove_shared_folder(run.config)
    scheduling.remove_shared_folder(again.config)


def test_a_long_stack_test_that_holds_no_lane_at_its_start_does_not_wait_for_disruptive_ones():
    stack = ("api", "stack")
    backlog = Item("backlog", markers=("disruptive",), fixturenames=stack)
    generated = Item("generated", markers=("long", "lanes"), fixturenames=stack)  # lanes()
    run = Scheduled([backlog, generated, Item("query", fixturenames=stack)])
    run.scheduler.node2pending[Node()] = [0]  # type: ignore[index]  # the backlog test runs
    run.scheduler.pending.remove(0)
    scheduling.tell_deployed(run.worker_config)
    run.check()
    assert run.sent() == ["generated", "query"]
    scheduling.remove_shared_folder(run.config)


def test_a_disruptive_test_waits_while_another_of_its_priority_is_handed_out() -> None:
    stack = ("api", "stack")

    def disruptive(name: str, priority: str) -> Item:
        params = SimpleNamespace(id=priority)
        return Item(name, markers=("disruptive",), fixturenames=stack, callspec=params)

    backlog_high = disruptive("backlog[high]", "high")
    poison_high = disruptive("poison[high]", "high")
    poison_medium = disruptive("poison[medium]", "medium")
    run = Scheduled([backlog_high, poison_high, poison_medium, Item("query", fixturenames=stack)])
    run.scheduler.node2pending[Node()] = [0]  # type: ignore[index]  # backlog[high] runs elsewhere
    run.scheduler.pending.remove(0)
    run.check()
    assert run.sent() == ["poison[medium]", "query"]  # not poison[high], which would only wait
    run.held().clear()
    run.check()
    assert run.sent()[2:] == ["poison[high]"]  # nothing else left: handed out all the same
    scheduling.remove_shared_folder(run.config)
