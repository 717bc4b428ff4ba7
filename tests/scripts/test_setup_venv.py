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
