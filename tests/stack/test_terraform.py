"""Static checks of the Terraform stack (stack/): fmt, validate, `terraform test`, checkov.

Offline: the AWS provider comes from the filesystem mirror (see sandbox.terraform) and the
tests use `mock_provider "aws"`. Each session works on a copy of stack/ in a temp folder, so
it never touches a developer's stack/.terraform or state. `make tf-check` runs the same
commands in place.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.provider_server import provider_server

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "stack"
TOOLS_VENV = ROOT / ".venv-tools"
TOOLS_REQUIREMENTS = STACK / "requirements-tools.txt"
COPY_IGNORE = shutil.ignore_patterns(
    ".terraform",
    "*.tfstate",
    "*.tfstate.*",
    "localstack_providers_override.tf",
    "backend_override.tf",
)

pytestmark = pytest.mark.skipif(
    shutil.which("terraform") is None, reason="terraform is not on PATH (Terraform >= 1.7)"
)


def _cli_config(folder: Path) -> Path:
    """The project's Terraform CLI config (AWS provider from the filesystem mirror if any)."""
    from sandbox.terraform import write_cli_config

    return write_cli_config(folder)


@pytest.fixture(scope="session")
def tf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """(working copy of stack/, environment) after `terraform init -backend=false`, with a
    provider process: ~2.5 CPU-s, so once per worker session (a module-scoped one was set up
    again whenever the worker came back from another module) and on one worker under xdist
    (its tests are marked `one_worker`: 4 or 5 workers each set it up before)."""
    base = tmp_path_factory.mktemp("stack-check")
    work = base / "stack"
    shutil.copytree(STACK, work, ignore=COPY_IGNORE)
    from sandbox.terraform import PROVIDER_ENV

    env = {
        **PROVIDER_ENV,
        **os.environ,
        "TF_CLI_CONFIG_FILE": str(_cli_config(base)),
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
    }
    init = _terraform(work, env, "init", "-backend=false", "-input=false")
    assert init.returncode == 0, init.stdout + init.stderr
    # The tests mock the provider, so nothing configures it (harness/provider_server.py).
    with provider_server(work, base) as reattach:
        yield work, {**env, "TF_REATTACH_PROVIDERS": reattach}


def _terraform(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["terraform", *args, "-no-color"] if args[0] != "fmt" else ["terraform", *args],
        cwd=cwd,
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )


@pytest.mark.one_worker
def test_the_lock_file_covers_every_platform(tf: tuple[Path, dict[str, str]]) -> None:
    """One `zh:` per published package of the provider (15 platforms), the local `h1:`.

    `init` (in the fixture) verified the local package against these hashes; it must not have
    had to change the lock file.
    """
    lock = (STACK / ".terraform.lock.hcl").read_text()
    zh = re.findall(r'"zh:([0-9a-f]{64})"', lock)
    assert len(zh) == len(set(zh)) == 15, zh
    assert len(re.findall(r'"h1:[A-Za-z0-9+/=]{44}"', lock)) >= 1
    work, _ = tf
    assert (work / ".terraform.lock.hcl").read_text() == lock


def test_fmt_is_clean() -> None:
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff"],
        cwd=STACK,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


@pytest.mark.one_worker
def test_validate(tf: tuple[Path, dict[str, str]]) -> None:
    work, env = tf
    result = _terraform(work, env, "validate")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.long
@pytest.mark.one_worker
def test_terraform_test_invariants(tf: tuple[Path, dict[str, str]]) -> None:
    """stack/tests/*.tftest.hcl: filter policies, DLQ wiring, VT >= 6 x timeout, alarms, ESMs."""
    work, env = tf
    result = _terraform(work, env, "test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failed" in result.stdout, result.stdout


@pytest.mark.one_worker
@pytest.mark.parametrize("var_file", ["env/sandbox.tfvars", "env/aws.tfvars.example"])
def test_tfvars_files_plan(tf: tuple[Path, dict[str, str]], var_file: str) -> None:
    """Each environment's tfvars passes every validation and precondition (mocked plan)."""
    work, env = tf
    result = _terraform(
        work,
        env,
        "test",
        "-test-directory=tests/tfvars",
        f"-var-file={var_file}",
        "-var=artifacts_dir=./tests/fixtures",
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.one_worker
@pytest.mark.parametrize("module", ["bootstrap/github_oidc"])
def test_bootstrap_module(tf: tuple[Path, dict[str, str]], module: str) -> None:
    """An optional bootstrap module (applied on its own): validate and its mocked tests."""
    work, env = tf
    folder = work / module
    for args in (("init", "-backend=false", "-input=false"), ("validate",), ("test",)):
        result = _terraform(folder, env, *args)
        assert result.returncode == 0, f"terraform {args[0]}: {result.stdout}{result.stderr}"
    assert " 0 failed" in result.stdout, result.stdout


def _checkov() -> Path | None:
    """checkov from .venv-tools, created on first use; None when it cannot be installed."""
    checkov = TOOLS_VENV / "bin" / "checkov"
    if checkov.exists():
        return checkov
    # uv (installed into .venv by `make setup`) when there, as `make tools` does; pip otherwise.
    uv = Path(sys.executable).parent / "uv"
    tools_python = TOOLS_VENV / "bin" / "python"
    install = (
        [str(uv), "pip", "install", "-q", "--python", str(tools_python)]
        if uv.exists()
        else [str(tools_python), "-m", "pip", "install", "-q"]
    )
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(TOOLS_VENV)], check=True, capture_output=True
        )
        subprocess.run(
            [*install, "-r", str(TOOLS_REQUIREMENTS)],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", b"") or b""
        warnings.warn(
            f"checkov could not be installed into {TOOLS_VENV}: {error} {detail[-500:]!r}",
            stacklevel=2,
        )
        return None
    return checkov if checkov.exists() else None


@pytest.mark.long
def test_checkov_has_no_unjustified_findings() -> None:
    """Every failed check is either fixed or skipped in place with `#checkov:skip=ID:reason`."""
    checkov = _checkov()
    if checkov is None:
        pytest.skip(
            "!!! SECURITY SCAN NOT RUN: checkov could not be installed into .venv-tools "
            "(run `make tools` and see its output) !!!"
        )
    result = subprocess.run(
        [
            str(checkov),
            "-d",
            str(STACK),
            "--framework",
            "terraform",
            "--compact",
            "--quiet",
            "--skip-download",
        ],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
