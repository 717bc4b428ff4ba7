"""`python -m harness.bench` — how fast the sandbox starts and how fast its Lambdas answer.

Each run starts a fresh sandbox (own free port, own temp home), measures, and stops it; the
figures printed are medians over the runs. Latencies are measured from the client: a cold invoke
is the first invoke of a new function (process start and handler import included), a warm one
reuses its environment; SQS pickup is SendMessage → the handler's own clock at its first line.

SQS pickup (one mapping, BatchSize 1, batching window 0) is sampled three ways: isolated messages
(2-2.5 s apart), busy traffic (0.2-1.5 s apart) and messages that each follow `--idle-seconds` of
quiet (`--idle-seconds 600` reproduces "after 10 minutes idle"). Idle CPU is LocalStack's own CPU
time over those quiet periods (from 2 s after the last delivery), with the mapping enabled.

Saving (`--state-mb`): the run's CloudWatch Logs are filled with that many MB of log events (a
long session's function logs, the bulk of a grown sandbox's state), then the state is saved
(POST /_sandbox/state) while a client keeps calling SQS ListQueues: the figures are the save's
time and the slowest of those calls, the stall a developer's request meets during a periodic save.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.aws import sandbox_client
from harness.lambdas import create_function
from harness.waiting import eventually
from sandbox import launcher
from sandbox.config import SandboxConfig

HANDLER = """
import json, time
COLD = [True]
def handler(event, context):
    received = time.time()
    cold, COLD[0] = COLD[0], False
    for record in (event or {}).get("Records", []):
        print("PICKUP", record["body"], repr(received), "cold" if cold else "warm")
    return {"ok": True}
"""


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks (USER_HZ)


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


class Run:
    """One sandbox instance from start to stop, with the clients the measurements need."""

    def __init__(self, home: Path) -> None:
        self.config = SandboxConfig(port=free_port(), home=home)
        self.figures: dict[str, float] = {}

    def client(self, service: str) -> Any:
        return sandbox_client(self.config, service)

    def function(self, name: str) -> str:
        create_function(self.client("lambda"), name, HANDLER, Timeout=5)
        return name

    def startup(self) -> None:
        seconds = launcher.up(self.config)
        pid = launcher.running(self.config).pid
        self.figures["start_s"] = seconds
        self.figures["start_cpu_s"] = cpu_seconds(pid)  # robust to a busy machine, unlike wall
        time.sleep(2)  # let start-up work settle before sampling idle memory
        self.figures["rss_mb"] = rss_mb(pid)

    def lambda_latency(self, cold_samples: int, warm_samples: int) -> None:
        lam = self.client("lambda")
        names = [self.function(f"cold-{i}") for i in range(cold_samples)]
        cold = [timed(lambda n=n: lam.invoke(FunctionName=n, Payload=b"{}")) for n in names]
        lam.invoke(FunctionName=names[0], Payload=b"{}")  # one more to settle the connection
        warm = [
            timed(lambda: lam.invoke(FunctionName=names[0], Payload=b"{}"))
            for _ in range(warm_samples)
        ]
        self.figures |= {
            "cold_p50_ms": statistics.median(cold),
            "cold_p95_ms": percentile(cold, 0.95),
            "warm_p50_ms": statistics.median(warm),
            "warm_p95_ms": percentile(warm, 0.95),
        }

    def sqs_pickup(self, isolated: int, busy: int, idle_seconds: float, idle_samples: int) -> None:
        sqs, lam, logs = self.client("sqs"), self.client("lambda"), self.client("logs")
        url = sqs.create_queue(QueueName="pickup")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        name = self.function("pickup")
        mapping = lam.create_event_source_mapping(
            EventSourceArn=arn["QueueArn"], FunctionName=name, BatchSize=1
        )["UUID"]
        eventually(
            lambda: lam.get_event_source_mapping(UUID=mapping)["State"] == "Enabled", timeout=30
        )
        lam.invoke(FunctionName=name, Payload=b"{}")  # warm: measure the poller, not a cold start

        def picked_up(sent: dict[str, float]) -> list[tuple[float, bool]]:
            """(ms from SendMessage to the handler's first line, in a new environment?)"""

            def received() -> dict[str, tuple[float, bool]] | None:
                events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
                seen = {}
                for event in events:
                    if event["message"].startswith("PICKUP "):
                        _, body, at, start = event["message"].split()
                        seen.setdefault(body, (float(at), start == "cold"))
                return seen if set(sent) <= set(seen) else None

            seen = eventually(received, timeout=60, interval=0.5)
            return [((seen[body][0] - at) * 1000, seen[body][1]) for body, at in sent.items()]

        def send() -> tuple[str, float]:
            body = uuid.uuid4().hex
            at = time.time()
            sqs.send_message(QueueUrl=url, MessageBody=body)
            return body, at

        # Random gaps sample every phase of the poller (LocalStack's own poller backed off
        # 0.5-1.5 s after an empty poll, which a message following a delivery could meet).
        for label, gaps, count in (("isolated", (2.0, 2.5), isolated), ("busy", (0.2, 1.5), busy)):
            sent: dict[str, float] = {}
            for _ in range(count):
                time.sleep(random.uniform(*gaps))
                body, at = send()
                sent[body] = at
            self._latencies(label, [ms for ms, _ in picked_up(sent)])
        # Quiet periods: what the enabled mapping costs while nothing happens, then how fast the
        # first message after the quiet is picked up.
        pid = launcher.running(self.config).pid
        settle = min(2.0, idle_seconds / 2)
        cpu = quiet = 0.0
        after_idle: list[tuple[float, bool]] = []
        for _ in range(idle_samples):
            time.sleep(settle)  # let the last delivery finish (extra pollers stop)
            before, started = cpu_seconds(pid), time.monotonic()
            time.sleep(idle_seconds - settle)
            cpu += cpu_seconds(pid) - before
            quiet += time.monotonic() - started
            body, at = send()
            after_idle += picked_up({body: at})
        self._latencies("idle", [ms for ms, _ in after_idle])
        # LocalStack stops an environment idle for LAMBDA_KEEPALIVE_MS (10 min by default).
        self.figures["sqs_idle_cold"] = sum(cold for _, cold in after_idle)
        self.figures["idle_cpu_pct"] = cpu / quiet * 100 if quiet else 0.0

    def save(self, state_mb: float) -> None:
        logs, sqs = self.client("logs"), self.client("sqs")
        group, stream = "/bench/state", "filler"
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)

        def line() -> str:  # distinct, as real log lines are (identical ones compress to nothing)
            ids = {"id": uuid.uuid4().hex, "user_id": uuid.uuid4().hex, "trace": uuid.uuid4().hex}
            return json.dumps({"level": "INFO", "message": "delivered", **ids})

        per_call = 5000  # 1 MB per PutLogEvents at most
        for _ in range(max(1, round(state_mb * 1e6 / (len(line()) * per_call)))):
            now = int(time.time() * 1000)
            events = [{"timestamp": now, "message": line()} for _ in range(per_call)]
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
        stalls: list[float] = []
        done = threading.Event()

        def probe() -> None:
            while not done.is_set():
                stalls.append(timed(sqs.list_queues))
                time.sleep(0.05)

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        time.sleep(0.5)
        try:
            result = launcher.save(self.config)
        finally:
            done.set()
            prober.join()
        self.figures["save_s"] = result["seconds"]
        self.figures["save_mb"] = result["bytes"] / 1e6
        self.figures["save_stall_ms"] = max(stalls)

    def _latencies(self, label: str, latencies: list[float]) -> None:
        self.figures[f"sqs_{label}_p50_ms"] = statistics.median(latencies)
        self.figures[f"sqs_{label}_p99_ms"] = percentile(latencies, 0.99)

    def stop(self) -> None:
        launcher.down(self.config)


LABELS = {
    "start_s": ("seconds to healthy (cold start)", "{:.2f} s"),
    "start_cpu_s": ("  LocalStack CPU time until healthy", "{:.2f} s"),
    "rss_mb": ("LocalStack idle RSS", "{:.0f} MB"),
    "cold_p50_ms": ("Lambda cold invoke p50", "{:.0f} ms"),
    "cold_p95_ms": ("Lambda cold invoke p95", "{:.0f} ms"),
    "warm_p50_ms": ("Lambda warm invoke p50", "{:.1f} ms"),
    "warm_p95_ms": ("Lambda warm invoke p95", "{:.1f} ms"),
    "sqs_isolated_p50_ms": ("SQS -> Lambda pickup p50, isolated msgs", "{:.0f} ms"),
    "sqs_isolated_p99_ms": ("SQS -> Lambda pickup p99, isolated msgs", "{:.0f} ms"),
    "sqs_busy_p50_ms": ("SQS -> Lambda pickup p50, 0.2-1.5 s gaps", "{:.0f} ms"),
    "sqs_busy_p99_ms": ("SQS -> Lambda pickup p99, 0.2-1.5 s gaps", "{:.0f} ms"),
    "sqs_idle_p50_ms": ("SQS -> Lambda pickup p50, after idle", "{:.0f} ms"),
    "sqs_idle_p99_ms": ("SQS -> Lambda pickup p99, after idle", "{:.0f} ms"),
    "sqs_idle_cold": ("  of these, cold starts (new environment)", "{:.0f}"),
    "idle_cpu_pct": ("LocalStack idle CPU with 1 SQS mapping", "{:.1f} %"),
    "save_s": ("save of the state (--state-mb of logs)", "{:.2f} s"),
    "save_mb": ("  snapshot file", "{:.1f} MB"),
    "save_stall_ms": ("  slowest SQS call during the save", "{:.0f} ms"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold", type=int, default=3, help="cold invokes per run")
    parser.add_argument("--warm", type=int, default=50, help="warm invokes per run")
    parser.add_argument("--isolated", type=int, default=10, help="SQS messages 2-2.5 s apart")
    parser.add_argument("--busy", type=int, default=20, help="SQS messages 0.2-1.5 s apart")
    parser.add_argument(
        "--idle-seconds",
        type=float,
        default=15,
        help="quiet before each after-idle SQS message, and idle CPU sampling (600: 10 minutes)",
    )
    parser.add_argument(
        "--idle-samples", type=int, default=3, help="SQS messages sent after a quiet period"
    )
    parser.add_argument(
        "--state-mb",
        type=float,
        default=20,
        help="MB of log events in the state saved (a long session's logs: 20; 0: no save)",
    )
    args = parser.parse_args(argv)
    if args.idle_seconds < 1 or args.idle_samples < 1:
        parser.error("--idle-seconds must be >= 1 and --idle-samples >= 1")
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        for index in range(args.runs):
            run = Run(Path(tmp) / f"run-{index}")
            say(f"run {index + 1}/{args.runs}: starting a sandbox on port {run.config.port}")
            try:
                run.startup()
                say(f"  healthy in {run.figures['start_s']:.2f} s; Lambda cold/warm invokes")
                run.lambda_latency(args.cold, args.warm)
                say(
                    f"  SQS pickup ({args.isolated} isolated + {args.busy} busy messages, "
                    f"{args.idle_samples} after {args.idle_seconds:g} s idle) and idle CPU"
                )
                run.sqs_pickup(args.isolated, args.busy, args.idle_seconds, args.idle_samples)
                if args.state_mb > 0:
                    say(f"  saving a state with {args.state_mb:g} MB of log events")
                    run.save(args.state_mb)
            finally:
                run.stop()
            say("  " + ", ".join(f"{k}={v:.1f}" for k, v in run.figures.items()))
            runs.append(run.figures)
    print(f"Sandbox benchmark: median of {len(runs)} runs")
    for key, (label, fmt) in LABELS.items():
        if all(key in r for r in runs):
            print(f"  {label:<42} {fmt.format(statistics.median(r[key] for r in runs))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
