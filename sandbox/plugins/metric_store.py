"""CloudWatch's metric store commits without waiting for the disk.

Why: LocalStack keeps metric datapoints in SQLite (`CloudwatchDatabase`, `metrics.db` in the
state folder) and writes each datum of a PutMetricData in a transaction of its own, under one
lock, with SQLite's default `synchronous = FULL`: every datum waits for an fsync. The sandbox
reports every queue's metrics every 2 s (`SQS_CLOUDWATCH_METRICS_REPORT_INTERVAL`, so alarms can
be tested), and during `make test` the disk is busy with Terraform and pytest: in a profile of the
session's sandbox a quarter of its threads' samples waited in those commits, holding the lock
that every PutMetricData, metric flush and alarm evaluation takes.

Here the store's connections use `synchronous = OFF`: a commit hands the page to the OS and
returns (0.39 → 0.10 ms per datum on a quiet disk). What is committed survives the sandbox's
process ending, crashed or not (the OS writes it); only a crash of the machine itself could lose
or damage the live file, which the sandbox's state snapshots cover (they copy the database through
SQLite's backup API, sandbox/plugins/persistence.py, and `up` restores from them).

Relies on (localstack-core 2026.3.0): `localstack.services.cloudwatch.cloudwatch_database_helper`
calling `sqlite3.connect` through its module global `sqlite3`; patched just before the CloudWatch
provider (which creates the store) loads.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from localstack.runtime import hooks

from sandbox.plugins import patching
from sandbox.plugins.patching import Target

STORE_SQLITE = Target("localstack.services.cloudwatch.cloudwatch_database_helper:sqlite3")
INTERNALS = (
    STORE_SQLITE,
    Target("localstack.services.cloudwatch.cloudwatch_database_helper:CloudwatchDatabase"),
)


class UnsyncedSqlite:
    """The sqlite3 module, but its connections commit without an fsync."""

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)

    @staticmethod
    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = sqlite3.connect(*args, **kwargs)
        connection.execute("PRAGMA synchronous = OFF")
        return connection


def apply() -> None:
    patching.check(INTERNALS)
    patching.replace(STORE_SQLITE, UnsyncedSqlite())


@hooks.on_infra_start()
def unsync_metric_store() -> None:
    patching.check(INTERNALS, import_modules=False)
    patching.before_provider_loads("cloudwatch", apply)
