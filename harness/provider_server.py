"""One AWS provider process that a test's Terraform commands attach to, instead of each command
starting its own.

Why: Terraform starts the provider (a 700 MB binary that builds the schema of every AWS resource,
≈ 1.5 CPU-s) for each command, and several times in one: `terraform test` of stack/ started it
45 times (20 of its 26 CPU seconds), the tflocal smoke test's seven commands about a dozen. Started
once with `-debug`, the provider prints a TF_REATTACH_PROVIDERS value; commands run with it in
their environment use that process. Only for commands run one at a time against one
configuration (each command configures the provider again): a test's own sequence, never
concurrent deploys.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from harness.waiting import eventually

# Run on its own, the provider's SDK logs at trace level (Terraform filters a provider's log only
# when it started the provider): 10 MB, 20,000 lines, for the tflocal smoke test. Warnings and
# the provider's own requests are kept (0.8 MB). Its CPU time is the same either way (~3.5 CPU-s
# a command, nearly all allocation and garbage collection in the Go runtime: measured with perf).
QUIET = {
    f"TF_LOG_{name}": "WARN"
    for name in ("SDK", "SDK_PROTO", "SDK_HELPER_SCHEMA", "SDK_FRAMEWORK", "SDK_MUX", "PROVIDER")
}


@contextlib.contextmanager
def provider_server(work: Path, folder: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """The AWS provider `terraform init` installed in `work`, started in `folder` (its log
    there) with `env` (what Terraform would have passed it: the provider reads its settings
    from its own environment); yields the TF_REATTACH_PROVIDERS value, then stops it."""
    providers = work / ".terraform" / "providers" / "registry.terraform.io" / "hashicorp" / "aws"
    binary = next(providers.glob("*/*/terraform-provider-aws_*"))
    out = folder / "provider-debug.log"
    env = {**(os.environ if env is None else env), **QUIET}
    with out.open("wb") as sink:
        provider = subprocess.Popen(
            [str(binary), "-debug"], cwd=folder, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    try:
        yield eventually(
            lambda: reattach_config(out),
            timeout=120,
            describe=lambda: f"the provider's debug address; its output: {out.read_text()[-2000:]}",
        )
    finally:
        provider.terminate()
        try:
            provider.wait(timeout=10)
        except subprocess.TimeoutExpired:
            provider.kill()
            provider.wait()


def reattach_config(out: Path) -> str | None:
    """The TF_REATTACH_PROVIDERS value the provider printed, once it has."""
    match = re.search(r"TF_REATTACH_PROVIDERS='(\{.*\})'", out.read_text())
    return json.dumps(json.loads(match.group(1))) if match else None
