"""The venv bootstrap's interpreter search (scripts/setup_venv.py), without creating a venv."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "setup_venv.py"


def load():
    spec = importlib.util.spec_from_file_location("setup_venv", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_first_interpreter_new_enough_is_chosen(monkeypatch) -> None:
    setup = load()
    monkeypatch.setattr(setup, "candidates", lambda: ["/nonexistent/python3", sys.executable])
    assert setup.find_python() == sys.executable  # the test runs on >= 3.13


def test_no_new_enough_interpreter_lists_what_was_tried(monkeypatch, tmp_path: Path) -> None:
    setup = load()
    old = tmp_path / "python3"
    old.write_text("#!/bin/sh\necho 3 11\n")
    old.chmod(0o755)
    monkeypatch.setattr(setup, "candidates", lambda: ["/nonexistent/python3", str(old)])
    with pytest.raises(SystemExit) as failure:
        setup.find_python()
    message = str(failure.value)
    assert "no Python >= 3.13 found" in message
    assert "/nonexistent/python3: does not run" in message
    assert f"{old}: 3.11" in message


@pytest.mark.parametrize("module", ["localstack.aws.app", "moto.core.models", "botocore.client"])
def test_the_venv_holds_the_bytecode_of_what_every_process_imports(module: str) -> None:
    """Without it, PYTHONDONTWRITEBYTECODE (set on many machines) makes each process compile
    LocalStack again: about 2 s of CPU per sandbox start, test worker and CLI call."""
    source = importlib.util.find_spec(module).origin
    assert Path(importlib.util.cache_from_source(source)).exists(), (
        f"no bytecode for {source}: `make setup` must install compiled (uv --compile-bytecode)"
    )


def fake_uv(path: Path, version: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho uv {version} '(fake)'\n")
    path.chmod(0o755)
    return path


def test_uv_comes_from_the_users_cache_when_it_holds_the_pinned_version(
    monkeypatch, tmp_path: Path
) -> None:
    setup = load()
    monkeypatch.setattr(setup, "UV_CACHE", tmp_path / "cache" / "uv-x")
    monkeypatch.setattr(setup, "VENV", tmp_path / "venv")
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    fake_uv(tmp_path / "cache" / "uv-x" / "bin" / "uv", setup.UV.split("==")[1])
    assert setup.provide_uv("/nonexistent/python3")  # no pip needed: the cached one is copied
    assert setup.uv_runs(tmp_path / "venv" / "bin" / "uv")


def test_a_cached_uv_of_another_version_is_not_used(monkeypatch, tmp_path: Path) -> None:
    setup = load()
    monkeypatch.setattr(setup, "UV_CACHE", tmp_path / "cache" / "uv-x")
    monkeypatch.setattr(setup, "VENV", tmp_path / "venv")
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    fake_uv(tmp_path / "cache" / "uv-x" / "bin" / "uv", "0.0.1")
    assert not setup.uv_runs(tmp_path / "cache" / "uv-x" / "bin" / "uv")
    assert not setup.provide_uv("/nonexistent/python3")  # and no pip to install the pinned one
    assert not (tmp_path / "venv" / "bin" / "uv").exists()
