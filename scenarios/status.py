"""The "still working" line: rewritten in place on a terminal, a line every few seconds in logs.

Runs finish in any order on threads; `done()` prints a finished run's block above the line, so
output never interleaves mid-line.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
LOG_EVERY = 5.0  # seconds between progress lines when not on a terminal


class Status:
    def __init__(self, stream: TextIO) -> None:
        self.stream, self.tty = stream, stream.isatty()
        self.lock = threading.Lock()
        self.state: dict[str, str] = {}
        self.started = time.monotonic()
        self.stop = threading.Event()

    def set(self, key: str, text: str) -> None:
        with self.lock:
            self.state[key] = text

    def done(self, key: str, block: str) -> None:
        with self.lock:
            self.state.pop(key, None)
            self._clear()
            print(block, file=self.stream, flush=True)

    def line(self, tick: int) -> str:
        spin = SPINNER[tick % len(SPINNER)] if self.tty else "…"
        parts = " · ".join(f"{k}: {v}" for k, v in self.state.items())
        text = f"  {spin} {time.monotonic() - self.started:4.1f} s  {parts}"
        width = shutil.get_terminal_size().columns - 1
        return text if len(text) <= width else text[: width - 1] + "…"

    def _clear(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")

    def _tick(self) -> None:
        tick = 0
        interval = 0.1 if self.tty else LOG_EVERY
        while not self.stop.wait(interval):
            tick += 1
            with self.lock:
                if not self.state:
                    continue
                if self.tty:
                    self.stream.write("\r\033[K" + self.line(tick))
                else:
                    self.stream.write(self.line(tick) + "\n")
                self.stream.flush()

    @contextmanager
    def running(self) -> Iterator[None]:
        self.started = time.monotonic()
        self.stop.clear()
        ticker = threading.Thread(target=self._tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            self.stop.set()
            ticker.join()
            with self.lock:
                self._clear()
                self.stream.flush()
