"""CloudWatch Logs retention applied: events older than their group's retention are deleted.

AWS: a log group's retention (`PutRetentionPolicy`, Terraform's `retention_in_days`) deletes its
events once their timestamp is older than that many days ("typically within 72 hours" after,
docs.aws.amazon.com/AmazonCloudWatch/latest/logs/Working-with-log-groups-and-streams.html).
LocalStack (moto's logs backend) records `retentionInDays` and keeps every event for ever, so a
sandbox that is saved and restored day after day grows without bound (26 MB of events after 20
`make e2e` runs) and answers with events AWS would no longer hold.

This plugin sweeps every log group with a retention every SWEEP_SECONDS (the first a minute after
start-up, so a restored state is swept too) and deletes its expired events, lowering the stream's
`storedBytes` as moto counts them. Not reproduced: PutLogEvents' `expiredLogEventEndIndex` (AWS
refuses events already older than the retention; moto accepts them up to 14 days old, and the
next sweep deletes them).

Relies on these internals of moto (the version localstack-core 2026.3.0 pins), checked before
each sweep (a failure is a plugin error the harness surfaces) and by the no-server tests
(tests/sandbox/plugins/test_patching.py; the instance attributes by test_log_retention.py):
- `moto.logs.models.logs_backends` (BackendDict: account → region → LogsBackend `.groups`);
- `LogGroup.retention_in_days` and `.streams`; `LogStream.events` (LogEvent `.timestamp` in ms,
  `.message`, appended by `events += new`) and `.stored_bytes`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any, Final

from localstack.runtime import hooks

from sandbox.plugins import patching
from sandbox.plugins.patching import Target

LOG = logging.getLogger(__name__)
SWEEP_SECONDS: Final = 60.0
DAY_MS: Final = 86_400_000
INTERNALS = (
    Target("moto.logs.models:logs_backends"),
    Target("moto.logs.models:LogGroup"),
    Target("moto.logs.models:LogStream.put_log_events", params=("self", "log_events")),
)


def expire_stream(stream: Any, oldest_ms: int) -> int:
    """Delete the stream's events stamped before `oldest_ms`; return how many.

    Requests append to `events` meanwhile (moto's `events += new`): only the entries read at
    the start are replaced, in one slice assignment (atomic under the GIL), so an event
    appended during the sweep is kept.
    """
    events = stream.events
    read = events[:]
    kept, freed = [], 0
    for event in read:
        if event.timestamp >= oldest_ms:
            kept.append(event)
        else:
            freed += len(event.message)
    removed = len(read) - len(kept)
    if removed:
        events[: len(read)] = kept
        stream.stored_bytes = max(0, stream.stored_bytes - freed)
    return removed


def expire_group(group: Any, now_ms: int) -> int:
    """Delete the group's expired events (none when it has no retention); return how many."""
    days = group.retention_in_days
    if not days:
        return 0
    oldest_ms = now_ms - int(days) * DAY_MS
    return sum(expire_stream(stream, oldest_ms) for stream in list(group.streams.values()))


def sweep(now_ms: int | None = None) -> int:
    """One pass over every account's and region's log groups; the number of events deleted."""
    from moto.logs.models import logs_backends

    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    removed = 0
    for regions in list(logs_backends.values()):
        for backend in list(regions.values()):
            for group in list(backend.groups.values()):
                removed += expire_group(group, now_ms)
    return removed


def _sweep_forever() -> None:
    while True:
        time.sleep(SWEEP_SECONDS)
        if "moto.logs.models" not in sys.modules:
            continue  # CloudWatch Logs never started: no log group to sweep
        try:
            patching.check(INTERNALS)
            removed = sweep()
            if removed:
                LOG.info("log retention: deleted %d expired log events", removed)
        except Exception:  # keep sweeping; say so loudly
            patching.plugin_error(LOG, "log retention: sweep failed")


@hooks.on_infra_start()
def apply_log_retention() -> None:
    """Start the sweeper (see the module docstring)."""
    # Nothing is checked here: even finding moto.logs.models imports it (0.5 s of start-up);
    # the sweeper checks INTERNALS before each sweep, once the Logs provider has loaded it.
    threading.Thread(target=_sweep_forever, name="log-retention", daemon=True).start()
