"""The patching helper (sandbox/plugins/patching.py) and the contract of every plugin with
LocalStack and moto: no server, so a LocalStack upgrade that renames an internal fails here first.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from sandbox.plugins import patching
from sandbox.plugins.patching import InternalMissing, Target

ROOT = Path(__file__).resolve().parents[3]
IMPORTS_INTERNALS = re.compile(r"^\s*(?:from|import) (?:localstack|moto)\b", re.MULTILINE)


def plugin_modules() -> list[str]:
    """Every module of sandbox/ that imports LocalStack or moto (the helper itself excepted)."""
    names = []
    for path in sorted((ROOT / "sandbox").rglob("*.py")):
        if path.name != "patching.py" and IMPORTS_INTERNALS.search(path.read_text()):
            names.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return names


def test_plugin_modules_are_found() -> None:
    found = plugin_modules()
    assert "sandbox.plugins.gateway_responses" in found
    assert "sandbox.netguard.offline" in found
    assert len(found) >= 12


@pytest.mark.parametrize("module_name", plugin_modules())
def test_every_internal_a_plugin_relies_on_is_there(module_name: str) -> None:
    """Imports each symbol in the plugin's INTERNALS and checks the parameters it relies on."""
    module = importlib.import_module(module_name)
    internals = getattr(module, "INTERNALS", None)
    assert internals, f"{module_name} touches LocalStack/moto but lists no INTERNALS"
    assert all(isinstance(t, Target) for t in internals)
    patching.check(internals)


def test_the_plugins_own_deeper_checks_pass() -> None:
    """Plugins that also check shapes a Target cannot express (dataclass fields, sources)."""
    from sandbox.plugins import iam_enforcement, resource_policies, sqs_event_source

    iam_enforcement.check_internals()
    resource_policies.check_internals()
    sqs_event_source.check_localstack_internals()


# ------------------------------------------------------------------ the helper itself


def _module() -> types.ModuleType:
    """A throw-away module registered in sys.modules, standing in for a LocalStack module."""
    module = types.ModuleType("sandbox_patching_probe")

    def greet(name: str, punctuation: str = "!") -> str:
        return f"hello {name}{punctuation}"

    class Greeter:
        prefix: str  # annotated only, as LocalStack's typed instance attributes

        def greet(self, name: str) -> str:
            return f"hi {name}"

    module.greet = greet
    module.Greeter = Greeter
    module.FLAG = None
    return module


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = _module()
    monkeypatch.setitem(__import__("sys").modules, module.__name__, module)
    return module


def test_resolve_finds_functions_methods_values_and_annotated_attributes(probe) -> None:
    assert Target("sandbox_patching_probe:greet", params=("name",)).resolve() is probe.greet
    Target("sandbox_patching_probe:greet", params=("name", "punctuation"), exact=True).resolve()
    Target("sandbox_patching_probe:Greeter.greet", params=("self", "name")).resolve()
    Target("sandbox_patching_probe:Greeter.prefix").resolve()
    assert Target("sandbox_patching_probe:FLAG").resolve() is None  # None is a value, not "gone"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (Target("sandbox_patching_probe:gone"), "gone is gone"),
        (Target("sandbox_patching_probe:Greeter.gone"), "Greeter.gone is gone"),
        (Target("no_such_module_at_all:x"), "not importable"),
        (Target("sandbox_patching_probe:greet", params=("who",)), "relies on"),
        (Target("sandbox_patching_probe:greet", params=("name",), exact=True), "relies on"),
        (Target("sandbox_patching_probe:FLAG", params=()), "not callable"),
    ],
)
def test_a_missing_or_changed_internal_raises_naming_it(probe, target, message) -> None:
    with pytest.raises(InternalMissing, match=message):
        target.resolve()
    with pytest.raises(InternalMissing, match=re.escape(target.path)):
        patching.check([target])


def test_check_without_import_only_looks_for_the_module() -> None:
    patching.check(
        [Target("localstack.services.edge:NOT_CHECKED_WITHOUT_IMPORT")], import_modules=False
    )
    with pytest.raises(InternalMissing, match=r"localstack\.no_such_module"):
        patching.check([Target("localstack.no_such_module:x")], import_modules=False)


FIND_WITHOUT_IMPORT = """
import json, sys
from sandbox.plugins.patching import module_exists
handlers = "localstack.services.apigateway.next_gen.execute_api.handlers"
found = [module_exists(f"{handlers}.method_request"), module_exists(f"{handlers}.no_such")]
found += [module_exists("no_such_package.x"), module_exists("json")]
print(json.dumps({"found": found, "imported": [m for m in sys.modules if "apigateway" in m]}))
"""


def test_a_module_is_found_without_importing_it_or_its_packages() -> None:
    """(find_spec would import the execute-api handlers package, and with it the service
    catalog: the start-up time and memory these checks are meant not to cost.)"""
    done = subprocess.run(
        [sys.executable, "-c", FIND_WITHOUT_IMPORT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"found": [True, False, False, True], "imported": []}


def test_wrap_passes_the_original_and_applies_once(probe) -> None:
    target = Target("sandbox_patching_probe:Greeter.greet", params=("self", "name"))

    def apply() -> None:
        @patching.wrap(target)
        def louder(original, self, name):
            return original(self, name).upper()

    apply()
    apply()  # a hook that runs twice does not wrap twice
    assert probe.Greeter().greet("ann") == "HI ANN"
    Target(target.path, params=("self", "name"), exact=True).resolve()  # signature kept

    @patching.wrap(Target("sandbox_patching_probe:greet"))
    def polite(original, name, punctuation="!"):
        return original(name, ".")

    assert probe.greet("bo") == "hello bo."


def test_wrap_and_replace_refuse_a_missing_target(probe) -> None:
    with pytest.raises(InternalMissing):
        patching.wrap(Target("sandbox_patching_probe:Greeter.renamed"))(lambda original: None)
    with pytest.raises(InternalMissing):
        patching.replace(Target("sandbox_patching_probe:RENAMED"), True)
    patching.replace(Target("sandbox_patching_probe:FLAG"), False)
    assert probe.FLAG is False


def test_plugin_error_is_an_error_with_the_marker_and_traceback(caplog) -> None:
    log = logging.getLogger("sandbox.plugins.probe")
    try:
        raise ValueError("boom")
    except ValueError:
        patching.plugin_error(log, "could not do %s", "it")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"{patching.PLUGIN_ERROR}: could not do it"
    assert record.exc_info is not None


def test_a_failure_when_the_provider_loads_fails_the_load(monkeypatch) -> None:
    """plux re-raises PluginException (only that) from a load listener: the provider does not
    load rather than serve without the plugin."""
    from localstack.services.plugins import SERVICE_PLUGINS
    from plux import PluginException

    listeners = []
    monkeypatch.setattr(SERVICE_PLUGINS.plugin_manager, "add_listener", listeners.append)

    def broken() -> None:
        raise InternalMissing("renamed")

    patching.when_provider_loads("probe", broken, "no.such.provider.module")
    (listener,) = listeners
    spec = types.SimpleNamespace(name="probe:default")
    with pytest.raises(PluginException, match="renamed"):
        listener.on_load_after(spec, None)
    listener.on_load_after(types.SimpleNamespace(name="other:default"), None)  # not ours


def test_before_the_provider_loads_runs_for_its_api_and_refuses_a_created_provider(
    monkeypatch,
) -> None:
    """A patch of a provider's operations must land before the provider binds them."""
    from localstack.services.plugins import SERVICE_PLUGINS

    manager, listeners, applied = SERVICE_PLUGINS.plugin_manager, [], []
    monkeypatch.setattr(manager, "add_listener", listeners.append)
    monkeypatch.setattr(manager, "list_names", lambda: ["probe:default", "other:default"])
    monkeypatch.setattr(manager, "is_loaded", lambda name: name == "other:default")

    patching.before_provider_loads("probe", lambda: applied.append("probe"))
    (listener,) = listeners
    listener.on_load_before(types.SimpleNamespace(name="other:default"), None, (), {})
    assert applied == []  # not ours
    listener.on_load_before(types.SimpleNamespace(name="probe:default"), None, (), {})
    assert applied == ["probe"]

    created = r"the other provider \(other:default\) was created before its patch"
    with pytest.raises(RuntimeError, match=created):
        patching.before_provider_loads("other", lambda: None)
    assert len(listeners) == 1
