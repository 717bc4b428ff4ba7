"""Snapshot files without a server: names, compatibility rule, the home's client state."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from sandbox import snapshots


def write_snapshot(path: Path, versions: dict[str, str], files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(snapshots.MANIFEST, json.dumps({"versions": versions, "state_id": "s1"}))
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_names_live_under_the_home_and_paths_are_taken_as_given(tmp_path: Path) -> None:
    assert snapshots.named_file(tmp_path, "ready") == tmp_path / "snapshots" / "ready.snapshot"
    elsewhere = tmp_path / "shared" / "team.snapshot"
    assert snapshots.named_file(tmp_path, str(elsewhere)) == elsewhere
    with pytest.raises(snapshots.SnapshotError):
        snapshots.named_file(tmp_path, ".hidden")


def test_a_snapshot_of_other_versions_is_refused_naming_what_differs(tmp_path: Path) -> None:
    versions = {**snapshots.writer_versions(), "moto": "0.0.1"}
    manifest = snapshots.read_manifest(write_snapshot(tmp_path / "a.snapshot", versions, {}))
    assert manifest.incompatibilities() == [
        f"moto 0.0.1 (this sandbox: {snapshots.writer_versions()['moto']})"
    ]
    with pytest.raises(snapshots.SnapshotError, match=r"refused \(nothing.*make reset"):
        manifest.check_loadable()
    same = write_snapshot(tmp_path / "b.snapshot", snapshots.writer_versions(), {})
    snapshots.read_manifest(same).check_loadable()


def test_a_file_that_is_no_snapshot_says_so(tmp_path: Path) -> None:
    (tmp_path / "x.snapshot").write_text("not a zip")
    with pytest.raises(snapshots.SnapshotError, match="not a readable snapshot"):
        snapshots.read_manifest(tmp_path / "x.snapshot")


def test_install_puts_the_snapshot_and_its_deploy_folder_in_place(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "deploy").mkdir(parents=True)
    (home / "deploy" / "stale").write_text("from before")
    source = write_snapshot(
        tmp_path / "ready.snapshot",
        snapshots.writer_versions(),
        {"home/deploy/stack/terraform.tfstate": b"{}", "services/sqs.pickle": b""},
    )
    snapshots.install(source, home)
    assert snapshots.current_file(home).read_bytes() == source.read_bytes()
    assert (home / "deploy" / "stack" / "terraform.tfstate").read_text() == "{}"
    assert not (home / "deploy" / "stale").exists()


def test_install_refuses_unsafe_paths_and_other_versions(tmp_path: Path) -> None:
    unsafe = write_snapshot(
        tmp_path / "u.snapshot", snapshots.writer_versions(), {"home/../escape": b"x"}
    )
    with pytest.raises(snapshots.SnapshotError, match="unsafe"):
        snapshots.install(unsafe, tmp_path / "home")
    old = write_snapshot(tmp_path / "o.snapshot", {"format": "0"}, {})
    with pytest.raises(snapshots.SnapshotError, match="refused"):
        snapshots.install(old, tmp_path / "home2")
    assert not snapshots.current_file(tmp_path / "home2").exists()


def test_the_home_state_carried_leaves_terraform_providers_out(tmp_path: Path) -> None:
    (tmp_path / "deploy" / "stack" / ".terraform" / "providers").mkdir(parents=True)
    (tmp_path / "deploy" / "stack" / ".terraform" / "providers" / "aws").write_bytes(b"big")
    (tmp_path / "deploy" / "stack" / "terraform.tfstate").write_text("{}")
    (tmp_path / "localstack.log").write_text("not carried")
    names = [name for _, name in snapshots.home_files(tmp_path)]
    assert names == ["home/deploy/stack/terraform.tfstate"]
