"""`NetTrap`: the recording proxy plus the audit hook, and the environment that applies both."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType

from sandbox.netguard.proxy import TrapProxy

SITE_DIR = Path(__file__).resolve().parent / "site"  # holds the audit hook's sitecustomize.py
NO_PROXY = "localhost,127.0.0.1,127.0.0.0/8,::1"


class NetTrap:
    """Context manager: `with NetTrap(folder) as trap: run(env=trap.env()); trap.records()`."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.record_file = folder / "netguard.jsonl"
        self.record_file.touch()
        self.proxy = TrapProxy(self.record_file)

    def __enter__(self) -> NetTrap:
        self.proxy.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.proxy.stop()

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Variables that route a process tree's HTTP(S) to the proxy and load the audit hook."""
        base = os.environ if base is None else base
        pythonpath = os.pathsep.join(p for p in (str(SITE_DIR), base.get("PYTHONPATH", "")) if p)
        proxies = {name: self.proxy.url for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}
        return {
            **proxies,
            **{k.lower(): v for k, v in proxies.items()},
            "NO_PROXY": NO_PROXY,
            "no_proxy": NO_PROXY,
            # LocalStack hands these to its own downloads (localstack.utils.http.get_proxies).
            "OUTBOUND_HTTP_PROXY": self.proxy.url,
            "OUTBOUND_HTTPS_PROXY": self.proxy.url,
            "PYTHONPATH": pythonpath,
            "NETGUARD_RECORD": str(self.record_file),
        }

    def records(self) -> list[dict[str, object]]:
        """Every trapped attempt so far: proxy requests and audit-hook findings."""
        lines = self.record_file.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]
