"""The sandbox image's entry point: `python -m sandbox.container [run|health]`.

Why not `python -m sandbox run` alone: in a container LocalStack must listen on the container's
own interface (so that its port can be published, on the host's 127.0.0.1 only), and the
container must reach nothing beyond the machine. So `run`, before LocalStack starts:
1. removes the default routes of the container's own network namespace: a connection to any
   address outside the container's subnet then fails at once (ENETUNREACH) and no packet leaves.
   The netguard settings (sandbox/config.py) keep LocalStack from trying in the first place;
   this makes the rule hold for anything else that runs in the container (Lambda functions);
2. drops CAP_NET_ADMIN from the capability bounding set, so nothing started afterwards can put
   a route back, and switches to SANDBOX_RUN_AS (uid:gid) when it is set;
3. clears LocalStack's working folders (state, temp and Lambda runtime under SANDBOX_HOME), as
   a new container would have them, also when SANDBOX_HOME is a mounted host folder; the
   snapshot the last container saved there at `down` (sandbox/snapshots.py) is kept and
   restored at start-up, as `make up` restores it;
4. replaces itself with LocalStack, whose `Ready.` line on stdout is what wait strategies
   (testcontainers, `docker logs`) look for.
Under host networking (no namespace of its own) it changes no route and listens on loopback.
A container that has a default route it may not remove (no CAP_NET_ADMIN) does not start.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sandbox import launcher
from sandbox.config import SandboxConfig

ALL_INTERFACES = "0.0.0.0"
PR_CAPBSET_DROP = 24  # prctl option, <linux/prctl.h>
CAP_NET_ADMIN = 12  # <linux/capability.h>
INSTANCE_FOLDERS = ("state", "tmp", "lambda-runtime")


def say(message: str) -> None:
    print(f"sandbox-container: {message}", file=sys.stderr, flush=True)


def own_network_namespace(net: Path = Path("/sys/class/net")) -> bool:
    """True when every interface but `lo` is a veth end (a container's own namespace).

    A host namespace (host networking) has physical or bridge interfaces, whose `iflink` is
    their own `ifindex`; a veth's `iflink` is its peer's index in the host namespace.
    """
    for interface in net.iterdir():
        if interface.name == "lo":
            continue
        index = (interface / "ifindex").read_text().strip()
        if (interface / "iflink").read_text().strip() == index:
            return False
    return True


def default_routes(family: str) -> list[str]:
    out = subprocess.run(
        ["ip", family, "route", "show", "default"], capture_output=True, text=True, check=True
    )
    return [line for line in out.stdout.splitlines() if line.strip()]


def remove_default_routes() -> None:
    """Delete every IPv4 and IPv6 default route; exit with the reason when that is refused."""
    for family in ("-4", "-6"):
        for route in default_routes(family):
            result = subprocess.run(
                ["ip", family, "route", "del", *route.split()], capture_output=True, text=True
            )
            if result.returncode != 0:
                sys.exit(
                    f"sandbox-container: cannot remove the default route `{route}` "
                    f"({result.stderr.strip()}). Start the container with --cap-add NET_ADMIN "
                    "(dropped again before LocalStack starts) so that it can reach nothing "
                    "beyond this machine."
                )
            say(f"removed default route `{route}`: no connection leaves this machine")


def drop_net_admin() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAPBSET_DROP, CAP_NET_ADMIN, 0, 0, 0) != 0:
        say(f"could not drop CAP_NET_ADMIN (errno {ctypes.get_errno()}); the container lacks it")


def switch_user(run_as: str, home: Path) -> None:
    """Become `uid:gid` (the image's user, or the owner of a mounted host folder).

    Leaving root clears every capability. `home` (SANDBOX_HOME, writable by that user) also
    becomes HOME, where LocalStack's plugin index is cached.
    """
    uid, gid = (int(part) for part in run_as.split(":"))
    if uid != 0 and home.stat().st_uid == 0:  # a mount point Docker made for a missing folder
        os.chown(home, uid, gid)
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    os.environ["HOME"] = str(home)


def fresh_instance(config: SandboxConfig) -> None:
    config.home.mkdir(parents=True, exist_ok=True)
    for name in INSTANCE_FOLDERS:
        shutil.rmtree(config.home / name, ignore_errors=True)


def run() -> None:
    config = SandboxConfig.from_env()
    isolated = own_network_namespace()
    if isolated:
        remove_default_routes()
        config = SandboxConfig(port=config.port, home=config.home, bind=ALL_INTERFACES)
    else:
        say("host networking: routes untouched, listening on loopback only")
    drop_net_admin()
    fresh_instance(config)
    if run_as := os.environ.get("SANDBOX_RUN_AS"):
        switch_user(run_as, config.home)
    say(f"starting LocalStack on {config.bind}:{config.port} (state in {config.home})")
    from sandbox.__main__ import cmd_run

    cmd_run(config, argparse.Namespace())


def health() -> int:
    """Exit status for Docker's HEALTHCHECK: 0 when LocalStack answers its health endpoint."""
    return 0 if launcher.health(SandboxConfig.from_env(), timeout=2.0) is not None else 1


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.container", description=__doc__)
    parser.add_argument("command", choices=["run", "health"], nargs="?", default="run")
    if parser.parse_args().command == "health":
        return health()
    run()
    return 0  # not reached: run() replaces this process


if __name__ == "__main__":
    sys.exit(main())
