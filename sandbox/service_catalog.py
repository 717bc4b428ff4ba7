"""LocalStack's service catalog index, built once per installation instead of once per home.

Why: LocalStack's API Gateway integrations load an index of every AWS service's specification
when the execute-api routes load (at start-up here, sandbox/plugins/execute_api_fidelity.py).
Without a cached index it reads all of botocore's service models: about 2 s of CPU, paid by every
sandbox that starts in a new home (`make reset`, each test that starts its own sandbox, every
container). LocalStack itself looks for a prebuilt index in its static libraries folder (its image
builds one at build time); this module plays that part for a sandbox on the host: it keeps one
index per LocalStack and botocore version beside the interpreter (`<venv>/share/`) and copies it
into the home's static libraries folder before LocalStack starts.

A folder that cannot be written (a read-only venv) only costs the old price: LocalStack builds its
own index as before. `python -m sandbox.service_catalog` builds it ahead (`make setup` and the
image do). Test processes that import LocalStack read it too (`use_in_this_process`).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from sandbox.plugins.patching import Target

INTERNALS = (
    Target("localstack.aws.spec:_get_catalog_filename", params=()),
    Target("localstack.aws.spec:build_service_index_cache", params=("file_path",)),
    # Reads <static_libs>/<file_name()> first (what install() writes), then builds into its cache.
    Target("localstack.aws.spec:get_service_catalog"),
)
LOG = logging.getLogger(__name__)

SHARED_DIR = Path(sys.prefix) / "share" / "notifications-sandbox"


def file_name() -> str:
    """LocalStack's own name for the index: it names the two versions it depends on."""
    from localstack.aws import spec

    return spec._get_catalog_filename()


def shared_index() -> Path | None:
    """The installation's index, built now if missing; None if it cannot be written."""
    path = SHARED_DIR / file_name()
    if path.exists():
        return path
    from localstack.aws import spec

    try:
        SHARED_DIR.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(dir=SHARED_DIR, prefix=".building-")
        os.close(fd)
    except OSError as error:
        LOG.info("service catalog: %s not writable (%s): LocalStack builds one", SHARED_DIR, error)
        return None
    try:
        spec.build_service_index_cache(partial)
        os.chmod(partial, 0o644)  # mkstemp's 0600 would hide it from a sandbox run as another user
        os.replace(partial, path)  # atomic: sandboxes starting at once never read half a file
    finally:
        Path(partial).unlink(missing_ok=True)
    return path


def install(static_libs: str) -> None:
    """Put the installation's index where LocalStack looks first (`config.dirs.static_libs`)."""
    target = Path(static_libs) / file_name()
    if target.exists():
        return
    source = shared_index()
    if source is None:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.copyfile(source, partial)
    os.replace(partial, target)


def use_in_this_process() -> None:
    """LocalStack imported by a process other than the sandbox (a test worker) reads the
    installation's index too, once there is one (`make setup` builds it), instead of scanning
    every botocore model (what importing API Gateway's execute-api integrations cost each pytest
    worker: 2 s of CPU). Without it there, LocalStack falls back to that scan, as before."""
    from localstack import config

    config.dirs.static_libs = str(SHARED_DIR)


def main() -> int:
    path = shared_index()
    print(f"service catalog: {path or 'not writable: ' + str(SHARED_DIR)}")
    return 0 if path else 1


if __name__ == "__main__":
    raise SystemExit(main())
