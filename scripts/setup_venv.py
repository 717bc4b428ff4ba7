#!/usr/bin/env python3
"""Create .venv with a Python >= 3.13 and install the project into it.

Run by `make setup` with whatever `python3` the machine has (stdlib only, Python >= 3.8),
because LocalStack's core needs 3.13 while many machines default to an older Python.
Looks on PATH first, then in pyenv's installed versions, and lists what it tried on failure.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

MIN_VERSION = (3, 13)
ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".installed"
FUNCTION_REQUIREMENTS = ROOT / "functions" / "requirements.txt"
INPUTS = [ROOT / "pyproject.toml", FUNCTION_REQUIREMENTS, Path(__file__).resolve()]
# The installer, a set-up tool rather than a dependency of the project (hence not in pyproject),
# kept once per user (it is the same binary for every clone). And pip, which the venv is made
# without (uv installs it, from its cache, in a fraction of `python -m venv`'s 2 s with ensurepip):
# functions/build.py downloads the Lambda functions' wheels with it.
UV = "uv==0.13.9"
PIP = "pip==24.2"
UV_CACHE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "notifications-sandbox"
    / UV.replace("==", "-")
)


def version_of(python: str) -> tuple[int, int] | None:
    """The (major, minor) of an interpreter, or None when it does not run."""
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.split()
        return int(out[0]), int(out[1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def candidates() -> list[str]:
    """Interpreters to try, best first: PATH, then pyenv's installed versions."""
    found: list[str] = []
    for name in ("python3.14", "python3.13", "python3"):
        path = shutil.which(name)
        if path:
            found.append(path)
    roots = [os.environ.get("PYENV_ROOT", ""), str(Path.home() / ".pyenv")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            roots.insert(
                0,
                subprocess.run(
                    [pyenv, "root"], capture_output=True, text=True, timeout=20, check=True
                ).stdout.strip(),
            )
        except (OSError, subprocess.SubprocessError):
            pass
    for root in dict.fromkeys(r for r in roots if r):
        for path in sorted(glob.glob(f"{root}/versions/3.*/bin/python3"), reverse=True):
            found.append(path)
    return list(dict.fromkeys(found))


def find_python() -> str:
    tried = []
    for python in candidates():
        version = version_of(python)
        tried.append(f"  {python}: {'does not run' if version is None else '%d.%d' % version}")
        if version is not None and version >= MIN_VERSION:
            return python
    sys.exit(
        "setup: no Python >= %d.%d found. Tried:\n%s\n"
        "Install one (e.g. `pyenv install 3.13`) and re-run `make setup`."
        % (*MIN_VERSION, "\n".join(tried) or "  (nothing on PATH or in pyenv)")
    )


def inputs_digest() -> str:
    digest = hashlib.sha256()
    for path in INPUTS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def uv_runs(path: Path) -> bool:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.split()[1:2] == [UV.split("==")[1]]


def provide_uv(python: str) -> bool:
    """Put uv into .venv/bin: from this user's cache, else installed there by `python`'s pip
    (the interpreter the venv was made from). False when neither works."""
    cached = UV_CACHE / "bin" / "uv"
    if not uv_runs(cached):
        partial = UV_CACHE.with_name(f"{UV_CACHE.name}.{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        command = [*pip_install(python), "--target", str(partial), UV]
        try:
            installed = subprocess.run(command).returncode == 0
        except OSError:
            installed = False
        if not installed:
            shutil.rmtree(partial, ignore_errors=True)
            return False
        shutil.rmtree(UV_CACHE, ignore_errors=True)
        os.replace(partial, UV_CACHE)
        if not uv_runs(cached):
            return False
    shutil.copy2(cached, VENV / "bin" / "uv")
    return True


def install(venv_python: Path, args: list[str], python: str | None = None) -> None:
    """`pip install args` (and pip itself) into .venv, done by uv when it can be had (parallel
    downloads, one resolver pass in Rust: seconds instead of about a minute), by pip otherwise.
    `python`: the interpreter the venv was made from, when known."""
    uv = VENV / "bin" / "uv"
    if not uv.exists() and not provide_uv(python or find_python()):
        print("setup: uv could not be installed; pip installs (about a minute)")
    if uv.exists():
        env = dict(os.environ)
        if env.get("PIP_INDEX_URL"):  # uv reads no pip configuration
            env.setdefault("UV_DEFAULT_INDEX", env["PIP_INDEX_URL"])
        command = [str(uv), "pip", "install", "--quiet", "--python", str(venv_python), PIP, *args]
        if subprocess.run(command, env=env).returncode == 0:
            # LocalStack's index of AWS service specifications, built once here (3 s of CPU,
            # alongside the compilation) rather than by each test process that imports API
            # Gateway's internals (sandbox/service_catalog.py); a failure only costs that.
            catalog = subprocess.Popen(
                [str(venv_python), "-m", "sandbox.service_catalog"], stdout=subprocess.DEVNULL
            )
            compile_bytecode(venv_python)
            catalog.wait()
            return
        print("setup: uv failed (see above); pip installs instead")
    subprocess.run([str(venv_python), "-m", "ensurepip", "--default-pip"], check=True)
    subprocess.run([*pip_install(str(venv_python)), *args], check=True)


def pip_install(python: str) -> list[str]:
    """`pip install`, quietly, with `python`'s pip."""
    return [python, "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]


# Installed as dependencies of dependencies (cfn-lint, CloudFormation and plotting support, the
# AWS CLI, Twisted, setuptools) and imported by no process of this project: nearly a third of the
# venv's 13,000 modules. (pip is: functions/build.py downloads wheels with it.)
NOT_IMPORTED = (
    "sympy|networkx|matplotlib|mpl_toolkits|contourpy|fontTools|numpy|cfnlint|samtranslator"
    "|awscli|twisted|setuptools"
)


def compile_bytecode(venv_python: Path) -> None:
    """Bytecode now, as pip does by default and uv does not: where PYTHONDONTWRITEBYTECODE is
    set (common in containers; set on this project's build machine), nothing is cached at run
    time, and every process importing LocalStack compiled it again (about 2 s of CPU per sandbox
    start, test worker and CLI call). Not for NOT_IMPORTED (uv's --compile-bytecode compiled them
    too: 16 s of CPU in all, a third of it theirs); one of them imported after all is compiled
    then, where bytecode may be written."""
    site = subprocess.run(
        [str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    skip = rf"/site-packages/({NOT_IMPORTED})/"
    # -q: a module that does not compile (test data of some packages) is listed, not fatal.
    subprocess.run([str(venv_python), "-m", "compileall", "-q", "-j", "0", "-x", skip, site])


def main() -> None:
    digest = inputs_digest()
    venv_python = VENV / "bin" / "python"
    if STAMP.exists() and STAMP.read_text() == digest and version_of(str(venv_python)):
        print("setup: .venv is up to date")
        return
    python = None
    if not venv_python.exists() or (version_of(str(venv_python)) or (0, 0)) < MIN_VERSION:
        python = find_python()
        print(f"setup: creating .venv with {python}")
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([python, "-m", "venv", "--without-pip", str(VENV)], check=True)
    print("setup: installing the project and its pinned dependencies")
    # One resolver pass: the project with its dev extra, and the Lambda functions' pinned runtime
    # dependencies (so unit tests import what ships).
    install(venv_python, ["-e", f"{ROOT}[dev]", "-r", str(FUNCTION_REQUIREMENTS)], python)
    STAMP.write_text(digest)
    print("setup: done")


if __name__ == "__main__":
    main()
