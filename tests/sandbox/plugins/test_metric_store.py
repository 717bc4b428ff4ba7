"""sandbox/plugins/metric_store.py: CloudWatch's metric store commits without an fsync per datum.
(That the store still answers is what every CloudWatch and alarm test against the sandbox shows.)"""

from __future__ import annotations

import importlib.metadata
import sqlite3
from pathlib import Path

from sandbox.plugins import metric_store


def test_its_connections_commit_without_waiting_for_the_disk(tmp_path: Path) -> None:
    shim = metric_store.UnsyncedSqlite()
    with shim.connect(tmp_path / "metrics.db") as connection:
        assert connection.execute("PRAGMA synchronous").fetchone() == (0,)  # OFF
        connection.execute("CREATE TABLE t (v)")
        connection.execute("INSERT INTO t VALUES (1)")
    with sqlite3.connect(tmp_path / "metrics.db") as plain:  # committed, readable by anyone
        assert plain.execute("SELECT v FROM t").fetchall() == [(1,)]
        assert plain.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL: per connection
    assert shim.Row is sqlite3.Row and shim.OperationalError is sqlite3.OperationalError


def test_the_store_connects_through_it_once_applied(monkeypatch) -> None:
    from localstack.services.cloudwatch import cloudwatch_database_helper as helper

    monkeypatch.setattr(helper, "sqlite3", helper.sqlite3)  # put back afterwards
    metric_store.apply()
    assert isinstance(helper.sqlite3, metric_store.UnsyncedSqlite)
    with helper.sqlite3.connect(":memory:") as connection:
        assert connection.execute("PRAGMA synchronous").fetchone() == (0,)


def test_the_plugin_is_registered_as_a_start_up_hook() -> None:
    hooks = importlib.metadata.entry_points(group="localstack.hooks.on_infra_start")
    assert any(
        hook.value == "sandbox.plugins.metric_store:unsync_metric_store" for hook in hooks
    ), "run make setup so that the entry point is seen"
