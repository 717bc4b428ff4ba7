"""`python -m scenarios [NAME ...] [--list]`: run the demo scenarios against the sandbox stack.

Deploys first when needed (`harness.deploy.deploy`), so `make demo` works from a fresh clone.
A scenario's priorities run in parallel threads; each prints a hop-by-hop timeline when it
finishes, and a summary (pass/fail, per-priority latency) ends the run. Exit 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TextIO

from harness.api import SDK_THROTTLED_RETRIES, Api
from harness.aws import sandbox_client
from harness.mail import Outbox
from harness.trace import Tracer
from harness.users import Notifications, UserFactory
from notifications.priorities import PRIORITIES
from scenarios.definition import DefinitionError, Scenario, load_all
from scenarios.engine import Mailing, Outcome, StackView, Timeline, run
from scenarios.status import Status

if TYPE_CHECKING:
    from sandbox.config import SandboxConfig

HOPS = ("accepted", "stored", "delivered", "total")


def paint(code: str, text: str, stream: TextIO = sys.stdout) -> str:
    if not stream.isatty() or os.environ.get("NO_COLOR"):
        return text
    return f"\033[{code}m{text}\033[0m"


def ms(value: float | None) -> str:
    return "   ?" if value is None else f"{value:4.0f}"


def timeline_line(t: Timeline) -> str:
    hops = t.trace.hops_ms()
    return (
        f"      {t.label:<8} {t.trace.notification_id[:8]}  accepted {ms(hops['accepted'])} ms"
        f" → {t.trace.queue or '?':<20} → stored {ms(hops['stored'])} ms"
        f" → delivered {ms(hops['delivered'])} ms  "
        + paint("1", f"= {ms(hops['total']).strip()} ms")
    )


def outcome_block(o: Outcome) -> str:
    mark = paint("32", "✓") if o.ok else paint("31;1", "✗")
    head = f"  {mark} {o.priority:<7} {o.seconds:5.1f} s  {o.checks:>3} checks"
    lines = [head, *map(timeline_line, o.timelines)]
    if o.failure:
        lines.append(textwrap.indent(o.failure, "      " + paint("31", "│ ")))
    return "\n".join(lines)


class Demo:
    """Runs scenarios against one deployed stack and prints as results come in."""

    def __init__(self, outputs: dict, config: SandboxConfig) -> None:
        self.outputs, self.config = outputs, config
        tracer = Tracer(
            dynamodb=sandbox_client(config, "dynamodb"),
            logs=sandbox_client(config, "logs"),
            table_name=outputs["table_name"],
            processor_log_group=outputs["log_group_names"]["processor"],
        )
        mailing = Mailing(
            sandbox_client(config, "sns"), outputs["deliveries_topic_arn"], Outbox(config.endpoint)
        )
        # The priorities run in parallel and their requests can outpace the stage's throttling
        # (sandbox: 40/s, burst 20, as on AWS); a 429 accepted nothing, so it is retried.
        self.stack = StackView.from_outputs(
            outputs,
            Api(outputs["api_endpoint"], throttled_retries=SDK_THROTTLED_RETRIES),
            tracer,
            mailing,
        )
        self.cognito = sandbox_client(config, "cognito-idp")
        self.dynamodb = sandbox_client(config, "dynamodb")
        self.status = Status(sys.stdout)

    def users(self) -> UserFactory:
        return UserFactory(
            cognito=self.cognito,
            user_pool_id=self.outputs["user_pool_id"],
            client_id=self.outputs["user_pool_client_id"],
            admin_group=self.outputs["admin_group_name"],
            sender_group=self.outputs["sender_group_name"],
            prefix="demo",
            notifications=Notifications(self.dynamodb, self.outputs["table_name"]),
        )

    def run_one(self, scenario: Scenario, priority: str) -> Outcome:
        users = self.users()
        try:
            outcome = run(
                scenario, priority, self.stack, users, lambda text: self.status.set(priority, text)
            )
        finally:
            users.cleanup()
        self.status.done(priority, outcome_block(outcome))
        return outcome

    def scenario(self, scenario: Scenario) -> list[Outcome]:
        print(paint("1", f"▶ {scenario.name}") + f" · {scenario.title}")
        print(
            paint(
                "2", textwrap.fill(scenario.about, 96, initial_indent="  ", subsequent_indent="  ")
            )
        )
        with self.status.running(), ThreadPoolExecutor(len(scenario.priorities)) as pool:
            futures = [pool.submit(self.run_one, scenario, p) for p in scenario.priorities]
            return [f.result() for f in futures]


def summary(results: dict[str, list[Outcome]], seconds: float) -> str:
    failed = [name for name, outcomes in results.items() if not all(o.ok for o in outcomes)]
    runs = [o for outcomes in results.values() for o in outcomes]
    verdict = paint("31;1", f"{len(failed)} failed") if failed else paint("32", "0 failed")
    lines = [
        paint("1", "── summary ") + "─" * 60,
        f"  scenarios: {len(results) - len(failed)} passed, {verdict}"
        f" · {len(runs)} runs · {sum(o.checks for o in runs)} checks · {seconds:.1f} s",
        "  latency ms, median (max)  " + "".join(f"{h:>14}" for h in HOPS),
    ]
    for priority in PRIORITIES:
        hops = [t.trace.hops_ms() for o in runs if o.priority == priority for t in o.timelines]
        if hops:
            cells = "".join(_median_max([h[k] for h in hops]) for k in HOPS)
            lines.append(f"    {priority:<7} n={len(hops)}".ljust(27) + cells)
    lines += [f"  {paint('31', '✗')} {name}: make demo SCENARIO={name}" for name in failed]
    return "\n".join(lines)


def _median_max(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return f"{'?':>14}"
    return f"{f'{statistics.median(known):.0f} ({max(known):.0f})':>14}"


def listing(scenarios: dict[str, Scenario]) -> str:
    blocks = []
    for s in scenarios.values():
        about = textwrap.fill(s.about, 96, initial_indent="    ", subsequent_indent="    ")
        blocks.append(f"  {s.name:<18} {s.title}\n{about}")
    return "\n".join(blocks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="scenarios to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # keep order with stderr
    try:
        scenarios = load_all()
    except DefinitionError as e:
        print(f"scenarios: invalid definition: {e}", file=sys.stderr)
        return 2
    if args.list:
        print(listing(scenarios))
        return 0
    unknown = [n for n in args.names if n not in scenarios]
    if unknown:
        print(f"scenarios: unknown {unknown}; known: {', '.join(scenarios)}", file=sys.stderr)
        return 2
    chosen = [scenarios[n] for n in args.names or scenarios]

    from harness.deploy import DeployError, deploy
    from sandbox import launcher
    from sandbox.config import SandboxConfig

    config = SandboxConfig.from_env()
    started = time.monotonic()
    try:
        outputs = deploy(config).outputs
    except (DeployError, launcher.SandboxError, RuntimeError) as e:
        print(e, file=sys.stderr)
        return 1
    demo = Demo(outputs, config)
    results = {s.name: demo.scenario(s) for s in chosen}
    print(summary(results, time.monotonic() - started))
    return 0 if all(o.ok for outcomes in results.values() for o in outcomes) else 1
