"""`python -m sandbox.runtime`: LocalStack's runtime, with the garbage collector held off while it
starts.

Why: start-up imports a few thousand modules and creates tens of thousands of classes and
functions, all of them kept for the life of the process; the cyclic collector kept scanning them
as they piled up (about a tenth of the start-up CPU time, measured with `make bench-sandbox`).
The collector is off until the gateway serves, then on again with everything allocated so far
frozen (`gc.freeze()`: moved out of the collector's sight for good, so later collections, idle
ones included, do not walk the whole interpreter again). Before LocalStack starts, the
installation's service catalog index is put in the home (sandbox/service_catalog.py).

Once LocalStack's shutdown is over (its shutdown hooks, the state's last save included), the
process ends at once. Python's own exit would join every thread first, and some never end:
the gateway's worker threads wait for an event loop that has stopped, and clients inside the
process (SQS pollers, the metric batcher) wait on answers from the server that is gone. Such a
process was only ever killed, 10 s after `down --no-save` asked it to stop. And if the services'
shutdown itself stalls (one stop waiting on another thread forever), the process ends anyway
SHUTDOWN_BOUND_SECONDS after the last save, with every thread's stack in the log to say where.
One such stall was LocalStack's: its server stops the event loop from another thread with
`loop.stop()`, which does not wake a loop waiting in select(); with no request or timer to
come, it waited for good (1 in 20 shutdowns, more under load). The stop now wakes it.
"""

from __future__ import annotations

import atexit
import contextlib
import faulthandler
import gc
import logging
import os
import runpy
import sys
import threading
import traceback
from typing import Any

from localstack.runtime import hooks
from plux import PluginLifecycleListener

from sandbox import service_catalog, startup
from sandbox.plugins import patching
from sandbox.plugins.patching import Target

SERVER_SHUTDOWN = Target("localstack.runtime.server.hypercorn:HypercornRuntimeServer.shutdown")
INTERNALS = (
    SERVER_SHUTDOWN,
    Target("localstack.runtime.hooks:on_infra_ready"),
    Target("localstack.runtime.main:main"),
    Target("localstack.config:dirs"),
)


@hooks.on_infra_ready(priority=-100)  # after the restore (sandbox/plugins/persistence.py)
def resume_collector() -> None:
    """Start-up (restore included) is over: freeze what it allocated, collect as usual. And
    freeze again after each service's provider loads (lazily, on its first request): its
    modules, and API Gateway's index of every AWS service, live as long as the process."""
    gc.freeze()
    gc.enable()
    from localstack.services.plugins import SERVICE_PLUGINS

    SERVICE_PLUGINS.plugin_manager.add_listener(FreezeAfterProviderLoad())


class FreezeAfterProviderLoad(PluginLifecycleListener):
    """A plux listener: once a provider has loaded, collect, then freeze what is left.

    Start-up imports less than it did (sandbox/startup.py and the plugins patch providers as
    they load), so more long-lived objects now appear after the first freeze, API Gateway's
    index of every AWS service among them; every full collection then walked them again. Under
    `make load PROFILE=steady` (24/s) the high priority's delivered p95 went 374 → 3,070 ms
    (same machine, same hour); with this listener, 672 ms, and run back to back with the code
    before those start-up changes, 197 against 187 ms."""

    def on_load_after(self, plugin_spec: Any, plugin: object, load_result: object = None) -> None:
        gc.collect()
        gc.freeze()


# The services' shutdown (after the state's last save) takes under a second; under a full test
# run on 2 cores, several. Past this bound it is stalled, not slow: the launcher kills a process
# 10 s after SIGTERM, and this ends it sooner, with its threads' stacks in the log and its
# atexit hooks run (no Lambda environment process outlives it).
SHUTDOWN_BOUND_SECONDS = 6.0
_exiting = threading.Lock()


@hooks.on_infra_shutdown(priority=50)  # after save_at_shutdown (100), before the services (-10)
def bound_shutdown() -> None:
    """End the process if the rest of the shutdown has not within SHUTDOWN_BOUND_SECONDS."""
    timer = threading.Timer(SHUTDOWN_BOUND_SECONDS, end_stalled_shutdown)
    timer.daemon = True
    timer.name = "sandbox-shutdown-bound"
    timer.start()


def end_stalled_shutdown() -> None:
    print(
        f"sandbox: shutdown still running after {SHUTDOWN_BOUND_SECONDS:g} s; ending the process."
        " Its threads:",
        file=sys.stderr,
        flush=True,
    )
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    exit_without_joining_threads(1)


def wake_the_loop_at_shutdown() -> None:
    """After LocalStack's server shutdown, stop its event loop the thread-safe way too."""

    @patching.wrap(SERVER_SHUTDOWN)
    def shutdown(original: Any, self: Any) -> None:
        original(self)
        with contextlib.suppress(RuntimeError):  # the loop is closed already
            self.loop.call_soon_threadsafe(self.loop.stop)


# If the ready hook never runs (start-up failed half-way), collect again after this long anyway.
RESUME_AFTER_SECONDS = 120.0


def main() -> None:
    gc.disable()
    from localstack import config

    service_catalog.install(config.dirs.static_libs)
    startup.apply()
    wake_the_loop_at_shutdown()
    fallback = threading.Timer(RESUME_AFTER_SECONDS, gc.enable)
    fallback.daemon = True
    fallback.start()
    status = 1
    try:
        runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
        status = 0
    except SystemExit as e:
        status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        exit_without_joining_threads(status)


def exit_without_joining_threads(status: int) -> None:
    """End the process as Python would, except for joining threads that never end.

    Once: the shutdown bound and the main thread may both get here."""
    if not _exiting.acquire(blocking=False):
        threading.Event().wait()  # the other one is ending the process
    atexit._run_exitfuncs()  # e.g. no Lambda environment process outlives LocalStack
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
