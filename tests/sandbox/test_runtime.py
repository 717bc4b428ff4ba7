"""sandbox/runtime.py without LocalStack: a stalled shutdown still ends the process, says where it
stalled, and runs the atexit hooks that stop Lambda environments."""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import subprocess
import sys
import threading
import time
from pathlib import Path

STALLED_SHUTDOWN = """
import atexit, sys, threading
from sandbox import runtime
runtime.SHUTDOWN_BOUND_SECONDS = {bound}
atexit.register(lambda: print("atexit hooks ran", flush=True))

def a_stop_that_never_returns():
    threading.Event().wait()

runtime.bound_shutdown()  # as LocalStack's shutdown hooks call it, after the save
stop = threading.Thread(target=a_stop_that_never_returns, name="Runtime-Shutdown")
stop.start()
stop.join()
"""


def test_a_stalled_shutdown_ends_with_its_threads_stacks_and_atexit_run(tmp_path: Path) -> None:
    bound = 0.5
    script = tmp_path / "stalled.py"
    script.write_text(STALLED_SHUTDOWN.format(bound=bound))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
    )
    took = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    assert "shutdown still running after 0.5 s; ending the process" in done.stderr
    assert "a_stop_that_never_returns" in done.stderr  # the stalled thread's stack
    assert "atexit hooks ran" in done.stdout
    assert took >= bound


def test_the_bound_is_a_shutdown_hook_between_the_last_save_and_the_services() -> None:
    hooks = {
        hook.name: hook.load().hook_priority
        for hook in importlib.metadata.entry_points(group="localstack.hooks.on_infra_shutdown")
    }
    assert "bound_shutdown" in hooks, "run make setup so that the entry point is seen"
    assert hooks["save_at_shutdown"] > hooks["bound_shutdown"] > hooks["shutdown_services"]


def test_the_servers_shutdown_ends_its_event_loop_even_when_the_loop_waits_idle() -> None:
    """LocalStack's shutdown calls `loop.stop()` from another thread; a loop already back in
    select() (here: made certain by a pause just before) never noticed, and the process hung."""
    from localstack.runtime.server.hypercorn import HypercornRuntimeServer

    from sandbox import runtime

    runtime.wake_the_loop_at_shutdown()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        server = HypercornRuntimeServer()
        loop.shutdown_default_executor = lambda: time.sleep(0.3)  # called just before stop()
        serving = threading.Thread(target=server.run)
        serving.start()
        time.sleep(0.1)
        server.shutdown()
        serving.join(5)
        stalled = serving.is_alive()
        if stalled:  # end it, then fail
            loop.call_soon_threadsafe(loop.stop)
            serving.join()
        assert not stalled, "the event loop kept waiting after the server's shutdown"
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)


def test_what_a_provider_load_leaves_is_frozen_and_the_listener_is_registered() -> None:
    """(Objects living as long as the process, out of every later full collection's walk.)"""
    from localstack.services.plugins import SERVICE_PLUGINS

    from sandbox import runtime

    before = gc.get_freeze_count()
    kept = [{"n": n} for n in range(1000)]  # as a provider's modules and stores would be
    runtime.FreezeAfterProviderLoad().on_load_after(None, None)
    assert gc.get_freeze_count() >= before + len(kept)
    listeners = SERVICE_PLUGINS.plugin_manager.listeners
    added = len(listeners)
    runtime.resume_collector()
    assert isinstance(listeners[-1], runtime.FreezeAfterProviderLoad)
    assert len(listeners) == added + 1
    listeners.pop()
