#!/usr/bin/env python3
"""Build the Lambda zips `build/functions/<name>.zip` (`make build`), reproducibly.

Each zip holds `<name>/`, the shared `notifications/` package and the runtime dependencies of
functions/requirements.txt, unpacked from wheels for the target runtime (CPython 3.13) and
architecture (`--arch` or LAMBDA_ARCH: x86_64, the default, or arm64). boto3/botocore come with
the Lambda runtime and are left out.

Same inputs → same bytes: entries sorted, timestamps fixed at 1980-01-01, modes 0644, no
bytecode. A manifest of input hashes beside the zips skips a function whose sources,
requirements, architecture and this script did not change ("up to date"). Each zip also gets
`<name>.zip.sha256`: the base64 SHA-256 Terraform's `filebase64sha256()` computes.

Builds into one folder take turns (a lock file in it): two deploys at once (a test's own
sandbox and the session's) read a half-written manifest and failed.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

FUNCTIONS = ("ingest", "processor", "query")
SHARED = "notifications"
SOURCE_SUFFIXES = (".py", ".typed")
PYTHON_VERSION = "3.13"
ARCHITECTURES = {
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
}
ARCH_ALIASES = {"amd64": "x86_64", "aarch64": "arm64"}
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644 << 16
FORMAT = "1"  # bump when the zip layout changes without this file's bytes changing

SRC = Path(__file__).resolve().parent
ROOT = SRC.parent
OUT = ROOT / "build" / "functions"


def shown(path: Path) -> str:
    """`path` relative to the working directory when under it (shorter progress lines)."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def say(message: str) -> None:
    print(f"build: {message}", flush=True)


def sources(src: Path, name: str) -> list[tuple[str, Path]]:
    """(archive name, file) of a function's package and the shared package, sorted."""
    found = []
    for package in (name, SHARED):
        for path in sorted((src / package).rglob("*")):
            wanted = path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts
            if wanted and path.is_file():
                found.append((path.relative_to(src).as_posix(), path))
    if not any(arcname.startswith(f"{name}/") for arcname, _ in found):
        raise SystemExit(f"build: no sources for function {name!r} in {src}")
    return found


def digest(chunks: Iterable[bytes]) -> str:
    hasher = hashlib.sha256()
    for chunk in chunks:
        hasher.update(len(chunk).to_bytes(8, "big"))
        hasher.update(chunk)
    return hasher.hexdigest()


def inputs_hash(files: list[tuple[str, Path]], requirements: Path, arch: str) -> str:
    def chunks() -> Iterator[bytes]:
        yield from (FORMAT.encode(), arch.encode(), PYTHON_VERSION.encode())
        yield Path(__file__).read_bytes()
        yield requirements.read_bytes()
        for arcname, path in files:
            yield arcname.encode()
            yield path.read_bytes()

    return digest(chunks())


def filebase64sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode("ascii")


def download_wheels(requirements: Path, arch: str, cache: Path) -> list[Path]:
    """The wheels of `requirements` for the target, downloaded once per requirements+arch."""
    key = digest([requirements.read_bytes(), arch.encode(), PYTHON_VERSION.encode()])[:16]
    wheel_dir = cache / f"{arch}-{key}"
    if not (wheel_dir / ".complete").exists():
        say(f"downloading dependency wheels for {arch} (python {PYTHON_VERSION})")
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=cache))
        platforms = [arg for platform in ARCHITECTURES[arch] for arg in ("--platform", platform)]
        subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                "--only-binary=:all:", *platforms, "--python-version", PYTHON_VERSION,
                "--implementation", "cp", "-r", str(requirements), "-d", str(staging),
            ],
            check=True,
        )  # fmt: skip
        (staging / ".complete").write_text("")
        shutil.rmtree(wheel_dir, ignore_errors=True)
        shutil.move(str(staging), wheel_dir)
    wheels = sorted(wheel_dir.glob("*.whl"))
    if len(wheels) != len(list(wheel_dir.iterdir())) - 1:
        raise SystemExit(f"build: {wheel_dir} holds something other than wheels (sdist?)")
    return wheels


def project_name(wheel: Path) -> str:
    return wheel.name.split("-")[0].lower().replace("_", "-").replace(".", "-")


def wheel_entries(wheel: Path) -> Iterator[tuple[str, bytes]]:
    """A wheel's installed files (what `pip install --target` would put at the root)."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            name = info.filename
            if info.is_dir() or "__pycache__/" in name or name.endswith(".pyc"):
                continue
            head, _, rest = name.partition("/")
            if head.endswith(".data"):
                scheme, _, rest = rest.partition("/")
                if scheme not in ("purelib", "platlib"):
                    continue  # scripts, headers, data: not importable, not needed
                name = rest
            yield name, archive.read(info)


def write_zip(target: Path, entries: dict[str, bytes]) -> None:
    """Write `entries` sorted with fixed metadata, atomically (temp file + rename).

    The temp file is the process's own: two builds at once (two sandboxes deploying) write the
    same bytes, and neither may rename the other's half-written file away.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_suffix(f".zip.{os.getpid()}.tmp")
    with zipfile.ZipFile(temp, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = FILE_MODE
            info.create_system = 3  # unix, whatever the build machine
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name], compresslevel=9)
    os.replace(temp, target)


def build_one(name: str, src: Path, wheels: list[Path], target: Path) -> int:
    entries: dict[str, bytes] = {}
    for wheel in wheels:
        if project_name(wheel) in RUNTIME_PROVIDED:
            continue
        for arcname, data in wheel_entries(wheel):
            if arcname in entries and entries[arcname] != data:
                raise SystemExit(f"build: {arcname} differs between two wheels")
            entries[arcname] = data
    for arcname, path in sources(src, name):
        if arcname in entries:
            raise SystemExit(f"build: {arcname} is both a source and in a wheel")
        entries[arcname] = path.read_bytes()
    write_zip(target, entries)
    return len(entries)


def build(
    names: Iterable[str] = FUNCTIONS,
    *,
    arch: str = "x86_64",
    src: Path = SRC,
    requirements: Path | None = None,
    out: Path = OUT,
    wheel_cache: Path | None = None,
    force: bool = False,
) -> dict[str, Path]:
    """Build the named functions' zips into `out`; returns name → zip path."""
    arch = ARCH_ALIASES.get(arch, arch)
    if arch not in ARCHITECTURES:
        raise SystemExit(f"build: unknown architecture {arch!r} (x86_64 or arm64)")
    requirements = requirements or src / "requirements.txt"
    wheel_cache = wheel_cache or out / ".wheels"
    with _exclusive(out):
        return _build(names, arch, src, requirements, out, wheel_cache, force)


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold `out`'s lock file: another build into `out` waits until this one is done."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build(
    names: Iterable[str],
    arch: str,
    src: Path,
    requirements: Path,
    out: Path,
    wheel_cache: Path,
    force: bool,
) -> dict[str, Path]:
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    wheels: list[Path] | None = None
    built: dict[str, Path] = {}
    for name in names:
        target = out / f"{name}.zip"
        files = sources(src, name)
        wanted = inputs_hash(files, requirements, arch)
        known = manifest.get(name, {})
        if (
            not force
            and known.get("inputs") == wanted
            and target.exists()
            and filebase64sha256(target) == known.get("sha256")
        ):
            say(f"{name}: up to date ({shown(target)})")
            built[name] = target
            continue
        started = time.monotonic()
        if wheels is None:
            wheels = download_wheels(requirements, arch, wheel_cache)
        count = build_one(name, src, wheels, target)
        checksum = filebase64sha256(target)
        Path(f"{target}.sha256").write_text(checksum + "\n")
        manifest[name] = {"inputs": wanted, "sha256": checksum, "arch": arch}
        partial = manifest_path.with_name(f".{manifest_path.name}.{os.getpid()}")
        partial.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        os.replace(partial, manifest_path)  # whole or not at all, even if the build is killed
        size = target.stat().st_size
        say(
            f"{name}: {count} files, {size / 1024:.0f} KiB, {arch}, "
            f"{time.monotonic() - started:.1f} s → {shown(target)}"
        )
        built[name] = target
    return built


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"default: {' '.join(FUNCTIONS)}")
    parser.add_argument(
        "--arch",
        default=os.environ.get("LAMBDA_ARCH", "x86_64"),
        help="x86_64 (default) or arm64; env LAMBDA_ARCH",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="output folder")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(FUNCTIONS))
    if unknown:
        parser.error(f"unknown function(s) {', '.join(unknown)}; known: {', '.join(FUNCTIONS)}")
    started = time.monotonic()
    build(args.names or FUNCTIONS, arch=args.arch, out=args.out.resolve(), force=args.force)
    say(f"done in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
