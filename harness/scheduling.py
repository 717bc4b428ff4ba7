"""The order tests start in, so that long waits overlap other work (`make test`, `make e2e`).

On 2 cores the suites are CPU-bound; what lengthens a run is a long test that starts late and
then runs alone while most workers are done (before this order, `make test`'s last 100 s were
`test_snapshots.py`'s own cold deploy at 15 to 40 % CPU). So:

- the first `disruptive` test starts at once: it deploys the session's stack, which every
  integration test waits for;
- then every `long` test that does not use the stack (its own sandbox, Terraform apply or
  child pytest session), in collection order, each followed by one short test; xdist hands
  out tests two at a time, so each worker starts with one of them (xdist's default first
  hand-out is a quarter of a worker's share, which put every long test on one worker);
- then every other test that does not use the deployed stack: the cold deploy is about 80 s,
  mostly the AWS provider's waits, and a worker that took a test needing the stack sat idle
  until it was done (four of six for 50 to 80 s, the machine at 30 % meanwhile);
- then the `long` tests that use the stack (they would otherwise start late and end the run
  alone), then the other `disruptive` tests, modules interleaved (one kind, then the other), the
  n-th module's priorities rotated by n (the per-priority locks serialise whatever still
  meets), each followed by one short test that uses the stack; then the rest.

Only the order changes; no test depends on it.
"""

from __future__ import annotations

import pytest

# Tests per xdist hand-out: each worker's first two tests are one long test and one short one.
CHUNK = 2


def configure(config: pytest.Config) -> None:
    """Hand out tests two at a time under xdist, unless `--maxschedchunk` says otherwise."""
    if config.pluginmanager.hasplugin("xdist") and config.getoption("maxschedchunk") is None:
        config.option.maxschedchunk = CHUNK


def order(items: list[pytest.Item]) -> None:
    """Reorder `items` in place as the module docstring says."""
    disruptive = _rotated(_marked(items, "disruptive"))
    long = _marked(items, "long")
    if not disruptive and not long:
        return
    chosen = set(disruptive + long)
    short = [item for item in items if item not in chosen]
    without_stack = [item for item in short if not _uses_stack(item)]
    with_stack = [item for item in short if _uses_stack(item)]
    long_now = [item for item in long if not _uses_stack(item)]
    long_after_deploy = [item for item in long if _uses_stack(item)]
    items[:] = _paired(disruptive[:1] + long_now, without_stack) + _paired(
        long_after_deploy + disruptive[1:], with_stack
    )


def _uses_stack(item: pytest.Item) -> bool:
    return "stack" in getattr(item, "fixturenames", ())


def _paired(heads: list[pytest.Item], others: list[pytest.Item]) -> list[pytest.Item]:
    """Each head followed by one of `others`, then the rest of `others`."""
    paired = [item for n, head in enumerate(heads) for item in (head, *others[n : n + 1])]
    return paired + others[len(heads) :]


def _marked(items: list[pytest.Item], marker: str) -> list[pytest.Item]:
    return [item for item in items if item.get_closest_marker(marker)]


def _rotated(items: list[pytest.Item]) -> list[pytest.Item]:
    """Modules interleaved, the n-th module's parameters rotated by n."""
    by_module: dict[str, list[pytest.Item]] = {}
    for item in items:
        by_module.setdefault(item.module.__name__ if item.module else "", []).append(item)
    columns = [group[n:] + group[:n] for n, group in enumerate(by_module.values())]
    rotated = [item for row in zip(*columns, strict=False) for item in row]
    return rotated + [item for item in items if item not in rotated]
