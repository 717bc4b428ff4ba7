"""Deploy the stack to the sandbox (`make deploy` / `make destroy`).

The stack is applied unchanged from a copy under the sandbox's home folder, with tflocal's
provider override (written once, then plain `terraform`: see sandbox.terraform), so its
Terraform state lives and dies with the sandbox's state: the sandbox names its state (a state id
kept across `down`/`up` by its snapshots, new after `make reset`), and a new state means a fresh
Terraform state. The copy's `.terraform` and override survive it and `terraform init` runs only
when the stack's configuration changed. A deploy is skipped when neither the stack, the tfvars,
the function zips nor the sandbox's state changed since the last one. The deploy prints the
time of each step and its slowest resources.
The sandbox is a host process or, with SANDBOX_RUNTIME=container, a container
(harness/container.py).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.container import backend
from sandbox import launcher, terraform
from sandbox.config import REPO_ROOT, SandboxConfig

STACK_DIR = REPO_ROOT / "stack"
BUILD_SCRIPT = REPO_ROOT / "functions" / "build.py"
ARTIFACTS_DIR = REPO_ROOT / "build" / "functions"
TFVARS = "env/sandbox.tfvars"
PARALLELISM = 32
# What of stack/ is deployed; its tests and examples are not.
STACK_IGNORE = shutil.ignore_patterns(".terraform", "*.tfstate*", "tests", "*.example", "*.txt")
# Kept in the deployed copy when stack/ is copied again: Terraform's own files and state.
KEPT = {
    ".terraform",
    ".terraform.lock.hcl",
    "terraform.tfstate",
    "terraform.tfstate.backup",
    terraform.OVERRIDE_NAME,
}
STATE_FILES = ("terraform.tfstate", "terraform.tfstate.backup")
# "module.x.aws_y.z: Creation complete after 25s [id=...]" in Terraform's apply output.
COMPLETE = re.compile(r"^(\S+): (?:Creation|Modifications|Destruction) complete after (\S+?)s?\b")
SLOWEST_SHOWN = 5


class DeployError(RuntimeError):
    """Deploy failed; the message says which step and shows its output."""


@dataclass(frozen=True)
class Deployment:
    outputs: dict
    seconds: float
    skipped: bool


_THREAD = threading.local()


def say(message: str) -> None:
    if not getattr(_THREAD, "quiet", False):
        print(f"deploy: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def quietly() -> Iterator[None]:
    """`say` prints nothing from this thread meanwhile (a deploy in a test session's background,
    whose lines would land in whichever test's captured output)."""
    _THREAD.quiet = True
    try:
        yield
    finally:
        _THREAD.quiet = False


def workdir(config: SandboxConfig) -> Path:
    return config.deploy_dir


def outputs_file(config: SandboxConfig) -> Path:
    return workdir(config) / "outputs.json"


def fingerprint(state_id: str) -> str:
    """Everything a deploy depends on: stack sources, zips and the sandbox's state."""
    digest = hashlib.sha256(state_id.encode())
    files = sorted(p for p in STACK_DIR.rglob("*") if p.is_file() and ".terraform" not in p.parts)
    files += sorted(ARTIFACTS_DIR.glob("*.zip"))
    for path in files:
        digest.update(str(path.relative_to(REPO_ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def build() -> None:
    """`make build`; its output kept for an error when `quietly` (a test session's background)."""
    quiet = getattr(_THREAD, "quiet", False)
    command = [sys.executable, str(BUILD_SCRIPT)]
    result = subprocess.run(command, check=False, capture_output=quiet, text=True)
    if result.returncode != 0:
        detail = f":\n{result.stdout}{result.stderr}" if quiet else " (see above)"
        raise DeployError(f"deploy: `make build` failed{detail}")


def sync_stack(target: Path) -> None:
    """Copy stack/ into `target`, keeping Terraform's state, plugins and provider override."""
    if target.exists():
        for entry in target.iterdir():
            if entry.name not in KEPT:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(STACK_DIR, target, ignore=STACK_IGNORE, dirs_exist_ok=True)


def forget_state(config: SandboxConfig) -> None:
    """A fresh start for a new sandbox state: no Terraform state, outputs or log; plugins kept."""
    work = workdir(config)
    for path in (work / "fingerprint", outputs_file(config), work / "terraform.log"):
        path.unlink(missing_ok=True)
    for name in STATE_FILES:
        (work / "stack" / name).unlink(missing_ok=True)


def configuration_digest(stack: Path) -> str:
    """What `terraform init` and the provider override depend on: the copy's *.tf files."""
    digest = hashlib.sha256()
    for path in sorted(stack.rglob("*.tf")):
        if ".terraform" not in path.parts and path.name != terraform.OVERRIDE_NAME:
            digest.update(str(path.relative_to(stack)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def prepare(config: SandboxConfig, stack: Path) -> None:
    """`terraform init` and tflocal's provider override, unless done for this configuration
    and endpoint already (they survive sandbox restarts)."""
    stamp = workdir(config) / "prepared"
    wanted = f"{config.endpoint}\n{terraform.OVERRIDE_VERSION}\n{configuration_digest(stack)}"
    ready = (stack / ".terraform").is_dir() and (stack / terraform.OVERRIDE_NAME).exists()
    if ready and stamp.exists() and stamp.read_text() == wanted:
        return
    stamp.unlink(missing_ok=True)
    tf(config, stack, "init", "-input=false", "-no-color")
    started = time.monotonic()
    terraform.write_provider_override(stack, config)
    say(f"provider override (tflocal): {time.monotonic() - started:.1f} s")
    stamp.write_text(wanted)


def slowest(output: str, count: int = SLOWEST_SHOWN) -> list[tuple[str, int]]:
    """The resources that took longest in an apply's output, slowest first."""
    seconds: list[tuple[str, int]] = []
    for line in output.splitlines():
        match = COMPLETE.match(line.strip())
        if match:
            total = 0
            for amount, unit in re.findall(r"(\d+)([hms])", match.group(2) + "s"):
                total += int(amount) * {"h": 3600, "m": 60, "s": 1}[unit]
            seconds.append((match.group(1), total))
    return sorted(seconds, key=lambda item: -item[1])[:count]


def tf(config: SandboxConfig, cwd: Path, *args: str) -> str:
    """Run one terraform command; its output is appended to the deploy log and returned."""
    started = time.monotonic()
    result = terraform.run_plain(args, cwd, config)
    say(f"terraform {args[0]}: {time.monotonic() - started:.1f} s")
    log = workdir(config) / "terraform.log"
    with log.open("a") as f:
        f.write(f"\n$ terraform {' '.join(args)}\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        raise DeployError(
            f"deploy: `terraform {args[0]}` failed ({result.returncode}); full log: {log}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def var_args() -> list[str]:
    return [f"-var-file={TFVARS}", f"-var=artifacts_dir={ARTIFACTS_DIR}", "-input=false"]


def deploy(config: SandboxConfig, *, force: bool = False) -> Deployment:
    """Bring the sandbox up if needed, build, apply; return the stack's outputs."""
    started = time.monotonic()
    seconds = backend().up(config)
    if seconds is not None:
        say(f"sandbox started at {config.endpoint} in {seconds:.1f} s")
    build_started = time.monotonic()
    build()
    say(f"build: {time.monotonic() - build_started:.1f} s")
    # The sandbox's state id (kept by its snapshots); a sandbox without one: its instance.
    state_id = launcher.state_id(config) or backend().running(config).instance_id
    work = workdir(config)
    stack = work / "stack"
    stamp = work / "fingerprint"
    wanted = fingerprint(state_id)
    if (
        not force
        and stamp.exists()
        and stamp.read_text() == wanted
        and outputs_file(config).exists()
    ):
        say("nothing changed since the last deploy (skipped)")
        outputs = json.loads(outputs_file(config).read_text())
        return Deployment(outputs, time.monotonic() - started, skipped=True)
    owner = work / "state-id"
    if owner.exists() and owner.read_text() != state_id:
        say("the sandbox's state is not the one deployed to (reset since): from a fresh state")
        forget_state(config)
    work.mkdir(parents=True, exist_ok=True)
    owner.write_text(state_id)
    stamp.unlink(missing_ok=True)
    sync_stack(stack)
    say(f"applying stack/ (log: {work / 'terraform.log'})")
    prepare(config, stack)
    # Each SQS resource holds a slot ~25 s while the AWS provider waits for its attributes to
    # propagate; more parallel slots keep the other resources from queueing behind them.
    applied = tf(
        config,
        stack,
        "apply",
        "-auto-approve",
        "-no-color",
        f"-parallelism={PARALLELISM}",
        *var_args(),
    )
    say("slowest: " + ", ".join(f"{name} {secs} s" for name, secs in slowest(applied)))
    raw = json.loads(tf(config, stack, "output", "-json", "-no-color"))
    outputs = {name: item["value"] for name, item in raw.items()}
    outputs["api_endpoint"] = (
        f"{config.endpoint}/_aws/execute-api/{outputs['api_id']}/{outputs['stage_name']}"
    )
    outputs_file(config).write_text(json.dumps(outputs, indent=2, sort_keys=True) + "\n")
    stamp.write_text(wanted)
    return Deployment(outputs, time.monotonic() - started, skipped=False)


def plan_changes(config: SandboxConfig) -> int:
    """`terraform plan -detailed-exitcode` on the deployed copy: 0 = no changes, 2 = changes."""
    stack = workdir(config) / "stack"
    prepare(config, stack)
    result = terraform.run_plain(
        ["plan", "-detailed-exitcode", "-no-color", *var_args()], stack, config
    )
    if result.returncode == 1:
        raise DeployError(f"deploy: plan failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result.returncode


def destroy(config: SandboxConfig) -> bool:
    """Destroy what the last deploy created; False when there is nothing deployed."""
    stack = workdir(config) / "stack"
    if backend().running(config) is None or not (stack / "terraform.tfstate").exists():
        forget_state(config)
        return False
    prepare(config, stack)
    tf(config, stack, "destroy", "-auto-approve", "-no-color", *var_args())
    forget_state(config)
    return True


def load_outputs(config: SandboxConfig) -> dict:
    """The outputs of the last deploy to this sandbox."""
    try:
        return json.loads(outputs_file(config).read_text())
    except OSError as e:
        raise DeployError("deploy: nothing deployed to this sandbox yet; run `make deploy`") from e


def print_summary(outputs: dict) -> None:
    print(f"API            {outputs['api_endpoint']}")
    print(f"user pool      {outputs['user_pool_id']}  client {outputs['user_pool_client_id']}")
    print(f"topic          {outputs['notifications_topic_arn']}")
    for priority, queue in sorted(outputs["queues"].items()):
        print(f"queue {priority:<8} {queue['queue_url']}  (DLQ {queue['dlq_url']})")
    print(f"table          {outputs['table_name']}")
    print(f"all outputs    {outputs_file(SandboxConfig.from_env())}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.deploy",
        description="Deploy stack/ to the sandbox with tflocal (state kept with the sandbox).",
    )
    parser.add_argument("action", nargs="?", default="apply", choices=["apply", "destroy", "plan"])
    parser.add_argument("--force", action="store_true", help="apply even when nothing changed")
    args = parser.parse_args(argv)
    config = SandboxConfig.from_env()
    try:
        if args.action == "destroy":
            started = time.monotonic()
            done = destroy(config)
            say(f"destroyed in {time.monotonic() - started:.1f} s" if done else "nothing deployed")
            return 0
        if args.action == "plan":
            code = plan_changes(config)
            say("no changes" if code == 0 else "changes pending")
            return code
        result = deploy(config, force=args.force)
    except (DeployError, launcher.SandboxError, RuntimeError) as e:
        print(e, file=sys.stderr)
        return 1
    print_summary(result.outputs)
    say(f"{'up to date' if result.skipped else 'applied'} in {result.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
