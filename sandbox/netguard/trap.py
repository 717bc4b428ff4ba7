"""`NetTrap`: the recording proxy plus the audit hook, and the environment that applies both."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from sandbox.netguard.proxy import TrapProxy

SITE_DIR = Path(__file__).resolve().parent / "site"  # holds the audit hook's sitecustomize.py
HOOK_FILE = SITE_DIR / "sitecustomize.py"
NO_PROXY = "localhost,127.0.0.1,127.0.0.0/8,::1"
RECORD_VARIABLE = "NETGUARD_RECORD"  # set = the trap is active; the audit hook writes there
HOOK_VARIABLE = "NETGUARD_HOOK"  # the hook's file, for children that ignore PYTHONPATH
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
FORWARDED = (RECORD_VARIABLE, *_PROXY_VARIABLES, *(name.lower() for name in _PROXY_VARIABLES))


def forwarded_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What a child started with a curated environment needs to stay under an active trap.

    For processes that do not inherit the trapped environment as a whole, e.g. Lambda function
    processes (`python -I -S`, so no PYTHONPATH and no sitecustomize): the record file, the proxy
    variables, and `NETGUARD_HOOK`, the audit hook's file, which such a child loads by path.
    Empty when `environ` (default: this process's) is not under a trap.
    """
    environ = os.environ if environ is None else environ
    if not environ.get(RECORD_VARIABLE):
        return {}
    passed = {name: environ[name] for name in FORWARDED if name in environ}
    return {**passed, HOOK_VARIABLE: str(HOOK_FILE)}


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
            RECORD_VARIABLE: str(self.record_file),
        }

    def records(self) -> list[dict[str, object]]:
        """Every trapped attempt so far: proxy requests and audit-hook findings."""
        lines = self.record_file.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]
