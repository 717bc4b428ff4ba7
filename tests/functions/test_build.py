"""functions/build.py: same sources → same bytes; rebuild only on change; a usable zip.

Downloads the pinned wheels once per session (the package index must be reachable).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
NAMES = ("ingest", "processor", "query")


def load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("functions_build", FUNCTIONS / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()


@pytest.fixture(scope="session")
def wheel_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wheels")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A copy of functions/ with a stray __pycache__ that must not reach the zips."""
    copy = tmp_path / "src"
    shutil.copytree(FUNCTIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "ingest" / "__pycache__").mkdir()
    (copy / "ingest" / "__pycache__" / "app.cpython-313.pyc").write_bytes(b"junk")
    return copy


def run(src: Path, out: Path, cache: Path, **kwargs) -> dict[str, Path]:
    return build.build(NAMES, src=src, out=out, wheel_cache=cache, **kwargs)


def test_two_builds_are_byte_identical(src: Path, tmp_path: Path, wheel_cache: Path) -> None:
    first = run(src, tmp_path / "a", wheel_cache)
    (src / "ingest" / "app.py").touch()  # a newer mtime changes nothing
    second = run(src, tmp_path / "b", wheel_cache)
    for name in NAMES:
        data = first[name].read_bytes()
        assert data == second[name].read_bytes(), name
        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        assert Path(f"{first[name]}.sha256").read_text().strip() == checksum


def test_builds_into_one_folder_at_once_take_turns(
    src: Path, tmp_path: Path, wheel_cache: Path
) -> None:
    """Two deploys build at once (the session's and a test's own): each gets whole zips and a
    whole manifest, and the second finds the first's work up to date."""
    out = tmp_path / "shared"
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run(src, out, wheel_cache), range(2)))
    for name in NAMES:
        assert results[0][name] == results[1][name] == out / f"{name}.zip"
        zipfile.ZipFile(out / f"{name}.zip").testzip()
    assert set(json.loads((out / "manifest.json").read_text())) == set(NAMES)


def test_zip_layout_and_fixed_metadata(src: Path, tmp_path: Path, wheel_cache: Path) -> None:
    zip_path = run(src, tmp_path, wheel_cache)["ingest"]
    with zipfile.ZipFile(zip_path) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    expected = {"ingest/app.py", "notifications/validation.py", "aws_lambda_powertools/__init__.py"}
    assert expected <= set(names)
    assert not any(n.startswith(("processor/", "query/", "boto3/", "botocore/")) for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert "build.py" not in names and "requirements.txt" not in names
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}


def test_rebuilds_only_what_changed(src: Path, tmp_path: Path, wheel_cache: Path, capsys) -> None:
    out = tmp_path / "out"
    first = {name: path.read_bytes() for name, path in run(src, out, wheel_cache).items()}
    capsys.readouterr()
    run(src, out, wheel_cache)
    assert capsys.readouterr().out.count("up to date") == 3
    with (src / "query" / "app.py").open("a") as handle:
        handle.write("\n# changed\n")
    again = run(src, out, wheel_cache)
    printed = capsys.readouterr().out
    assert printed.count("up to date") == 2 and "query: " in printed
    assert again["query"].read_bytes() != first["query"]
    assert again["ingest"].read_bytes() == first["ingest"]
    again["ingest"].write_bytes(b"corrupted")  # a damaged zip is not "up to date"
    run(src, out, wheel_cache)
    assert again["ingest"].read_bytes() == first["ingest"]


def test_handlers_import_from_the_zips(src: Path, tmp_path: Path, wheel_cache: Path) -> None:
    """As in Lambda: only the zip (and the runtime's boto3) on the path."""
    for name, zip_path in run(src, tmp_path, wheel_cache).items():
        code = (
            f"import sys; sys.path.insert(0, {str(zip_path)!r}); import {name}.app as a; "
            f"assert a.__file__.startswith({str(zip_path)!r}), a.__file__; "
            "assert callable(a.handler); import aws_lambda_powertools as p; "
            f"assert p.__file__.startswith({str(zip_path)!r}), p.__file__"
        )
        subprocess.run([sys.executable, "-I", "-c", code], check=True, cwd=tmp_path)


def test_arm64_and_unknown_architectures(src: Path, tmp_path: Path, wheel_cache: Path) -> None:
    arm = build.build(
        ["query"], arch="aarch64", src=src, out=tmp_path / "arm", wheel_cache=wheel_cache
    )
    assert zipfile.ZipFile(arm["query"]).testzip() is None
    with pytest.raises(SystemExit):
        build.build(["query"], arch="sparc", src=src, out=tmp_path / "x", wheel_cache=wheel_cache)
