"""The service catalog index: built once per installation, copied into each home."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import service_catalog


@pytest.fixture
def shared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "share"
    monkeypatch.setattr(service_catalog, "SHARED_DIR", folder)
    return folder


def test_the_index_is_built_once_and_copied_into_each_home(shared: Path, tmp_path: Path) -> None:
    name = service_catalog.file_name()
    service_catalog.install(str(tmp_path / "home-1"))
    built = shared / name
    assert built.stat().st_size > 100_000  # every service's operations, not an empty stub
    assert built.stat().st_mode & 0o444 == 0o444  # readable by a sandbox run as another user
    first = built.stat().st_mtime_ns

    service_catalog.install(str(tmp_path / "home-2"))
    assert built.stat().st_mtime_ns == first  # not built again
    for home in ("home-1", "home-2"):
        assert (tmp_path / home / name).read_bytes() == built.read_bytes()
    assert [p.name for p in shared.iterdir()] == [name]  # no partial file left behind


def test_a_home_that_has_it_is_left_alone(shared: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / service_catalog.file_name()).write_bytes(b"kept")
    service_catalog.install(str(home))
    assert (home / service_catalog.file_name()).read_bytes() == b"kept"
    assert not shared.exists()  # nothing built for it


def test_a_folder_that_cannot_be_written_leaves_the_index_to_localstack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(service_catalog, "SHARED_DIR", blocker / "share")
    service_catalog.install(str(tmp_path / "home"))
    assert not (tmp_path / "home").exists()  # LocalStack builds its own, as it did before


READS_THE_INDEX = """
from sandbox import service_catalog
service_catalog.use_in_this_process()
from localstack.aws import spec
def refuse(*args, **kwargs):
    raise AssertionError("the index was built again")
spec.build_service_index_cache = refuse
spec.LazyServiceCatalogIndex = refuse
import localstack.services.apigateway.next_gen.execute_api.integrations
print("read the installation's index")
"""


def test_a_test_process_reads_the_installations_index(tmp_path: Path) -> None:
    """(`make setup` built it; a test worker that imports API Gateway's integrations scanned
    every botocore model without it: 2 s of CPU.)"""
    service_catalog.shared_index()  # present after make setup; built here if not
    done = subprocess.run(
        [sys.executable, "-c", READS_THE_INDEX], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "read the installation's index" in done.stdout
