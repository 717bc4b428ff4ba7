"""The API client (harness/api.py): a 429 is retried only when asked, and boundedly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness.api import Api, retry_throttled


@contextmanager
def throttling_server(throttled: int) -> Iterator[tuple[str, list[int]]]:
    """A loopback server answering 429 to its first `throttled` POSTs, then 202."""
    answered: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            status = 429 if len(answered) < throttled else 202
            answered.append(status)
            body = b'{"message": "Too Many Requests"}' if status == 429 else b'{"id": "n-1"}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answered
    finally:
        server.shutdown()
        server.server_close()


def test_a_429_is_returned_as_it_is_by_default() -> None:
    with throttling_server(throttled=1) as (url, answered):
        assert Api(url).send("token", {"m": 1}).status == 429
        assert answered == [429]


def test_a_429_is_retried_with_back_off_when_asked() -> None:
    with throttling_server(throttled=2) as (url, answered):
        response = Api(url, throttled_retries=5, throttled_backoff=0.01).send("t", {"m": 1})
        assert (response.status, response.body) == (202, {"id": "n-1"})
        assert answered == [429, 429, 202]


def test_retries_are_bounded() -> None:
    with throttling_server(throttled=10) as (url, answered):
        api = Api(url, throttled_retries=2, throttled_backoff=0.01)
        assert api.send("t", {"m": 1}).status == 429
        assert answered == [429, 429, 429]


def test_any_client_gets_the_same_policy_and_can_count_the_retries() -> None:
    answers = iter([429, 429, 200])
    retried: list[None] = []
    status = retry_throttled(
        lambda: next(answers),
        lambda s: s,
        retries=5,
        backoff=0.001,
        on_retry=lambda: retried.append(None),
    )
    assert status == 200 and len(retried) == 2
    assert retry_throttled(lambda: 429, lambda s: s, retries=2, backoff=0.001) == 429
