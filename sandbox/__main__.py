"""`python -m sandbox up|down|status|logs|reset|env` — the sandbox launcher's command line."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
import uuid

from sandbox import launcher, snapshots
from sandbox.config import SandboxConfig
from sandbox.sessions import Sessions


def cmd_up(config: SandboxConfig, args: argparse.Namespace) -> int:
    seconds = launcher.up(config, timeout=args.timeout)
    if seconds is None:
        Sessions(config).adopt()  # yours now: the test session that started it will not stop it
        print(f"sandbox: already up at {config.endpoint} (nothing to do)")
    else:
        print(f"sandbox: up at {config.endpoint} in {seconds:.2f} s (state in {config.home})")
    return 0


def cmd_down(config: SandboxConfig, args: argparse.Namespace) -> int:
    started = time.monotonic()
    stopped = launcher.down(config, save_state=not args.no_save)
    if not stopped:
        print("sandbox: not running")
        return 0
    seconds = time.monotonic() - started
    kept = "" if args.no_save else f", state saved in {snapshots.current_file(config.home)}"
    print(f"sandbox: stopped {len(stopped)} process(es) in {seconds:.2f} s{kept}")
    return 0


def cmd_snapshot(config: SandboxConfig, args: argparse.Namespace) -> int:
    """Named snapshots: save the running (or last saved) state, load one, list them."""
    if args.action == "list":
        named = snapshots.list_named(config.home)
        for manifest in named:
            refused = manifest.incompatibilities()
            note = f"  REFUSED: {'; '.join(refused)}" if refused else ""
            services = ", ".join(manifest.services)
            print(f"{manifest.path.stem:<24} {manifest.saved_at:<26} {services}{note}")
        if not named:
            print(f"sandbox: no named snapshots in {snapshots.named_dir(config.home)}")
        return 0
    if not args.name:
        raise launcher.SandboxError(f"sandbox: `snapshot {args.action}` needs a NAME")
    target = snapshots.named_file(config.home, args.name)
    if args.action == "save":
        if launcher.running(config) is not None:
            result = launcher.save(config, target, reason=f"snapshot {args.name}")
            print(f"sandbox: saved {target} in {result['seconds']:.2f} s ({result['bytes']} bytes)")
            return 0
        current = snapshots.current_file(config.home)
        if not current.exists():
            raise launcher.SandboxError("sandbox: not running and nothing saved yet")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(current, target)
        print(f"sandbox: copied the last saved state to {target}")
        return 0
    if not target.exists():
        raise launcher.SandboxError(f"sandbox: no snapshot {target}")
    was_running = launcher.running(config) is not None
    launcher.down(config, save_state=False)
    try:
        manifest = snapshots.install(target, config.home)
    except snapshots.SnapshotError as e:
        raise launcher.SandboxError(str(e)) from e
    print(f"sandbox: {target} (saved {manifest.saved_at}) is the state the sandbox starts from")
    if was_running:
        cmd_up(config, argparse.Namespace(timeout=launcher.START_TIMEOUT_SECONDS))
    return 0


def cmd_status(config: SandboxConfig, args: argparse.Namespace) -> int:
    current = launcher.running(config)
    doc = launcher.health(config) if current else None
    if current is None or doc is None:
        state = "not running" if current is None else f"pid {current.pid} not answering"
        print(f"sandbox: {state} ({config.endpoint})")
        return 3
    print(f"sandbox: up at {config.endpoint}, pid {current.pid}, LocalStack {doc.get('version')}")
    persisted = launcher.state(config) or {}
    restore, last = persisted.get("restore") or {}, persisted.get("last_save") or {}
    print(f"  state: restored {restore.get('status')} {restore.get('saved_at', '')}".rstrip())
    if last:
        print(f"  last save: {last.get('at')} ({last.get('reason')}, {last.get('seconds')} s)")
    for service, health in sorted(doc.get("services", {}).items()):
        print(f"  {service:<28} {health}")
    return 0


def cmd_logs(config: SandboxConfig, args: argparse.Namespace) -> int:
    print(launcher.log_tail(config, args.lines), end="")
    if not args.follow:
        return 0
    try:
        with config.log_file.open(errors="replace") as f:
            f.seek(0, os.SEEK_END)
            while True:
                line = f.readline()
                if line:
                    print(line, end="", flush=True)
                else:
                    time.sleep(0.2)
    except KeyboardInterrupt:
        return 0
    except OSError:
        print(f"sandbox: no log at {config.log_file}", file=sys.stderr)
        return 1


def cmd_reset(config: SandboxConfig, args: argparse.Namespace) -> int:
    restarted = launcher.reset(config)
    print("sandbox: state wiped" + (" and restarted" if restarted else ""))
    return 0


def cmd_run(config: SandboxConfig, args: argparse.Namespace) -> int:
    """Foreground mode for containers and process supervisors: LocalStack replaces this process."""
    for folder in (config.home, config.state_dir, config.tmp_dir):
        folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **config.localstack_env(uuid.uuid4().hex)}
    os.chdir(config.home)
    os.execve(sys.executable, [sys.executable, "-m", "sandbox.runtime"], env)


def cmd_env(config: SandboxConfig, args: argparse.Namespace) -> int:
    for key, value in config.client_env().items():
        print(f"export {key}={value}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="The Docker-free LocalStack sandbox. Port: SANDBOX_PORT (default 4566); "
        "files: SANDBOX_HOME (default .sandbox/ in the repo).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="start in the background and wait until healthy")
    up.add_argument(
        "--timeout",
        type=float,
        default=launcher.START_TIMEOUT_SECONDS,
        help="seconds to wait for health (default %(default)s)",
    )
    up.set_defaults(run=cmd_up)
    down = sub.add_parser("down", help="save the state, stop LocalStack and every Lambda process")
    down.add_argument("--no-save", action="store_true", help="stop without saving the state")
    down.set_defaults(run=cmd_down)
    snapshot = sub.add_parser(
        "snapshot", help="named snapshots: save NAME | load NAME | list (in <home>/snapshots/)"
    )
    snapshot.add_argument("action", choices=["save", "load", "list"])
    snapshot.add_argument("name", nargs="?", help="a name, or a path to a .snapshot file")
    snapshot.set_defaults(run=cmd_snapshot)
    sub.add_parser("status", help="per-service health; exit 3 when down").set_defaults(
        run=cmd_status
    )
    logs = sub.add_parser("logs", help="show the log (follows with -f)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, default=50, help="lines of history (default 50)")
    logs.set_defaults(run=cmd_logs)
    reset = sub.add_parser("reset", help="wipe all state and its snapshot (restarts when running)")
    reset.set_defaults(run=cmd_reset)
    sub.add_parser("run", help="run in the foreground (for containers); Ctrl-C stops").set_defaults(
        run=cmd_run
    )
    sub.add_parser("env", help='print the exports a client needs (eval "$(... env)")').set_defaults(
        run=cmd_env
    )
    return p


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `... status | head` ends quietly
    args = parser().parse_args(argv)
    try:
        return args.run(SandboxConfig.from_env(), args)
    except launcher.SandboxError as e:
        print(e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
