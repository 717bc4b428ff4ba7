"""`python -m load [PROFILE] [options]`: load-test the deployed stack and check every notification.

1. the stack: the sandbox's (brought up and deployed when needed, as `make demo` does) or, with
   `--target aws --stack-outputs FILE`, one deployed on AWS;
2. N Cognito test users with unique names (harness.users), deleted at the end whatever happens;
3. floors (sandbox only): no-op Lambda invokes/s and SNS Publish/s, 8 client threads each;
4. traffic: Locust, headless and in-process, at the profile's constant rate per priority,
   bounded by its duration and its maximum request count;
5. drain (bounded): every accepted id must be stored once, delivered, and delivered once;
6. report: build/load/<profile>-<timestamp>/report.{json,md} and latency-<priority>.png, a
   summary table on stdout; exit 1 naming each breached threshold.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from load import metrics as metric_names
from load.profiles import PROFILES_FILE, Profile, ProfileError, load_profiles
from load.report import ATTRIBUTE, LOG, assemble, breaches, markdown, summary

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build" / "load"
FLOOR_THREADS = 8
EXIT_OK, EXIT_BREACHED, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


def say(message: str) -> None:
    stamp = datetime.now().strftime("%H:%M:%S")
    print(f"[load {stamp}] {message}", file=sys.stderr, flush=True)


def parser(profiles: dict[str, Profile] | None) -> argparse.ArgumentParser:
    listing = "\n".join(
        f"  {p.name:<8} {p.duration_s:g} s at {p.rate:g} req/s "
        f"({', '.join(f'{k} {v:g}' for k, v in p.rates.items())}), max {p.max_requests} "
        f"requests, {p.users} users, {sum(p.users_per_priority().values())} in flight\n"
        + textwrap.fill(p.about, 96, initial_indent="           ", subsequent_indent="           ")
        for p in (profiles or {}).values()
    )
    epilog = f"""\
profiles ({PROFILES_FILE.relative_to(REPO_ROOT)}):
{listing or "  (the profiles file does not load: see the error)"}

metrics that thresholds can name (report.json "metrics"):
{metric_names.help_text()}

exit status: 0 every threshold met · 1 a threshold was breached (each is named on stderr) ·
2 bad arguments or profile · 3 the run itself failed (deploy, AWS errors, missing Locust).

examples:
  make load                                     # steady, sandbox (deploys first when needed)
  make load PROFILE=flood
  make load PROFILE=steady ARGS="--rate 60"     # find the highest rate the sandbox sustains
  python -m load burst --target aws --stack-outputs outputs.json
The sandbox is the one SANDBOX_PORT / SANDBOX_HOME name (default 4566, .sandbox/)."""
    p = argparse.ArgumentParser(
        prog="python -m load",
        description=__doc__,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("profile", nargs="?", default="steady", help="profile to run (default steady)")
    p.add_argument("--list", action="store_true", help="list the profiles and exit")
    p.add_argument(
        "--target",
        choices=["sandbox", "aws"],
        default="sandbox",
        help="where the stack runs (default sandbox)",
    )
    p.add_argument(
        "--stack-outputs",
        metavar="FILE",
        help="`terraform output -json` of the deployed stack: required with --target aws; with "
        "the sandbox, use that stack as it is instead of deploying",
    )
    p.add_argument("--rate", type=float, help="total requests/s (the profile's mix is kept)")
    p.add_argument("--duration", type=float, help="seconds of traffic")
    p.add_argument("--max-requests", type=int, help="stop sending after this many requests")
    p.add_argument("--users", type=int, help="Cognito test users to create")
    p.add_argument("--concurrency", type=int, help="Locust users (requests in flight at most)")
    p.add_argument("--drain-timeout", type=float, help="seconds the drain may take at most")
    p.add_argument(
        "--no-floors", action="store_true", help="skip the no-op invoke / SNS publish floors"
    )
    p.add_argument(
        "--delivery-evidence",
        choices=["auto", ATTRIBUTE, LOG],
        default="auto",
        help="what proves a delivery: the item's delivered_at (attribute), notification.delivered "
        "lines (log), or auto: delivered_at when the processor writes it (this tree's code on "
        "the sandbox; any item carrying it on AWS), log lines otherwise",
    )
    p.add_argument("--out", type=Path, help="report folder (default build/load/<profile>-<time>)")
    p.add_argument("--profiles", type=Path, default=PROFILES_FILE, help=argparse.SUPPRESS)
    return p


@dataclass(frozen=True)
class Stack:
    outputs: dict[str, Any]
    api_url: str
    client: Callable[[str], Any]
    target: str


def read_outputs(path: str) -> dict[str, Any]:
    """A `terraform output -json` file (or the sandbox deploy's flat outputs.json)."""
    raw = json.loads(Path(path).read_text())
    return {k: v["value"] if isinstance(v, dict) and "value" in v else v for k, v in raw.items()}


def open_stack(args: argparse.Namespace) -> Stack:
    if args.target == "aws":
        import boto3

        outputs = read_outputs(args.stack_outputs)
        session = boto3.session.Session(region_name=outputs.get("region"))
        return Stack(outputs, outputs["api_base_url"], session.client, "aws")
    from harness.aws import sandbox_client
    from sandbox.config import SandboxConfig

    config = SandboxConfig.from_env()
    if args.stack_outputs:
        outputs = read_outputs(args.stack_outputs)
    else:
        from harness.deploy import deploy

        say(f"sandbox {config.endpoint} ({config.home}): up and deployed if needed")
        outputs = deploy(config).outputs
    return Stack(
        outputs,
        outputs["api_endpoint"],
        lambda service: sandbox_client(config, service),
        "sandbox",
    )


def measure_floors(stack: Stack, profile: Profile, skip: bool) -> dict[str, Any]:
    if stack.target == "aws":
        return {"skipped": "not measured on AWS (its Lambda and SNS limits are not the sandbox's)"}
    if skip or profile.floors_s <= 0:
        return {"skipped": "--no-floors" if skip else "floors_s is 0"}
    from harness.floors import noop_invoke_rate, sns_publish_rate

    seconds = profile.floors_s
    say(f"floors: no-op Lambda invoke, {FLOOR_THREADS} threads, {seconds:g} s")
    invoke = noop_invoke_rate(stack.client("lambda"), threads=FLOOR_THREADS, seconds=seconds)
    say(f"floors: SNS Publish, {FLOOR_THREADS} threads, {seconds:g} s")
    publish = sns_publish_rate(stack.client("sns"), threads=FLOOR_THREADS, seconds=seconds)
    say(f"floors: {invoke.per_second:.1f} invokes/s, {publish.per_second:.1f} publishes/s")
    return {
        "when": "before the traffic",
        "threads": FLOOR_THREADS,
        "seconds": seconds,
        "noop_invoke_per_s": round(invoke.per_second, 2),
        "sns_publish_per_s": round(publish.per_second, 2),
        "noop_invoke": invoke.as_dict(),
        "sns_publish": publish.as_dict(),
    }


def run(args: argparse.Namespace, profile: Profile) -> int:
    try:
        from load import traffic
    except ImportError as e:
        say(f"Locust is not installed ({e}): `make load` installs load/requirements.txt")
        return EXIT_FAILED
    from harness.users import Notifications, UserFactory
    from load.evidence import Reader, dlq_depths, drain, processor_sets_delivered_at
    from load.plot import latency_plots

    started_at = datetime.now(UTC)
    out = args.out or BUILD_DIR / f"{profile.name}-{started_at:%Y%m%d-%H%M%S}"
    stack = open_stack(args)
    outputs = stack.outputs
    say(
        f"{profile.name}: {profile.duration_s:g} s at {profile.rate:g} req/s "
        f"({', '.join(f'{k} {v:g}/s' for k, v in profile.rates.items())}), at most "
        f"{profile.max_requests} requests, {stack.target} {stack.api_url}"
    )
    users = UserFactory(
        cognito=stack.client("cognito-idp"),
        user_pool_id=outputs["user_pool_id"],
        client_id=outputs["user_pool_client_id"],
        admin_group=outputs["admin_group_name"],
        sender_group=outputs["sender_group_name"],
        prefix=f"load-{profile.name}",
        # On the sandbox the run's notifications go with its users (see harness/users.py).
        notifications=(
            Notifications(stack.client("dynamodb"), outputs["table_name"])
            if stack.target == "sandbox"
            else None
        ),
    )
    sqs = stack.client("sqs")
    reader = Reader(
        stack.client("dynamodb"),
        stack.client("logs"),
        outputs["table_name"],
        outputs["log_group_names"]["processor"],
    )
    mode_hint = args.delivery_evidence
    if mode_hint == "auto" and stack.target == "sandbox" and processor_sets_delivered_at():
        mode_hint = ATTRIBUTE
    try:
        say(f"creating {profile.users} Cognito test users (senders, each sending to itself)")
        identities = [
            traffic.Identity(u.sub, u.id_token)
            for u in (users.create(sender=True) for _ in range(profile.users))
        ]
        floors = measure_floors(stack, profile, args.no_floors)
        dlq_before = dlq_depths(sqs, outputs["queues"])
        result = traffic.run(profile, stack.api_url, identities, say)
        accepted = [r.id for r in result.sent if r.accepted and r.id]
        say(f"drain: checking {len(accepted)} accepted ids (at most {profile.drain_timeout_s:g} s)")
        drained = drain(
            reader,
            accepted,
            since=result.started,
            timeout_s=profile.drain_timeout_s,
            settle_s=profile.settle_s,
            mode_hint=mode_hint,
            say=say,
        )
        dlq_after = dlq_depths(sqs, outputs["queues"])
    finally:
        say(f"removing the {len(users.created)} test users")
        users.cleanup()
    dlq = {
        p: {
            q: {"before": dlq_before.get(p, {}).get(q), "after": n}
            for q, n in dlq_after.get(p, {}).items()
        }
        for p in dlq_after
    }
    report = assemble(
        profile=profile,
        target=stack.target,
        sent=result.sent,
        evidence=drained.evidence,
        mode=drained.mode,
        traffic={"started": result.started, "stopped": result.stopped},
        drain={
            "seconds": drained.seconds,
            "complete": drained.complete,
            "rounds": drained.rounds,
            "timeout_s": profile.drain_timeout_s,
            "settle_s": profile.settle_s,
        },
        floors=floors,
        dlq=dlq,
        meta={
            "started_iso": started_at.isoformat(timespec="seconds"),
            "endpoint": stack.api_url,
            "locust": result.locust_stats["locust"],
            "locust_stats": result.locust_stats["requests"],
            "command": " ".join(sys.argv),
        },
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    plots = latency_plots(report, out)
    (out / "report.md").write_text(markdown(report, plots))
    location = _relative(out / "report.md")
    print(summary(report, location))
    for breach in breaches(report):
        say(f"threshold breached: {breach['check']} ({breach['detail']})")
    return EXIT_OK if report["passed"] else EXIT_BREACHED


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        profiles: dict[str, Profile] | None = load_profiles()
        error = None
    except ProfileError as e:
        profiles, error = None, e
    args = parser(profiles).parse_args(argv)
    if args.profiles != PROFILES_FILE:
        try:
            profiles, error = load_profiles(args.profiles), None
        except ProfileError as e:
            profiles, error = None, e
    if error is not None or profiles is None:
        print(f"load: invalid profiles: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.list:
        for p in profiles.values():
            print(f"{p.name:<8} {p.duration_s:g} s at {p.rate:g} req/s · {p.about}")
        return EXIT_OK
    if args.profile not in profiles:
        known = ", ".join(profiles)
        print(f"load: unknown profile {args.profile!r}; known: {known}", file=sys.stderr)
        return EXIT_USAGE
    if args.target == "aws" and not args.stack_outputs:
        print("load: --target aws needs --stack-outputs FILE", file=sys.stderr)
        return EXIT_USAGE
    try:
        profile = profiles[args.profile].with_overrides(
            rate=args.rate,
            duration_s=args.duration,
            max_requests=args.max_requests,
            users=args.users,
            concurrency=args.concurrency,
            drain_timeout_s=args.drain_timeout,
        )
    except ProfileError as e:
        print(f"load: {e}", file=sys.stderr)
        return EXIT_USAGE
    started = time.monotonic()
    try:
        code = run(args, profile)
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except Exception as e:  # deploy, AWS or file errors: say what failed, exit 3
        traceback.print_exc()
        say(f"the run failed: {type(e).__name__}: {e}")
        return EXIT_FAILED
    say(f"done in {time.monotonic() - started:.0f} s (exit {code})")
    return code
