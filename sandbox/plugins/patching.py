"""The one way the plugins touch LocalStack and moto internals: checked first, loud on failure.

Why: the plugins patch about forty internals of localstack-core and its bundled moto. A plain
assignment (`Class.method = new`) or a patch whose target was renamed by an upgrade turns into a
silent no-op, and an exception swallowed at run time hides a broken fidelity fix behind a green
suite. Here:

- `Target("package.module:Class.attribute", params=(...))` names one internal a plugin relies on.
  `Target.resolve()` imports the module, walks the attributes and, with `params`, checks that
  the callable's parameters start with those names (the ones the plugin passes or reads; all
  of them with `exact=True`, for a callee the plugin replaces);
  anything missing raises `InternalMissing` naming it. Instance attributes declared only as
  class annotations (dataclass fields, typed attributes set in `__init__`) count as present.
- Every plugin lists what it relies on in a module-level `INTERNALS` tuple; its start-up hook
  runs `check(INTERNALS)` (so LocalStack does not start when one is gone) and
  tests/sandbox/plugins/test_patching.py resolves all of them without a server.
- `wrap(target)` replaces a function or method by `new(original, *args, **kwargs)`;
  `replace(target, value)` sets an attribute. Both resolve (and so check) the target first and
  are idempotent, so a hook may run twice.
- `when_provider_loads(api, apply)` runs `apply` when LocalStack loads the provider of `api`
  (importing some provider modules takes seconds, so start-up does not); a failure there is
  logged and raised as plux's `PluginException`, which plux re-raises: the provider fails to
  load (its calls error, naming the plugin) instead of serving requests without the fix.
  `before_provider_loads(api, apply)` runs it just before, for a patch of the provider's own
  operations (its dispatch table binds them when the provider is created).
- `plugin_error(log, ...)` logs a failure at run time as an ERROR carrying `PLUGIN_ERROR`; the
  test harness fails a session whose sandbox log gained such a line (harness/sandbox_log.py).

Imports nothing from LocalStack at module level: the harness reads `PLUGIN_ERROR` from here.
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger(__name__)

PLUGIN_ERROR = "sandbox plugin error"
_MARKS = "__sandbox_patches__"
_ANNOTATED_ONLY = object()
_MISSING = object()

# LocalStack's API Gateway (next_gen) internals, patched by five plugins: named here once.
EXECUTE_API = "localstack.services.apigateway.next_gen.execute_api"
APIGATEWAY_PROVIDER = "localstack.services.apigateway.next_gen.provider"
LAMBDA_PROVIDER = "localstack.services.lambda_.provider"


class InternalMissing(RuntimeError):
    """A LocalStack/moto internal a plugin relies on is missing or has another signature."""


@dataclass(frozen=True)
class Target:
    """One internal: `module:attr.attr`, and the leading parameter names the plugin relies on."""

    path: str
    params: tuple[str, ...] | None = None
    exact: bool = False  # the parameters are exactly `params` (for a replaced callee)

    @property
    def module(self) -> str:
        return self.path.partition(":")[0]

    def locate(self) -> tuple[Any, str, Any]:
        """(owner, attribute name, current value); raises InternalMissing."""
        module_name, _, qualname = self.path.partition(":")
        try:
            owner: Any = importlib.import_module(module_name)
        except ImportError as e:
            raise InternalMissing(f"{self.path}: module {module_name} not importable: {e}") from e
        names = qualname.split(".") if qualname else []
        value: Any = owner
        for i, name in enumerate(names):
            owner = value
            value = _attribute(owner, name)
            if value is _MISSING:
                raise InternalMissing(f"{self.path}: {'.'.join(names[: i + 1])} is gone")
        self._check_params(value)
        return owner, (names[-1] if names else ""), value

    def resolve(self) -> Any:
        """The internal itself (checked)."""
        return self.locate()[2]

    def _check_params(self, value: Any) -> None:
        if self.params is None:
            return
        if not callable(value):
            raise InternalMissing(f"{self.path}: not callable ({type(value).__name__})")
        found = tuple(inspect.signature(value).parameters)
        if (found if self.exact else found[: len(self.params)]) != self.params:
            raise InternalMissing(f"{self.path}: takes {found}, the plugin relies on {self.params}")


def _attribute(owner: Any, name: str) -> Any:
    """`owner.name` without running descriptors; annotated-only instance attributes count."""
    value = inspect.getattr_static(owner, name, _MISSING)
    if value is not _MISSING:
        return value if isinstance(value, property) else getattr(owner, name, value)
    classes = inspect.getmro(owner) if inspect.isclass(owner) else ()
    if any(name in vars(cls).get("__annotations__", {}) for cls in classes):
        return _ANNOTATED_ONLY
    return _MISSING


def check(targets: Iterable[Target], *, import_modules: bool = True) -> None:
    """Resolve every target (or, with import_modules=False, only find their modules, for
    providers whose import takes seconds); raise InternalMissing listing all that fail."""
    problems = []
    for target in targets:
        try:
            if import_modules:
                target.resolve()
            elif not module_exists(target.module):
                raise InternalMissing(f"{target.path}: module {target.module} is gone")
        except InternalMissing as e:
            problems.append(str(e))
    if problems:
        raise InternalMissing("LocalStack/moto internals changed: " + "; ".join(problems))


def module_exists(name: str) -> bool:
    """Whether module `name` can be imported, found without importing it or its packages.

    (`importlib.util.find_spec("a.b.c")` imports `a.b`: for API Gateway's execute-api handlers
    package that is a tenth of a second and, through the service catalog it loads, ~20 MB.)"""
    if name in sys.modules:
        return True
    parts = name.split(".")
    spec = importlib.util.find_spec(parts[0])
    for depth in range(2, len(parts) + 1):
        if spec is None or spec.submodule_search_locations is None:
            return False
        spec = importlib.machinery.PathFinder.find_spec(
            ".".join(parts[:depth]), list(spec.submodule_search_locations)
        )
    return spec is not None


def wrap[F: Callable[..., Any]](target: Target) -> Callable[[F], F]:
    """Decorator: `target` becomes `new(original, *args, **kwargs)` (once per `new`)."""

    def decorator(new: F) -> F:
        owner, name, original = target.locate()
        if isinstance(inspect.getattr_static(owner, name), staticmethod | classmethod):
            raise InternalMissing(f"{target.path}: static/class methods are not wrapped here")
        mark = f"{new.__module__}.{new.__qualname__}"
        marks = getattr(original, _MARKS, frozenset())
        if mark in marks:
            return new

        @functools.wraps(original)
        def patched(*args: Any, **kwargs: Any) -> Any:
            return new(original, *args, **kwargs)

        setattr(patched, _MARKS, marks | {mark})
        setattr(owner, name, patched)
        return new

    return decorator


def replace(target: Target, value: Any) -> None:
    """Set the attribute `target` names to `value` (it must exist, with its signature)."""
    owner, name, _ = target.locate()
    setattr(owner, name, value)


def plugin_error(log: logging.Logger, message: str, *args: Any) -> None:
    """Log a plugin's failure at run time (with the traceback) where the harness finds it."""
    log.error(f"{PLUGIN_ERROR}: {message}", *args, exc_info=True)


def when_provider_loads(api: str, apply: Callable[[], None], provider_module: str) -> None:
    """Run `apply` when the provider of `api` loads (now, if `provider_module` is imported)."""
    from localstack.services.plugins import SERVICE_PLUGINS
    from plux import PluginLifecycleListener, PluginSpec

    run = _loudly(apply, api)

    class OnLoad(PluginLifecycleListener):
        def on_load_after(
            self, plugin_spec: PluginSpec, plugin: object, load_result: object = None
        ):
            if plugin_spec.name.startswith(f"{api}:"):
                run()

    SERVICE_PLUGINS.plugin_manager.add_listener(OnLoad())
    if provider_module in sys.modules:  # loaded eagerly
        run()


def before_provider_loads(api: str, apply: Callable[[], None]) -> None:
    """Run `apply` just before LocalStack creates the provider of `api`: for patches of the
    provider's own operations, which its dispatch table binds when the provider is created."""
    from localstack.services.plugins import SERVICE_PLUGINS
    from plux import PluginLifecycleListener, PluginSpec

    run = _loudly(apply, api)

    class BeforeLoad(PluginLifecycleListener):
        def on_load_before(
            self, plugin_spec: PluginSpec, plugin: object, load_args: object, load_kwargs: object
        ):
            if plugin_spec.name.startswith(f"{api}:"):
                run()

    manager = SERVICE_PLUGINS.plugin_manager
    created = [n for n in manager.list_names() if n.startswith(f"{api}:") and manager.is_loaded(n)]
    if created:  # the patch would never reach it: fail the start instead
        raise RuntimeError(
            f"{PLUGIN_ERROR}: {apply.__module__}: the {api} provider ({', '.join(created)}) was "
            "created before its patch could be applied"
        )
    manager.add_listener(BeforeLoad())


def _loudly(apply: Callable[[], None], api: str) -> Callable[[], None]:
    """`apply`, logging a plugin error and raising if it fails."""
    from plux import PluginException

    def run() -> None:
        try:
            apply()
        except Exception as e:
            plugin_error(LOG, "%s not applied when the %s provider loaded", apply.__module__, api)
            raise PluginException(f"{PLUGIN_ERROR}: {apply.__module__}: {e}") from e

    return run
