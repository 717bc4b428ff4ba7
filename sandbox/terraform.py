"""Terraform against the sandbox: the project's own CLI config, and `tflocal` run with it.

The machine's TF_CLI_CONFIG_FILE may point nowhere and the public registry is often unreachable,
so the project brings its own CLI config: the AWS provider comes from a filesystem mirror when
one is found on the machine (detected, never assumed), from the registry otherwise.

`write_provider_override` keeps tflocal's provider override in a stack folder, so that repeated
commands (the deploy's init, apply, output) run plain `terraform` with it: tflocal costs ~2 s per
command on a quiet 2-core machine (Python, parsing the stack's HCL, `terraform version`), 5-13 s
on a loaded one. The override is kept without tflocal's `endpoints` block (`without_endpoints`:
the provider validates it at ~2 CPU-s a time); AWS_ENDPOINT_URL gives every service the sandbox.

    python -m sandbox.terraform [-C DIR] -- init|plan|apply|... [terraform args]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from sandbox.config import SandboxConfig

AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
CLI_CONFIG_NAME = "terraform.rc"
# What tflocal writes next to the stack: the sandbox's credentials and settings, and (left out
# by `write_provider_override`, see `without_endpoints`) every service's endpoint.
OVERRIDE_NAME = "localstack_providers_override.tf"
CALLS_AWS = {"plan", "apply", "destroy", "refresh", "import"}
# What `write_provider_override` writes changes with it: a folder prepared before writes it again.
OVERRIDE_VERSION = "2 (no endpoints block)"
# tflocal's `endpoints { ... }` block: no nested braces in it.
_ENDPOINTS_BLOCK = re.compile(r"^[ \t]*endpoints[ \t]*\{[^{}]*\}[ \t]*\n", re.MULTILINE)
# For the commands that call AWS: any HTTP(S) request to a host other than loopback goes to a
# proxy address where nothing listens, so it fails at once (`proxyconnect ... refused`) instead
# of resolving an AWS host name and leaving the machine; the sandbox itself is on loopback.
_NOWHERE = "http://127.0.0.1:9"
LOOPBACK_ONLY = {
    **dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"), _NOWHERE),
    **dict.fromkeys(("NO_PROXY", "no_proxy"), "127.0.0.1,localhost,::1"),
}
# For every Terraform run (terraform_env; the Terraform tests add it too): the AWS provider,
# started several times per command, spends much of its start-up building its schema; fewer
# garbage collections cut its CPU time by about a third (2.8 -> 1.95 s user for `terraform
# validate` of stack/) for ~100 MB more memory. A GOGC of the caller's own wins.
PROVIDER_ENV = {"GOGC": "400"}
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def os_arch() -> str:
    """Terraform's platform name for this machine, e.g. `linux_amd64`."""
    machine = platform.machine().lower()
    return f"{platform.system().lower()}_{_ARCH.get(machine, machine)}"


def mirror_candidates(env: Mapping[str, str] | None = None) -> list[Path]:
    """TF_PLUGIN_MIRROR, then Terraform's implied mirror locations, then /opt/tf-plugins."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME", str(Path.home())))
    data_home = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    candidates = [Path(env["TF_PLUGIN_MIRROR"])] if env.get("TF_PLUGIN_MIRROR") else []
    return [
        *candidates,
        home / ".terraform.d" / "plugins",
        data_home / "terraform" / "plugins",
        Path("/usr/local/share/terraform/plugins"),
        Path("/usr/share/terraform/plugins"),
        Path("/opt/tf-plugins"),
    ]


def has_aws_provider(mirror: Path, platform_name: str) -> bool:
    """Whether `mirror` holds the AWS provider for `platform_name` (unpacked or packed layout)."""
    provider = mirror / AWS_PROVIDER
    unpacked = any(p.is_dir() for p in provider.glob(f"*/{platform_name}"))
    packed = any(provider.glob(f"terraform-provider-aws_*_{platform_name}.zip"))
    return unpacked or packed


def find_mirror(
    candidates: Sequence[Path] | None = None, platform_name: str | None = None
) -> Path | None:
    """The first candidate folder that is a filesystem mirror of the AWS provider, if any."""
    platform_name = platform_name or os_arch()
    for folder in mirror_candidates() if candidates is None else candidates:
        if has_aws_provider(folder, platform_name):
            return folder.resolve()
    return None


def cli_config_text(mirror: Path | None) -> str:
    """A CLI config: the AWS provider from `mirror` (other providers direct), or all direct."""
    if mirror is None:
        return "provider_installation {\n  direct {}\n}\n"
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {_hcl_string(str(mirror))}\n"
        f'    include = ["{AWS_PROVIDER}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{AWS_PROVIDER}"]\n'
        "  }\n"
        "}\n"
    )


def _hcl_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_cli_config(folder: Path, mirror: Path | None = None, *, detect: bool = True) -> Path:
    """Write the CLI config into `folder` and return its path (mirror detected unless given)."""
    if mirror is None and detect:
        mirror = find_mirror()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CLI_CONFIG_NAME
    partial = path.with_name(f".{CLI_CONFIG_NAME}.{os.getpid()}")
    partial.write_text(cli_config_text(mirror))
    partial.replace(path)  # atomic: concurrent test workers never read half a file
    return path


def terraform_env(config: SandboxConfig, cli_config: Path) -> dict[str, str]:
    """The environment for tflocal/terraform: sandbox client settings plus our CLI config."""
    return {
        **PROVIDER_ENV,
        **os.environ,
        **config.client_env(),
        "TF_CLI_CONFIG_FILE": str(cli_config),
        "CHECKPOINT_DISABLE": "1",
        "TF_IN_AUTOMATION": "1",
        "DISABLE_DEPRECATION_NOTICE": "1",
    }


def tflocal_command() -> str:
    """tflocal next to this interpreter (the venv), else on PATH; needs `terraform` on PATH."""
    if shutil.which(os.environ.get("TF_CMD", "terraform")) is None:
        raise RuntimeError("terraform not found on PATH (or TF_CMD): install Terraform >= 1.5")
    local = Path(sys.executable).parent / "tflocal"
    found = str(local) if local.exists() else shutil.which("tflocal")
    if found is None:
        raise RuntimeError("tflocal not found: pip install terraform-local (see pyproject.toml)")
    return found


def run(
    args: Sequence[str],
    cwd: Path,
    config: SandboxConfig | None = None,
    *,
    capture: bool = False,
    timeout: float | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `tflocal <args>` in `cwd` against the sandbox (writes the CLI config first);
    `extra_env` is added to Terraform's environment."""
    config = config or SandboxConfig.from_env()
    cli_config = write_cli_config(config.home)
    return subprocess.run(
        [tflocal_command(), *args],
        cwd=cwd,
        env={**terraform_env(config, cli_config), **(extra_env or {})},
        text=True,
        capture_output=capture,
        timeout=timeout,
        check=False,
    )


def without_endpoints(override: str) -> str:
    """tflocal's override without its `endpoints` block: the provider's AWS SDK takes the
    sandbox's address for every service from AWS_ENDPOINT_URL (`terraform_env` sets it).

    Why: the AWS provider (5.x) validates that block in time quadratic in its ~250 attributes (its
    plugin-framework half renders the whole block into the path of each attribute it checks):
    ~2 CPU-s each time a command configures the provider, two or three times per plan or apply
    (measured with perf: 81 % of the provider's CPU in a plan). Without it a plan of the tflocal
    smoke stack costs 2.6 CPU-s instead of 6.1."""
    stripped, found = _ENDPOINTS_BLOCK.subn("", override)
    if found != 1:
        raise RuntimeError(f"expected one endpoints block in tflocal's override, found {found}")
    return stripped


def write_provider_override(cwd: Path, config: SandboxConfig) -> Path:
    """tflocal's provider override for the stack in `cwd` (after `terraform init`: tflocal reads
    the provider version from the lock file), written without running Terraform (DRY_RUN), then
    kept without its `endpoints` block (`without_endpoints`)."""
    path = cwd / OVERRIDE_NAME
    path.unlink(missing_ok=True)  # tflocal would ask before overwriting it
    env = {**terraform_env(config, write_cli_config(config.home)), "DRY_RUN": "1"}
    result = subprocess.run(
        [tflocal_command(), "plan"],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not path.exists():
        raise RuntimeError(
            f"tflocal could not write {path} ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    path.write_text(without_endpoints(path.read_text()))
    return path


def run_plain(
    args: Sequence[str],
    cwd: Path,
    config: SandboxConfig,
    *,
    capture: bool = True,
    timeout: float | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Plain `terraform <args>` in `cwd` with the project's CLI config and the sandbox's client
    settings (`extra_env` added). Commands that call AWS refuse to run without the override of
    `write_provider_override`, and reach nothing beyond loopback (LOOPBACK_ONLY)."""
    calls_aws = args[0] in CALLS_AWS
    if calls_aws and not (cwd / OVERRIDE_NAME).exists():
        raise RuntimeError(
            f"terraform {args[0]}: no {OVERRIDE_NAME} in {cwd}: it would not talk to the sandbox"
        )
    env = terraform_env(config, write_cli_config(config.home))
    return subprocess.run(
        [os.environ.get("TF_CMD", "terraform"), *args],
        cwd=cwd,
        env={**env, **(LOOPBACK_ONLY if calls_aws else {}), **(extra_env or {})},
        stdin=subprocess.DEVNULL,
        text=True,
        capture_output=capture,
        timeout=timeout,
        check=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.terraform", description=__doc__)
    parser.add_argument("-C", "--chdir", type=Path, default=Path.cwd(), help="stack folder")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="terraform arguments after --")
    options = parser.parse_args(argv)
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    return run(args, options.chdir).returncode


if __name__ == "__main__":
    sys.exit(main())
