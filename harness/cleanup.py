"""Undoing what a test created: its own steps, newest first, every one tried."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Cleanups(list[Callable[[], Any]]):
    """Undo steps, appended as resources are created; `run()` undoes them newest first.

    A failing step never stops the others; what it left behind is printed (pytest shows it
    with the test's output).
    """

    def run(self) -> None:
        while self:
            step = self.pop()
            try:
                step()
            except Exception as error:  # keep cleaning up; say what was left
                print(f"cleanup left something behind: {error}")
