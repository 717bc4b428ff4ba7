"""The order tests start in, so that long waits overlap other work (`make test`, `make e2e`).

On 2 cores the suites are CPU-bound; what lengthens a run is a long test that starts late and
then runs alone while most workers are done (before this order, `make test`'s last 100 s were
`test_snapshots.py`'s own cold deploy at 15 to 40 % CPU). So:

- every `long` test that does not use the stack (its own sandbox, Terraform apply or
  child pytest session), in collection order, each followed by one short test; xdist hands
  out tests two at a time, so each worker starts with one of them (xdist's default first
  hand-out is a quarter of a worker's share, which put every long test on one worker);
- then every other test that does not use the deployed stack: the cold deploy is about 80 s,
  mostly the AWS provider's waits, and a worker that took a test needing the stack sat idle
  until it was done (four of six for 50 to 80 s, the machine at 30 % meanwhile). The sandbox
  and the deploy start in the background as soon as the tests are collected
  (harness/pytest_plugin.py);
- then the `disruptive` tests, modules interleaved (one kind, then the other, in their
  parameters' order); under xdist one of a priority is handed out at a time, the next once it is
  done, so the first module's (the backlog tests, which hold their lane alone) start together
  and the tests that need every lane wait for them once, not for a staggered series,
  then the `long` tests that use the stack (the generated-request suite: it would otherwise
  start late and end the run alone), each followed by one short test that uses the stack; then
  the rest.

And under xdist the order moves once: when the stack is deployed, the long and disruptive
tests that use it go ahead of the other tests still waiting (`StackFirstScheduling`): they wait
for alarms, mostly, and otherwise started only once every other test had, and ended the run at
a few per cent of the CPU; moving every stack test ahead left the CPU-bound ones for the end.
A long test that uses the stack and holds a priority's lane from its start is handed out only
once no disruptive test is left (unless nothing else is): it holds the lane shared, the
disruptive tests need theirs alone, and one of each waiting for the other kept a worker idle
for as long as the slowest of them (handed out with them, `make e2e` took 108-181 s instead of
91-94 s; handed out in collection order, the generated-request suite started at 152 s and ended
`make test` alone). A long test marked `lanes()` holds none when it starts (the alarm and
redelivery tests: none at all; the generated-request suite sends its reads first, then takes
every lane for its writes): it goes with the disruptive ones, its waits overlapping theirs.
The workers tell the controller through files in a folder it hands them: which tests use the
stack and which are slow (at collection), and that the stack is deployed.

The session's sandbox and the deploy every stack test waits for also go first for the CPU
(`first_in_line`), where the OS lets a process raise a priority (root, as CI runs; elsewhere
nothing changes): on 2 cores with 8 workers the cold deploy took 100 s instead of 63.

Only the order and CPU priorities change; no test depends on them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScheduling

# Tests per xdist hand-out: each worker's first two tests are one long test and one short one.
CHUNK = 2
# Tests a worker holds (StackFirstScheduling): the one it runs and the next.
HELD = 2


# The niceness of the processes every worker waits for (the session's sandbox, the deploy).
FIRST_IN_LINE = -5

# workerinput key: the folder through which workers tell the controller about the stack
FOLDER_KEY = "scheduling_folder"
STACK_TESTS = "stack-tests.json"
SLOW_TESTS = "slow-tests.json"
DISRUPTIVE_TESTS = "disruptive-tests.json"
ONE_WORKER_TESTS = "one-worker-tests.json"
LANE_FREE_TESTS = "lane-free-tests.json"
DISRUPTIVE_PARAMETERS = "disruptive-parameters.json"
DEPLOYED = "deployed"


def configure(config: pytest.Config) -> None:
    """Hand out tests two at a time under xdist, unless `--maxschedchunk` says otherwise."""
    if config.pluginmanager.hasplugin("xdist") and config.getoption("maxschedchunk") is None:
        config.option.maxschedchunk = CHUNK


_FOLDER = pytest.StashKey[Path]()


def shared_folder(config: pytest.Config) -> Path:
    """Controller: the folder it shares with its workers (made on first use)."""
    if _FOLDER not in config.stash:
        config.stash[_FOLDER] = Path(tempfile.mkdtemp(prefix="pytest-scheduling-"))
    return config.stash[_FOLDER]


def remove_shared_folder(config: pytest.Config) -> None:
    if _FOLDER in config.stash:
        shutil.rmtree(config.stash[_FOLDER], ignore_errors=True)


def first_in_line(pid: int = 0) -> int | None:
    """Give process `pid` (0: this one) the CPU before default-priority processes; returns its
    old niceness, or None where raising a priority is not allowed (it then stays as it was)."""
    try:
        old = os.getpriority(os.PRIO_PROCESS, pid)
        os.setpriority(os.PRIO_PROCESS, pid, min(old, FIRST_IN_LINE))
    except OSError:  # PermissionError without CAP_SYS_NICE; ESRCH if it has ended
        return None
    return old


@contextlib.contextmanager
def first_in_line_meanwhile() -> Iterator[None]:
    """This process (and what it starts meanwhile) first in line for the CPU, then as before."""
    old = first_in_line()
    try:
        yield
    finally:
        if old is not None:
            os.setpriority(os.PRIO_PROCESS, 0, old)


def folder(config: pytest.Config) -> Path | None:
    """The folder shared with the controller (a worker's view), None without xdist."""
    workerinput = getattr(config, "workerinput", None)
    return Path(workerinput[FOLDER_KEY]) if workerinput and FOLDER_KEY in workerinput else None


def tell_collection(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Worker: which collected tests use the stack, and which are slow (long or disruptive);
    every worker writes the same lists."""
    shared = folder(config)
    if shared is None:
        return
    disruptive = _marked(items, "disruptive")
    slow = _marked(items, "long") + disruptive
    for name, chosen in (
        (STACK_TESTS, filter(uses_stack, items)),
        (SLOW_TESTS, slow),
        (DISRUPTIVE_TESTS, disruptive),
        (ONE_WORKER_TESTS, _marked(items, "one_worker")),
        (LANE_FREE_TESTS, filter(holds_no_lane, items)),
    ):
        _write(shared, name, [item.nodeid for item in chosen])
    _write(shared, DISRUPTIVE_PARAMETERS, {item.nodeid: parameters(item) for item in disruptive})


def _write(shared: Path, name: str, value: object) -> None:
    partial = shared / f".{name}.{os.getpid()}"
    partial.write_text(json.dumps(value))
    partial.replace(shared / name)


def parameters(item: pytest.Item) -> str:
    """A test's parametrization id (e.g. its priority), or its own id when it has none."""
    callspec = getattr(item, "callspec", None)
    return callspec.id if callspec is not None else item.nodeid


def tell_deployed(config: pytest.Config) -> None:
    """Worker: the stack is deployed."""
    shared = folder(config)
    if shared is not None:
        (shared / DEPLOYED).touch()


class StackFirstScheduling(LoadScheduling):
    """xdist's load scheduling, except that once the stack is deployed the pending long and
    disruptive tests that use it go first (stable, so in the order `order` gave them; mostly
    waits for alarms, which the other tests' CPU work then overlaps), and that a worker holds
    two tests at a time: the one it runs and the next (a worker needs the next to run one).
    The tests marked `one_worker` go to the worker that took the first of them (unless nothing
    else is left for another): they share a costly fixture of that worker's session (the static
    Terraform checks: `terraform init` and a provider process, set up by 4 or 5 workers before).

    xdist tops a worker up to a share of what is left (9 to 18 tests early in `make test`), so
    two alarm tests sat queued behind the 75 s generated-request suite and ran last, alone,
    while the other workers had finished. For the same reason the test queued behind a long or
    disruptive one is a short one when any is left.
    """

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        super().__init__(config, log)
        self.folder = shared_folder(config)
        self.promoted = False
        self.lists: dict[str, set[str]] = {}
        self.one_worker_node: Any = None
        self.disruptive_parameters: dict[str, str] | None = None

    def check_schedule(self, node: Any, duration: float = 0) -> None:
        if not self.promoted and self.collection and (self.folder / DEPLOYED).exists():
            self.promoted = True
            uses = self._list(STACK_TESTS) & self._list(SLOW_TESTS)
            first = [i for i in self.pending if self.collection[i] in uses]
            self.pending[:] = first + [i for i in self.pending if self.collection[i] not in uses]
        if node.shutting_down:
            return
        if not self.pending:
            node.shutdown()
            return
        held = self.node2pending[node]
        for _ in range(HELD - len(held)):
            if not self.pending:
                break
            index = self._next_after(node, held)
            if self.collection[index] in self._list(ONE_WORKER_TESTS):
                self.one_worker_node = self.one_worker_node or node
            self.pending.remove(index)
            held.append(index)
            node.send_runtest_some([index])

    def _next_after(self, node: Any, held: list[int]) -> int:
        """The next pending test that need not wait for the disruptive ones, nor belongs to
        another worker's `one_worker` tests; behind a slow one, the first short one if any is
        left; else the next pending test."""
        slow = self._list(SLOW_TESTS)
        behind_slow = bool(held) and self.collection[held[-1]] in slow
        elsewhere = self._list(ONE_WORKER_TESTS) if self.one_worker_node not in (None, node) else ()
        eligible = (
            i
            for i in self.pending
            if not (behind_slow and self.collection[i] in slow)
            and not self._waits(i)
            and self.collection[i] not in elsewhere
        )
        return next(eligible, self.pending[0])

    def _waits(self, index: int) -> bool:
        """A long test that uses the stack and holds a priority's lane from its start, while a
        disruptive test is pending or running; a disruptive test, while another of the same
        parameters (its priority) is handed out: they take that priority's locks alone, so the
        second only sat on a worker waiting for the first (the poison test of a priority for
        its backlog test, 15-20 s each, three workers at a time)."""
        name = self.collection[index]
        disruptive = self._list(DISRUPTIVE_TESTS)
        if name not in self._list(SLOW_TESTS) or name not in self._list(STACK_TESTS):
            return False
        if name in self._list(LANE_FREE_TESTS):
            return False
        handed = [self.collection[i] for held in self.node2pending.values() for i in held]
        if name in disruptive:
            parameters = self._parameters()  # disruptive tests only
            same = parameters.get(name)
            return same is not None and any(parameters.get(other) == same for other in handed)
        unfinished = [*(self.collection[i] for i in self.pending), *handed]
        return any(test in disruptive for test in unfinished)

    def _parameters(self) -> dict[str, str]:
        """Disruptive test → its parametrization id (the workers wrote it)."""
        if self.disruptive_parameters is None:
            self.disruptive_parameters = self._read(DISRUPTIVE_PARAMETERS, {})
        return self.disruptive_parameters

    def _list(self, name: str) -> set[str]:
        """A list the workers wrote (empty when none did)."""
        if name not in self.lists:
            self.lists[name] = set(self._read(name, []))
        return self.lists[name]

    def _read(self, name: str, empty: Any) -> Any:
        """What the workers wrote under `name` (see `_write`), or `empty` when none did."""
        path = self.folder / name
        return json.loads(path.read_text()) if path.exists() else empty


def order(items: list[pytest.Item]) -> None:
    """Reorder `items` in place as the module docstring says."""
    disruptive = _interleaved(_marked(items, "disruptive"))
    long = _marked(items, "long")
    if not disruptive and not long:
        return
    chosen = set(disruptive + long)
    short = [item for item in items if item not in chosen]
    without_stack = [item for item in short if not uses_stack(item)]
    with_stack = [item for item in short if uses_stack(item)]
    long_now = [item for item in long if not uses_stack(item)]
    long_after_deploy = [item for item in long if uses_stack(item)]
    items[:] = _paired(long_now, without_stack) + _paired(
        disruptive + long_after_deploy, with_stack
    )


def uses_stack(item: pytest.Item) -> bool:
    return "stack" in getattr(item, "fixturenames", ())


def holds_no_lane(item: pytest.Item) -> bool:
    """Marked `lanes()` (integration_tests/conftest.py): no priority's lane when it starts (it
    may take one later, by hand), so nothing a disruptive test holds delays its start."""
    marker = item.get_closest_marker("lanes")
    return (
        marker is not None
        and not getattr(marker, "args", ())
        and not item.get_closest_marker("disruptive")
    )


def _paired(heads: list[pytest.Item], others: list[pytest.Item]) -> list[pytest.Item]:
    """Each head followed by one of `others`, then the rest of `others`."""
    paired = [item for n, head in enumerate(heads) for item in (head, *others[n : n + 1])]
    return paired + others[len(heads) :]


def _marked(items: list[pytest.Item], marker: str) -> list[pytest.Item]:
    return [item for item in items if item.get_closest_marker(marker)]


def _interleaved(items: list[pytest.Item]) -> list[pytest.Item]:
    """Modules interleaved: the first test of each, then the second of each, and so on."""
    by_module: dict[str, list[pytest.Item]] = {}
    for item in items:
        by_module.setdefault(item.module.__name__ if item.module else "", []).append(item)
    interleaved = [item for row in zip(*by_module.values(), strict=False) for item in row]
    return interleaved + [item for item in items if item not in interleaved]
