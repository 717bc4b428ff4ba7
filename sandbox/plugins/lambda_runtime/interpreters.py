"""Which Python runs a function, and the runtime-provided libraries it sees.

AWS runs a function with the runtime's own interpreter and a boto3 from `/var/runtime`, never
with the libraries of whatever deployed it. Here the interpreter is a plain host Python (the
venv's base interpreter for its own version, pyenv or PATH for others) started in isolated mode,
and `/var/runtime` is a folder of links to the boto3 stack of the venv, made once per sandbox.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SUPPORTED_RUNTIMES = ("python3.12", "python3.13")

# The boto3 stack as AWS ships it in the Python runtimes (packages and single-module distributions).
RUNTIME_LIBRARIES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")

_runtime_dir_lock = threading.Lock()


class RuntimeUnavailable(RuntimeError):
    """The function's runtime cannot run on this host; the message says why and what works."""


def unsupported_message(runtime: str | None) -> str:
    what = f"runtime {runtime}" if runtime else "container image functions"
    return (
        f"The sandbox runs Lambda functions as host processes and supports only "
        f"{', '.join(SUPPORTED_RUNTIMES)} (zip packages); {what} is not supported here."
    )


def _version_of(executable: str) -> str | None:
    """'3.12' for a working interpreter, None for a broken one (e.g. an unselected pyenv shim)."""
    try:
        out = subprocess.run(
            [executable, "-I", "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _pyenv_root() -> Path | None:
    if root := os.environ.get("PYENV_ROOT"):
        return Path(root)
    if pyenv := shutil.which("pyenv"):
        try:
            out = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                return Path(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    default = Path.home() / ".pyenv"
    return default if default.is_dir() else None


def _candidates(version: str) -> list[str]:
    found: list[str] = []
    if f"{sys.version_info[0]}.{sys.version_info[1]}" == version:
        found.append(getattr(sys, "_base_executable", None) or sys.executable)
        found.append(str(Path(sys.base_prefix) / "bin" / f"python{version}"))
    if on_path := shutil.which(f"python{version}"):
        found.append(on_path)
    if root := _pyenv_root():
        for folder in sorted((root / "versions").glob(f"{version}*"), reverse=True):
            found.append(str(folder / "bin" / f"python{version}"))
    return found


@functools.cache
def interpreter_for(runtime: str | None) -> str:
    """The host interpreter for a Lambda runtime such as `python3.12`; cached per runtime."""
    if runtime not in SUPPORTED_RUNTIMES:
        raise RuntimeUnavailable(unsupported_message(runtime))
    version = runtime.removeprefix("python")
    tried = []
    for candidate in dict.fromkeys(_candidates(version)):
        tried.append(candidate)
        if Path(candidate).exists() and _version_of(candidate) == version:
            return candidate
    raise RuntimeUnavailable(
        f"No Python {version} found for runtime {runtime} (tried: {', '.join(tried) or 'none'}). "
        f"Install it (e.g. `pyenv install {version}`) or put python{version} on PATH."
    )


def sandbox_lambda_dir() -> Path:
    """Per-sandbox folder for the Lambda runtime's files (SANDBOX_HOME, else the temp folder)."""
    home = os.environ.get("SANDBOX_HOME")
    base = Path(home) if home else Path(tempfile.gettempdir())
    return base / "lambda-runtime"


def runtime_dir() -> Path:
    """The `/var/runtime` equivalent: links to the venv's boto3 stack, created once."""
    target = sandbox_lambda_dir() / "python"
    with _runtime_dir_lock:
        if (target / ".complete").exists():
            return target
        target.mkdir(parents=True, exist_ok=True)
        site_packages = Path(__import__("boto3").__file__).resolve().parent.parent
        for name in RUNTIME_LIBRARIES:
            link = target / name
            if not link.is_symlink() and (site_packages / name).exists():
                link.symlink_to(site_packages / name)
        (target / ".complete").touch()
    return target
