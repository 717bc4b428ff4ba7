"""A tiny HTTP(S) proxy on 127.0.0.1 that forwards nothing: it records each request and says 502.

Processes given HTTP_PROXY/HTTPS_PROXY pointing here send every outside request (plain requests
and CONNECT tunnels alike) to this proxy instead of the network, so each attempt is observable.
"""

from __future__ import annotations

import contextlib
import json
import socketserver
import threading
import time
from pathlib import Path

REPLY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
MAX_HEAD = 65536


class _Handler(socketserver.BaseRequestHandler):
    server: TrapProxy

    def handle(self) -> None:
        self.request.settimeout(5)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < MAX_HEAD:
                chunk = self.request.recv(4096)
                if not chunk:
                    break
                head += chunk
        except OSError:
            pass
        lines = head.split(b"\r\n")
        request_line = lines[0].decode(errors="replace")
        host = next(
            (
                ln.split(b":", 1)[1].strip().decode(errors="replace")
                for ln in lines[1:]
                if ln.lower().startswith(b"host:")
            ),
            "",
        )
        self.server.record({"event": "proxy", "detail": request_line, "host": host})
        with contextlib.suppress(OSError):
            self.request.sendall(REPLY)


class TrapProxy(socketserver.ThreadingTCPServer):
    """Listens on 127.0.0.1 (free port) and appends one JSON line per request to `record_file`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, record_file: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.record_file = record_file
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, entry: dict[str, str]) -> None:
        with self._lock, self.record_file.open("a") as f:
            f.write(json.dumps({**entry, "time": time.time()}) + "\n")

    def start(self) -> TrapProxy:
        self._thread = threading.Thread(
            target=self.serve_forever, name="netguard-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
