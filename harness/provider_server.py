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
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from harness.waiting import eventually


@contextlib.contextmanager
def provider_server(work: Path, folder: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """The AWS provider `terraform init` installed in `work`, started in `folder` (its log
    there) with `env` (what Terraform would have passed it: the provider reads its settings
    from its own environment); yields the TF_REATTACH_PROVIDERS value, then stops it."""
    providers = work / ".terraform" / "providers" / "registry.terraform.io" / "hashicorp" / "aws"
    binary = next(providers.glob("*/*/terraform-provider-aws_*"))
    out = folder / "provider-debug.log"
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
