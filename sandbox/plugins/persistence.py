"""The sandbox keeps its state across restarts: snapshots saved and restored by LocalStack itself.

Why: LocalStack's open-source core has the state machinery of its paid persistence (providers
expose their stores to a `StateVisitor`, lifecycle hooks around save and load, a dill-based
pickler) but nothing that drives it, so a restart lost every resource and `make deploy` rebuilt
the stack. This plugin drives it: it saves every started service to `<home>/state.snapshot`
(format and compatibility rule in sandbox/snapshots.py) when asked (`down`, named snapshots), every
SAVE_INTERVAL seconds after a request changed something, and at shutdown; at start-up it restores
that file before the launcher reports the sandbox ready.

What a snapshot holds, per started service: the LocalStack stores (AccountRegionBundle) and moto
backends (BackendDict) the provider shows its visitor, the files of its asset folders (CloudWatch's
metric database, copied with SQLite's backup API), and for S3 the object data (kept by the
community S3 in spooled temporary files that its asset folder does not hold; Lambda code lives
there). Locks are pickled as fresh unlocked ones (dill would restore an RLock owned by a thread of
the old process), cryptography's keys (KMS, Cognito signing keys) as DER.

Restore is all or nothing: every pickle is decoded before the first service is touched; then
each service gets `on_before_state_load`, its containers' contents, and `on_after_state_load`
(S3 first, Lambda last: its function versions fetch their code from S3 and its event source
mappings start polling their queues).

A save is due when a request changed something: any operation but reads (Get*, List*, Describe*,
Query, Scan, ReceiveMessage ...) and the sandbox's own metric pushes.

Not kept: running Lambda environments (the first invoke after a restore is cold), SQS messages'
in-flight visibility (they become visible as the timeout ends, as when a consumer dies), metric
datapoints still buffered by metric_batching (at most one second), the IAM policy log, and event
source mappings whose function was deleted (AWS keeps them; LocalStack cannot resume one, and
failed the whole restore: each is named in the log instead).

LocalStack/moto internals relied on (localstack-core 2026.3.0; `check_internals`, run before the
first save or restore and by a no-server test, names the one that is missing):
- `localstack.services.plugins.SERVICE_PLUGINS`: `list_active_services`, `get_service`, `require`;
  `Service.accept_state_visitor` and `.lifecycle_hook` (`ServiceLifecycleHook`);
- `localstack.state`: `StateVisitor`, `AssetDirectory`, `pickle.Pickler` (dill);
- `localstack.services.stores.AccountRegionBundle` (`lock`, `_universal`, `reset`,
  `RegionBundle.lock/_universal`, stores' `_universal`), `moto.core.base_backend.BackendDict`;
- Lambda: `lambda_stores` (`LambdaStore.event_source_mappings`, UUID → mapping with
  `FunctionArn`), `provider_utils.get_function_version_from_arn` (raises for a deleted function);
- S3: `s3_stores` (`buckets`, `S3Bucket.objects.values(with_versions=True)`, `S3Object`), the
  provider's `_storage_backend` (`open(bucket, object, mode)`, `create_bucket`);
- `localstack.aws.handlers.run_custom_response_handlers` (marks the state changed),
  `localstack.services.edge.ROUTER` (`/_sandbox/state`), hooks `on_infra_start`, `on_infra_ready`,
  `on_infra_shutdown`.
"""

from __future__ import annotations

import copyreg
import functools
import io
import json
import logging
import os
import pickle
import sqlite3
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localstack.http import Request, Resource, Response
from localstack.runtime import hooks

from sandbox import snapshots
from sandbox.plugins import patching
from sandbox.plugins.patching import Target

LOG = logging.getLogger(__name__)

INTERVAL_SETTING = "SANDBOX_SAVE_INTERVAL"  # set by sandbox/config.py
DEFAULT_INTERVAL_SECONDS = 30.0
ROUTE = "/_sandbox/state"
# Restore order: code and identities first, consumers last.
FIRST = ("s3", "iam", "sts", "kms")
LAST = ("lambda",)
# Operations that change nothing worth saving (ReceiveMessage only moves visibility timeouts).
READ_PREFIXES = (
    *("Get", "List", "Describe", "Query", "Scan", "BatchGet", "Head", "Receive", "Lookup"),
)
# Internal calls whose data the sandbox derives again by itself (SQS and Lambda metrics).
DERIVED_OPERATIONS = frozenset({"PutMetricData"})
PICKLE_ATTEMPTS = 8  # a request may change a dict while it is pickled: try again
PICKLE_BACKOFF_SECONDS = 0.01  # doubled after each attempt: 1.3 s in all


INTERNALS = (
    Target("localstack.aws.handlers:run_custom_response_handlers.handlers"),
    Target("localstack.services.plugins:SERVICE_PLUGINS.list_active_services"),
    Target("localstack.services.plugins:SERVICE_PLUGINS.require"),
    Target("localstack.services.plugins:Service.accept_state_visitor"),
    Target("localstack.services.s3.models:S3Object"),
    Target("localstack.services.s3.models:s3_stores"),
    Target("localstack.services.stores:AccountRegionBundle.reset"),
    Target("localstack.services.stores:RegionBundle"),
    Target("localstack.state:AssetDirectory"),
    Target("localstack.state:StateVisitor"),
    Target("localstack.state.pickle:Pickler"),
    Target("localstack.services.lambda_.invocation.models:lambda_stores.iter_stores"),
    Target("localstack.services.lambda_.invocation.models:LambdaStore.event_source_mappings"),
    Target(
        "localstack.services.lambda_.provider_utils:get_function_version_from_arn",
        params=("function_arn",),
    ),
    Target("moto.core.base_backend:BackendDict"),
    Target("moto.core.base_backend:backend_lock"),
)


def check_internals() -> None:
    patching.check(INTERNALS)
    from localstack.aws import handlers
    from localstack.services.plugins import SERVICE_PLUGINS, Service
    from localstack.services.s3.models import S3Object, s3_stores  # noqa: F401
    from localstack.services.stores import AccountRegionBundle, RegionBundle
    from localstack.state import AssetDirectory, StateVisitor  # noqa: F401
    from localstack.state.pickle import Pickler  # noqa: F401
    from moto.core.base_backend import BackendDict  # noqa: F401

    for owner, name in (
        (SERVICE_PLUGINS, "list_active_services"),
        (SERVICE_PLUGINS, "require"),
        (Service, "accept_state_visitor"),
        (AccountRegionBundle, "reset"),
        (handlers.run_custom_response_handlers, "handlers"),
    ):
        if not hasattr(owner, name):
            raise AttributeError(f"{owner!r} has no {name}")
    for cls in (AccountRegionBundle, RegionBundle):
        if "lock" not in cls.__init__.__code__.co_names + cls.__init__.__code__.co_varnames:
            raise AttributeError(f"{cls.__name__} no longer has a lock")


# ------------------------------------------------------------------ pickling


KEY_MODULES = ("rsa", "ec", "ed25519", "ed448", "x25519", "x448", "dsa", "dh")


def load_private_key(der: bytes) -> Any:
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    return load_der_private_key(der, None)


def load_public_key(der: bytes) -> Any:
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    return load_der_public_key(der)


def _reducers() -> dict[type, Callable[[Any], tuple[Any, tuple]]]:
    """Reduce functions (copyreg style) for what a snapshot pickles its own way: locks as fresh
    unlocked ones (dill and pickle would restore an RLock owned by a thread of the old process),
    cryptography's keys (KMS keys, Cognito signing keys, which have no pickle support) as DER."""
    import _thread
    import threading as threading_

    from cryptography.hazmat.bindings._rust import openssl
    from cryptography.hazmat.primitives import serialization as s

    def private(key: Any) -> tuple[Any, tuple]:
        der = key.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())
        return load_private_key, (der,)

    def public(key: Any) -> tuple[Any, tuple]:
        der = key.public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
        return load_public_key, (der,)

    reducers: dict[type, Callable[[Any], tuple[Any, tuple]]] = {
        _thread.LockType: lambda _: (_thread.allocate_lock, ()),
        _thread.RLock: lambda _: (threading_.RLock, ()),
    }
    for module in KEY_MODULES:
        for name, cls in vars(getattr(openssl, module)).items():
            if isinstance(cls, type) and name.endswith(("PrivateKey", "PublicKey")):
                reducers[cls] = private if name.endswith("PrivateKey") else public
    return reducers


@functools.cache
def _fast_pickler_class() -> type[pickle.Pickler]:
    """The C pickler with the snapshot's reducers: 10-20 times faster than dill's pure-Python
    one, which held a busy sandbox back for 6-12 s per save once its logs had grown (issue 10)."""
    table = {**copyreg.dispatch_table, **_reducers()}

    class FastSnapshotPickler(pickle.Pickler):
        dispatch_table = table

    return FastSnapshotPickler


@functools.cache
def _dill_pickler_class() -> type:
    """LocalStack's dill pickler with the same reducers, for what the C pickler cannot pickle
    (functions and classes by value, lambdas)."""
    from localstack.state.pickle import Pickler

    def as_dill(reduce: Callable[[Any], tuple[Any, tuple]]) -> Callable[[Any, Any], None]:
        return lambda pickler, obj: pickler.save_reduce(*reduce(obj), obj=obj)

    reducers = {cls: as_dill(reduce) for cls, reduce in _reducers().items()}

    class SnapshotPickler(Pickler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.dispatch.update(reducers)

    return SnapshotPickler


def dumps(obj: Any) -> bytes:
    """The object's pickle, by the C pickler when it can, else by dill; both load with `loads`.

    A request may change a store's dict while it is pickled ("dictionary changed size during
    iteration"): the pickle is tried again after a growing back-off.
    """
    picklers = (_fast_pickler_class(), _dill_pickler_class())
    for attempt in range(PICKLE_ATTEMPTS):
        for pickler_class in picklers:
            buffer = io.BytesIO()
            try:
                pickler_class(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
                return buffer.getvalue()
            except RecursionError:
                raise
            except RuntimeError as e:  # "dictionary changed size during iteration"
                if attempt == PICKLE_ATTEMPTS - 1:
                    raise
                LOG.debug("persistence: state changed while pickled (%s); again", e)
                break
            except (pickle.PicklingError, TypeError, AttributeError) as e:
                if pickler_class is picklers[-1]:
                    raise
                LOG.debug("persistence: the C pickler cannot pickle it (%s); dill", e)
        # Back off: a busy store (a log group taking every function's lines) changes again
        # at once; 3 immediate attempts failed 5 periodic saves in 17 `make e2e` runs.
        time.sleep(PICKLE_BACKOFF_SECONDS * 2**attempt)
    raise AssertionError("unreachable")


def loads(data: bytes) -> Any:
    import dill

    return dill.loads(data)


# ------------------------------------------------------------------ state containers


def container_key(container: Any) -> str:
    """A stable name for a state container, the same in the saving and the loading process."""
    from localstack.services.stores import AccountRegionBundle
    from localstack.state import AssetDirectory
    from moto.core.base_backend import BackendDict

    if isinstance(container, AccountRegionBundle):
        store = container.store
        return f"stores:{container.service_name}:{store.__module__}.{store.__qualname__}"
    if isinstance(container, BackendDict):
        backend = container.backend
        return f"moto:{container.service_name}:{backend.__module__}.{backend.__qualname__}"
    if isinstance(container, AssetDirectory):
        return f"assets:{container.service_name}:{Path(container.path).name}"
    raise TypeError(f"persistence: unknown state container {type(container).__name__}")


def containers_of(service: Any) -> dict[str, Any]:
    from localstack.state import StateVisitor

    found: dict[str, Any] = {}

    class Collector(StateVisitor):
        def visit(self, state_container: Any) -> None:
            found[container_key(state_container)] = state_container

    service.accept_state_visitor(Collector())
    return found


def graft(current: Any, loaded: Any) -> None:
    """Put the loaded container's contents into the live one (providers hold the live object)."""
    from localstack.services.stores import AccountRegionBundle
    from moto.core.base_backend import BackendDict, backend_lock

    if isinstance(current, AccountRegionBundle):
        with current.lock:
            current.reset()
            current._universal.update(loaded._universal)
            for account_id, regions in loaded.items():
                regions.lock = current.lock
                regions._universal = current._universal
                for store in regions.values():
                    store._universal = current._universal
                dict.__setitem__(current, account_id, regions)
    elif isinstance(current, BackendDict):
        with backend_lock:
            dict.clear(current)
            for account_id, backends in loaded.items():
                dict.__setitem__(current, account_id, backends)
            if loaded and current not in BackendDict._instances:
                BackendDict._instances.append(current)
    else:
        raise TypeError(f"persistence: cannot restore {type(current).__name__}")


# ------------------------------------------------------------------ asset folders and S3 data


def sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a database that may be in use (SQLite's online backup)."""
    origin, destination = sqlite3.connect(source), sqlite3.connect(target)
    try:
        origin.backup(destination)
    finally:
        origin.close()
        destination.close()


def read_assets(folder: Path) -> dict[str, bytes]:
    """The folder's files; SQLite databases through the backup API (a consistent copy)."""
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if not path.is_file() or path.name.endswith(("-journal", "-wal", "-shm")):
            continue
        name = path.relative_to(folder).as_posix()
        if path.suffix == ".db":
            with tempfile.TemporaryDirectory() as scratch:
                copy = Path(scratch) / "copy.db"
                sqlite_copy(path, copy)
                files[name] = copy.read_bytes()
        else:
            files[name] = path.read_bytes()
    return files


def write_assets(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix == ".db":
            with tempfile.TemporaryDirectory() as scratch:
                copy = Path(scratch) / "copy.db"
                copy.write_bytes(data)
                sqlite_copy(copy, target)
        else:
            target.write_bytes(data)


def _s3_objects() -> list[tuple[str, Any]]:
    from localstack.services.s3.models import S3Object, s3_stores

    found = []
    for _account, _region, store in s3_stores.iter_stores():
        for bucket in list(store.buckets.values()):
            for obj in bucket.objects.values(with_versions=True):
                if isinstance(obj, S3Object):
                    found.append((bucket.name, obj))
    return found


def read_s3_data(service: Any) -> dict[tuple[str, str, str | None], bytes]:
    storage = service._provider._storage_backend
    data = {}
    for bucket, obj in _s3_objects():
        with storage.open(bucket, obj, mode="r") as stored:
            data[(bucket, obj.key, obj.version_id)] = stored.read()
    return data


def write_s3_data(service: Any, data: dict[tuple[str, str, str | None], bytes]) -> None:
    storage = service._provider._storage_backend
    created = set()
    for bucket, obj in _s3_objects():
        body = data.get((bucket, obj.key, obj.version_id))
        if body is None:
            continue
        if bucket not in created:
            storage.create_bucket(bucket)
            created.add(bucket)
        with storage.open(bucket, obj, mode="w") as stored:
            stored.write(io.BytesIO(body))


# ------------------------------------------------------------------ save and restore


def _services() -> Any:
    from localstack.services.plugins import SERVICE_PLUGINS

    return SERVICE_PLUGINS


def ordered(names: list[str]) -> list[str]:
    rank = {name: i for i, name in enumerate(FIRST)}
    return sorted(names, key=lambda n: (n in LAST, rank.get(n, len(FIRST)), n))


def capture(name: str, service: Any) -> tuple[bytes, dict[str, bytes]]:
    """One service's pickle and asset files."""
    hook = service.lifecycle_hook
    hook.on_before_state_save()
    try:
        containers = containers_of(service)
        picklable = {k: c for k, c in containers.items() if not k.startswith("assets:")}
        extras = {"s3-data": read_s3_data(service)} if name == "s3" else {}
        payload = dumps({"containers": picklable, "extras": extras})
        assets = {}
        if name != "s3":  # S3's asset folder holds only spooled files; its data is in extras
            for key, container in containers.items():
                if key.startswith("assets:"):
                    for file, data in read_assets(Path(container.path)).items():
                        assets[f"assets/{name}/{key.split(':', 2)[2]}/{file}"] = data
    finally:
        hook.on_after_state_save()
    return payload, assets


def write_snapshot(target: Path, state_id: str, reason: str) -> dict:
    """Save every started service into `target` (atomically: a new file replaces the old)."""
    started = time.monotonic()
    manager = _services()
    names = ordered(manager.list_active_services())
    entries: dict[str, bytes] = {}
    services = {}
    for name in names:
        payload, assets = capture(name, manager.get_service(name))
        entries[f"services/{name}.pickle"] = payload
        entries.update(assets)
        services[name] = {"bytes": len(payload) + sum(len(a) for a in assets.values())}
    home = Path(os.environ["SANDBOX_HOME"])
    for path, archive_name in snapshots.home_files(home):
        try:
            entries[archive_name] = path.read_bytes()
        except OSError:  # removed meanwhile (a deploy running)
            continue
    manifest = {
        "versions": snapshots.writer_versions(),
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reason": reason,
        "state_id": state_id,
        "services": services,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr(snapshots.MANIFEST, json.dumps(manifest, indent=2))
        for name, data in entries.items():
            archive.writestr(name, data)
    os.replace(temporary, target)
    return {
        "path": str(target),
        "reason": reason,
        "at": manifest["saved_at"],
        "seconds": round(time.monotonic() - started, 3),
        "bytes": target.stat().st_size,
        "services": names,
    }


def read_snapshot(path: Path) -> tuple[snapshots.Manifest, dict[str, dict], dict[str, dict]]:
    """Decode everything first (all or nothing): manifest, service → pickle, service → assets."""
    manifest = snapshots.read_manifest(path)
    manifest.check_loadable()
    decoded: dict[str, dict] = {}
    assets: dict[str, dict[str, dict[str, bytes]]] = {}
    with zipfile.ZipFile(path) as archive:
        for name in manifest.services:
            try:
                decoded[name] = loads(archive.read(f"services/{name}.pickle"))
            except Exception as e:
                raise snapshots.SnapshotError(
                    f"sandbox: the saved state of {name} in {path} cannot be decoded ({e!r}); "
                    "nothing was loaded"
                ) from e
        for member in archive.namelist():
            if member.startswith("assets/"):
                _, service, folder, file = member.split("/", 3)
                assets.setdefault(service, {}).setdefault(folder, {})[file] = archive.read(member)
    return manifest, decoded, assets


def apply_snapshot(decoded: dict[str, dict], assets: dict[str, dict]) -> dict[str, float]:
    """Put decoded state into the services, each started first; seconds per step and service."""
    manager = _services()
    names = ordered(list(decoded))
    seconds: dict[str, float] = {}

    def timed(step: str, name: str, call: Any) -> Any:
        started = time.monotonic()
        result = call()
        seconds[f"{step} {name}"] = round(time.monotonic() - started, 3)
        return result

    services = {name: timed("start", name, lambda n=name: manager.require(n)) for name in names}
    live = {name: containers_of(services[name]) for name in names}
    for name in names:
        missing = set(decoded[name]["containers"]) - set(live[name])
        if missing:
            raise snapshots.SnapshotError(
                f"sandbox: {name} no longer has the state containers {sorted(missing)}"
            )
    for name in names:
        timed("load", name, lambda n=name: _load_service(services[n], live[n], decoded[n], assets))
    if "lambda" in names:
        drop_mappings_of_deleted_functions()
    for name in names:
        timed("resume", name, services[name].lifecycle_hook.on_after_state_load)
    return seconds


def drop_mappings_of_deleted_functions() -> list[str]:
    """Remove the event source mappings whose function is gone from the restored Lambda store.

    AWS keeps such a mapping (deleting a function leaves its mappings). LocalStack's Lambda
    provider cannot resume one: it looks the function up and raises, which refused the whole
    state (`make up` after a `make test` that left one: "Function not found"). Each is named in
    the log; the UUIDs are returned."""
    from localstack.services.lambda_.invocation.models import lambda_stores
    from localstack.services.lambda_.provider_utils import get_function_version_from_arn

    dropped = []
    for _, _, store in lambda_stores.iter_stores():
        for mapping_id, mapping in list(store.event_source_mappings.items()):
            try:
                get_function_version_from_arn(mapping.get("FunctionArn", ""))
            except Exception as e:  # ResourceNotFoundException, or an ARN that does not parse
                del store.event_source_mappings[mapping_id]
                dropped.append(mapping_id)
                LOG.warning(
                    "persistence: event source mapping %s (%s) not restored: %s",
                    mapping_id,
                    mapping.get("EventSourceArn"),
                    e,
                )
    return dropped


def _load_service(service: Any, live: dict[str, Any], decoded: dict, assets: dict) -> None:
    name = service.name()
    service.lifecycle_hook.on_before_state_load()
    for key, container in decoded["containers"].items():
        graft(live[key], container)
    for key, current in live.items():
        if key.startswith("assets:") and name in assets:
            write_assets(Path(current.path), assets[name].get(key.split(":", 2)[2], {}))
    if "s3-data" in decoded["extras"]:
        write_s3_data(service, decoded["extras"]["s3-data"])


# ------------------------------------------------------------------ the controller


@dataclass
class Persistence:
    """State id, restore outcome, autosave; one save at a time."""

    home: Path | None = None
    interval: float = DEFAULT_INTERVAL_SECONDS
    state_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    restore: dict = field(default_factory=lambda: {"status": "pending"})
    last_save: dict | None = None
    autosave: bool = True
    dirty: threading.Event = field(default_factory=threading.Event)
    stopping: threading.Event = field(default_factory=threading.Event)
    _save_lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self) -> dict:
        return {
            "state_id": self.state_id,
            "restore": self.restore,
            "last_save": self.last_save,
            "autosave": self.autosave,
            "save_interval": self.interval,
            "changed_since_save": self.dirty.is_set(),
        }

    def save(self, target: Path | None = None, reason: str = "request") -> dict:
        if self.home is None:
            raise snapshots.SnapshotError("sandbox: SANDBOX_HOME is not set; nowhere to save")
        if target is None and not self.autosave:
            raise snapshots.SnapshotError(
                "sandbox: the saved state was refused at start-up; it is kept as it was and "
                f"not overwritten ({self.restore.get('error')})"
            )
        with self._save_lock:
            check_internals()
            self.dirty.clear()
            try:
                result = write_snapshot(
                    target or snapshots.current_file(self.home), self.state_id, reason
                )
            except BaseException:
                self.dirty.set()
                raise
            if target is None:
                self.last_save = result
            if reason == "down":  # the launcher stops the sandbox next: no more saves
                self.stopping.set()
            path, seconds = result["path"], result["seconds"]
            LOG.info("persistence: saved %s in %.3f s (%s)", path, seconds, reason)
            return result

    def restore_at_start(self) -> None:
        if self.home is None:
            self.restore = {"status": "none"}
            return
        path = snapshots.current_file(self.home)
        if not path.exists():
            self.restore = {"status": "none"}
            return
        started = time.monotonic()
        self.restore = {"status": "restoring", "from": str(path)}
        try:
            check_internals()
            decode_started = time.monotonic()
            manifest, decoded, assets = read_snapshot(path)
            steps = {"decode": round(time.monotonic() - decode_started, 3)}
            steps.update(apply_snapshot(decoded, assets))
        except Exception as e:
            # Nothing of it was applied when decoding failed; keep the file for the user to decide.
            self.autosave = False
            status = "refused" if isinstance(e, snapshots.SnapshotError) else "failed"
            self.restore = {"status": status, "from": str(path), "error": str(e)}
            LOG.error("persistence: state not restored: %s", e, exc_info=status == "failed")
            return
        self.state_id = manifest.state_id or self.state_id
        seconds = round(time.monotonic() - started, 3)
        self.restore = {
            "status": "done",
            "from": str(path),
            "saved_at": manifest.saved_at,
            "services": manifest.services,
            "seconds": seconds,
            "steps": steps,
        }
        LOG.info("persistence: restored %s in %.3f s: %s", path, seconds, steps)

    def run_autosave(self) -> None:
        while not self.stopping.wait(self.interval):
            if self.autosave and self.dirty.is_set():
                try:
                    self.save(reason="periodic")
                except Exception:
                    LOG.exception("persistence: periodic save failed")

    def mark(self, chain: Any, context: Any, response: Any) -> None:
        """Response handler: a request that may have changed state makes the next save happen."""
        operation = getattr(context, "operation", None)
        if operation is None or operation.name.startswith(READ_PREFIXES):
            return
        if context.is_internal_call and operation.name in DERIVED_OPERATIONS:
            return  # the sandbox's own queue/function metrics: recomputed, not user state
        self.dirty.set()


PERSISTENCE = Persistence()


class StateResource:
    """GET: the persistence status; POST {"path": optional}: save now (to `path` if given);
    DELETE: save no more (the launcher stops the sandbox next without keeping its state)."""

    def on_get(self, request: Request) -> Response:
        return Response(json.dumps(PERSISTENCE.status()), mimetype="application/json")

    def on_delete(self, request: Request) -> Response:
        """No more saves, not even at shutdown: `down --no-save` keeps the last snapshot as is."""
        PERSISTENCE.autosave = False
        PERSISTENCE.stopping.set()
        return Response(json.dumps(PERSISTENCE.status()), mimetype="application/json")

    def on_post(self, request: Request) -> Response:
        body = request.get_json(force=True, silent=True) or {}
        path = body.get("path")
        try:
            result = PERSISTENCE.save(
                Path(path) if path else None, reason=body.get("reason", "request")
            )
        except Exception as e:
            LOG.exception("persistence: save failed")
            return Response(json.dumps({"error": str(e)}), status=500, mimetype="application/json")
        return Response(json.dumps(result), mimetype="application/json")


@hooks.on_infra_start()
def register_persistence() -> None:
    """Serve /_sandbox/state and watch for requests that change state.

    The internals are checked when first used (a save, a restore), not here: importing them
    would cost start-up time; tests/sandbox/plugins/test_persistence.py checks them too.
    """
    from localstack.aws import handlers
    from localstack.services.edge import ROUTER

    home = os.environ.get("SANDBOX_HOME")
    PERSISTENCE.home = Path(home) if home else None
    PERSISTENCE.interval = float(os.environ.get(INTERVAL_SETTING) or DEFAULT_INTERVAL_SECONDS)
    ROUTER.add(Resource(ROUTE, StateResource()))
    if PERSISTENCE.mark not in handlers.run_custom_response_handlers.handlers:
        handlers.run_custom_response_handlers.append(PERSISTENCE.mark)


@hooks.on_infra_ready()
def restore_state() -> None:
    """Restore the saved state (the launcher waits for it), then save periodically."""
    PERSISTENCE.restore_at_start()
    if PERSISTENCE.home is not None and PERSISTENCE.interval > 0:
        threading.Thread(
            target=PERSISTENCE.run_autosave, name="sandbox-autosave", daemon=True
        ).start()


@hooks.on_infra_shutdown(priority=100)
def save_at_shutdown() -> None:
    """A stop without `down` (SIGTERM in a container) keeps what changed since the last save."""
    if PERSISTENCE.stopping.is_set():  # saved by `down` already
        return
    PERSISTENCE.stopping.set()
    if PERSISTENCE.home is not None and PERSISTENCE.autosave and PERSISTENCE.dirty.is_set():
        try:
            PERSISTENCE.save(reason="shutdown")
        except Exception:
            LOG.exception("persistence: save at shutdown failed")
