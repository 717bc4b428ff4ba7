"""Snapshot files: where they live, what their manifest says, and who may load them.

A snapshot is one zip archive holding the state of every AWS service the sandbox had started
(pickled LocalStack stores and moto backends, S3 object data, CloudWatch's metric database) and
the sandbox home's client state (the Terraform state of `make deploy`). The sandbox writes it
itself (sandbox/plugins/persistence.py): on `down`, every SAVE_INTERVAL seconds when something
changed, and on request; `up` restores `<home>/state.snapshot`.

This module is shared by the launcher (no LocalStack import: it must stay cheap) and the plugin:
the one place for the layout, the format version and the compatibility rule. A snapshot is
loaded only by the exact versions that wrote it (pickles of LocalStack and moto objects are not
stable across their releases); anything else is refused before a single service is touched.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from sandbox.config import DEPLOY_FOLDER

# Bump when what a snapshot holds, or how it is laid out, changes.
FORMAT = 1
MANIFEST = "manifest.json"
SUFFIX = ".snapshot"
# Folders of the sandbox home carried in a snapshot (relative to the home), and what of them not.
HOME_FOLDERS = (DEPLOY_FOLDER,)
HOME_EXCLUDE = (".terraform",)  # Terraform's provider cache: large, and rebuilt by `init`
HOME_PREFIX = "home/"


class SnapshotError(RuntimeError):
    """A snapshot cannot be used; the message says why and what to do."""


def current_file(home: Path) -> Path:
    """The snapshot `up` restores and `down` writes."""
    return home / f"state{SUFFIX}"


def named_dir(home: Path) -> Path:
    return home / "snapshots"


def named_file(home: Path, name: str) -> Path:
    """A named snapshot: NAME under the home's snapshots/ folder, or a path (contains a /)."""
    if "/" in name or name.endswith(SUFFIX):
        return Path(name).expanduser().resolve()
    if not name or name.startswith("."):
        raise SnapshotError(f"snapshot: invalid name {name!r}")
    return named_dir(home) / f"{name}{SUFFIX}"


def writer_versions() -> dict[str, str]:
    """The versions whose pickles this sandbox reads: they must match exactly."""
    return {
        "format": str(FORMAT),
        "localstack-core": metadata.version("localstack-core"),
        "moto": _moto_version(),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
    }


def _moto_version() -> str:
    for dist in ("moto-ext", "moto"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "none"


@dataclass(frozen=True)
class Manifest:
    path: Path
    data: dict

    @property
    def saved_at(self) -> str:
        return self.data.get("saved_at", "?")

    @property
    def services(self) -> list[str]:
        return sorted(self.data.get("services", {}))

    @property
    def state_id(self) -> str:
        return self.data.get("state_id", "")

    def incompatibilities(self) -> list[str]:
        """What differs between the writer's versions and this sandbox's (empty: loadable)."""
        written = self.data.get("versions", {})
        return [
            f"{key} {written.get(key, 'unknown')} (this sandbox: {value})"
            for key, value in writer_versions().items()
            if written.get(key) != value
        ]

    def check_loadable(self) -> None:
        differences = self.incompatibilities()
        if differences:
            raise SnapshotError(
                f"sandbox: the saved state {self.path} was written by another version and is "
                f"refused (nothing was loaded): {'; '.join(differences)}. Start from nothing with "
                "`make reset` (deletes it), or load a snapshot made by this version "
                "(`python -m sandbox snapshot list`)."
            )


def read_manifest(path: Path) -> Manifest:
    try:
        with zipfile.ZipFile(path) as archive:
            return Manifest(path, json.loads(archive.read(MANIFEST)))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise SnapshotError(f"sandbox: {path} is not a readable snapshot: {e}") from e


def list_named(home: Path) -> list[Manifest]:
    folder = named_dir(home)
    found = []
    for path in sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []:
        try:
            found.append(read_manifest(path))
        except SnapshotError:
            found.append(Manifest(path, {}))
    return found


def install(source: Path, home: Path) -> Manifest:
    """Make `source` the snapshot the next `up` restores, with its home folders; checked first."""
    manifest = read_manifest(source)
    manifest.check_loadable()
    target = current_file(home)
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.resolve() != target.resolve():
        temporary = target.with_suffix(".installing")
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    restore_home_folders(target, home)
    return manifest


def restore_home_folders(snapshot: Path, home: Path) -> None:
    """Replace the home's client state (e.g. deploy/) by the snapshot's copy."""
    with zipfile.ZipFile(snapshot) as archive:
        members = [n for n in archive.namelist() if n.startswith(HOME_PREFIX)]
        for folder in HOME_FOLDERS:
            shutil.rmtree(home / folder, ignore_errors=True)
        for name in members:
            relative = Path(name[len(HOME_PREFIX) :])
            if ".." in relative.parts or relative.is_absolute():
                raise SnapshotError(f"sandbox: {snapshot} holds an unsafe path {name!r}")
            target = home / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))


def home_files(home: Path) -> list[tuple[Path, str]]:
    """(file, archive name) of the home's client state that a snapshot carries."""
    files = []
    for folder in HOME_FOLDERS:
        root = home / folder
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            relative = path.relative_to(home)
            if path.is_file() and not set(relative.parts) & set(HOME_EXCLUDE):
                files.append((path, f"{HOME_PREFIX}{relative.as_posix()}"))
    return files
