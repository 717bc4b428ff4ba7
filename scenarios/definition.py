"""Load and validate scenario definitions, so a typo fails at load time with its location.

A definition is a YAML file: `name`, `title`, `about`, `priorities` (default: all), `users`
(alias + `admin`, `sender`, `email` flags) and `steps`, each step a mapping with one kind key
(`send`, `query`, `reject`) and an optional `expect`. Strings may use `{priority}` (the priority
being run), `{alias}` / `{alias.sub}` (a user's name, for people / its Cognito sub, the id the API
knows it by: `user_id`, `sender`) and `{ref}` / `{ref.id}` (a saved send's id).

Only senders (`sender: true`, the stack's sender group) may send: a send expected to be accepted,
or a reject step (whose cases must reach validation), by anyone else fails at load time.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from notifications.priorities import PRIORITIES

HERE: Final = Path(__file__).resolve().parent
RUN_PRIORITY: Final = "{priority}"
ROUTES: Final = ("by-user", "by-id", "by-priority")


class DefinitionError(ValueError):
    """A definition that cannot run; the message names the file and the place in it."""


@dataclass(frozen=True)
class UserSpec:
    alias: str
    admin: bool
    sender: bool  # a member of the sender group: may POST /notifications
    email: bool  # subscribes <username>@example.com to the user's deliveries (e-mail channel)


@dataclass(frozen=True)
class Send:
    """POST a valid notification (`times` > 1 repeats it, e.g. with an Idempotency-Key)."""

    sender: str
    to: str
    priority: str
    message: str
    idempotency_key: str | None
    times: int
    save: str | None
    status: int
    queue: str | None  # the priority whose queue must carry it
    delivered: bool
    item: dict[str, str]
    same_id: bool
    email: bool  # exactly one e-mail with the message reaches the recipient's address


@dataclass(frozen=True)
class Query:
    """GET one of the read routes as `caller`."""

    caller: str
    route: str
    subject: str  # user alias (by-user), saved ref (by-id) or priority (by-priority)
    status: int
    items: tuple[str, ...] | None  # exactly these refs, in this order
    includes: tuple[str, ...]
    item: str | None


@dataclass(frozen=True)
class Case:
    """One invalid request: the base body changed by `set`/`drop`, or `raw`, or oversized."""

    name: str
    set: dict[str, Any]
    drop: tuple[str, ...]
    raw: str | None
    oversize: bool
    status: int
    errors: dict[str, str]  # field → code, exactly


@dataclass(frozen=True)
class Reject:
    sender: str
    base: dict[str, Any]
    cases: tuple[Case, ...]


type Step = Send | Query | Reject


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    about: str
    priorities: tuple[str, ...]
    users: tuple[UserSpec, ...]
    steps: tuple[Step, ...]
    source: Path


_REQUIRED: Final = object()


class _Fields:
    """Typed access to one mapping; `done()` refuses keys nobody asked for."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise DefinitionError(f"{where}: expected a mapping, got {type(data).__name__}")
        self.data, self.where, self.asked = data, where, list[str]()

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = _REQUIRED) -> Any:
        self.asked.append(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise DefinitionError(f"{self.where}: missing '{key}'")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise DefinitionError(f"{self.where}.{key}: expected {_kind_name(kind)}, got {value!r}")
        return value

    def done(self) -> None:
        unknown = sorted(str(k) for k in self.data if k not in self.asked)
        if unknown:
            allowed = ", ".join(self.asked)
            raise DefinitionError(f"{self.where}: unknown key(s) {unknown} (allowed: {allowed})")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(k.__name__ for k in kinds)


class _Names:
    """What `{...}` may refer to at this point of a scenario."""

    def __init__(self, aliases: set[str]) -> None:
        self.aliases, self.refs, self.emails = aliases, set[str](), set[str]()
        self.senders = set[str]()

    def alias(self, value: str, where: str) -> str:
        if value not in self.aliases:
            raise DefinitionError(
                f"{where}: unknown user '{value}' (users: {sorted(self.aliases)})"
            )
        return value

    def sender(self, value: str, where: str) -> str:
        if self.alias(value, where) not in self.senders:
            raise DefinitionError(
                f"{where}: '{value}' may not send (senders: {sorted(self.senders)}; "
                "add `sender: true` to the user)"
            )
        return value

    def ref(self, value: str, where: str) -> str:
        if value not in self.refs:
            raise DefinitionError(
                f"{where}: unknown ref '{value}' (saved so far: {sorted(self.refs)})"
            )
        return value

    def template(self, value: Any, where: str) -> Any:
        """Check every `{...}` in a string (or in a mapping's/list's strings)."""
        if isinstance(value, dict):
            return {k: self.template(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.template(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        except ValueError as e:
            raise DefinitionError(f"{where}: bad template {value!r} ({e}; use {{{{ for {{)") from e
        for field in fields:
            root, _, attr = field.partition(".")
            ok = (
                (root == "priority" and not attr)
                or (root in self.aliases and attr in ("", "sub"))
                or (root in self.refs and attr in ("", "id"))
            )
            if not ok:
                raise DefinitionError(
                    f"{where}: unknown placeholder {{{field}}} (known: priority, users "
                    f"{sorted(self.aliases)} [.sub], refs {sorted(self.refs)} [.id])"
                )
        return value


def _priority(value: str, where: str) -> str:
    if value != RUN_PRIORITY and value not in PRIORITIES:
        raise DefinitionError(
            f"{where}: unknown priority '{value}' "
            f"(one of {', '.join(PRIORITIES)} or {RUN_PRIORITY})"
        )
    return value


def _run_priority(value: object, where: str) -> str:
    if not isinstance(value, str) or value not in PRIORITIES:
        raise DefinitionError(
            f"{where}: unknown priority {value!r} (one of {', '.join(PRIORITIES)})"
        )
    return value


def _send(f: _Fields, e: _Fields, names: _Names, where: str) -> Send:
    sender = names.alias(f.get("as", str), f"{where}.as")
    times = f.get("times", int, 1)
    if times < 1:
        raise DefinitionError(f"{where}.times: at least 1")
    queue = e.get("queue", str, None)
    status = e.get("status", int, 202)
    if status == 202:
        names.sender(sender, f"{where}.as")
    step = Send(
        sender=sender,
        to=names.alias(f.get("to", str, sender), f"{where}.to"),
        priority=_priority(f.get("priority", str, RUN_PRIORITY), f"{where}.priority"),
        message=names.template(f.get("message", str), f"{where}.message"),
        idempotency_key=names.template(f.get("idempotency_key", str, None), f"{where}.key"),
        times=times,
        save=f.get("save", str, None),
        status=status,
        queue=None if queue is None else _priority(queue, f"{where}.expect.queue"),
        delivered=e.get("delivered", bool, False),
        item=names.template(e.get("item", dict, {}), f"{where}.expect.item"),
        same_id=e.get("same_id", bool, False),
        email=e.get("email", bool, False),
    )
    if step.email and step.to not in names.emails:
        raise DefinitionError(f"{where}.expect.email: '{step.to}' has no `email: true`")
    if step.save in names.refs or step.save in names.aliases:
        raise DefinitionError(f"{where}.save: '{step.save}' is already taken")
    if step.save:
        names.refs.add(step.save)
    return step


def _query(f: _Fields, e: _Fields, names: _Names, where: str) -> Query:
    caller = names.alias(f.get("as", str), f"{where}.as")
    route = f.get("route", str)
    if route not in ROUTES:
        raise DefinitionError(f"{where}.route: unknown route '{route}' (one of {list(ROUTES)})")
    subject = {
        "by-user": lambda: names.alias(f.get("user", str), f"{where}.user"),
        "by-id": lambda: names.ref(f.get("id", str), f"{where}.id"),
        "by-priority": lambda: _priority(f.get("priority", str, RUN_PRIORITY), f"{where}.priority"),
    }[route]()
    items = e.get("items", list, None)
    return Query(
        caller=caller,
        route=route,
        subject=subject,
        status=e.get("status", int, 200),
        items=None
        if items is None
        else tuple(names.ref(r, f"{where}.expect.items") for r in items),
        includes=tuple(
            names.ref(r, f"{where}.expect.includes") for r in e.get("includes", list, [])
        ),
        item=names.ref(e.get("item", str), f"{where}.expect.item") if "item" in e.data else None,
    )


def _case(data: object, names: _Names, where: str) -> Case:
    f = _Fields(data, where)
    oversize = f.get("oversize", bool, False)
    case = Case(
        name=f.get("name", str),
        set=names.template(f.get("set", dict, {}), f"{where}.set"),
        drop=tuple(f.get("drop", list, [])),
        raw=f.get("raw", str, None),
        oversize=oversize,
        status=f.get("status", int, 413 if oversize else 400),
        errors=f.get("errors", dict),
    )
    f.done()
    if not case.errors or not all(isinstance(v, str) for v in case.errors.values()):
        raise DefinitionError(f'{where}.errors: field → code strings (quote `null`: "null")')
    if sum((bool(case.set or case.drop), case.raw is not None, case.oversize)) > 1:
        raise DefinitionError(f"{where}: one of set/drop, raw or oversize")
    return case


def _reject(f: _Fields, e: _Fields, names: _Names, where: str) -> Reject:
    cases = f.get("cases", list)
    if not cases:
        raise DefinitionError(f"{where}.cases: at least one case")
    return Reject(
        sender=names.sender(f.get("as", str), f"{where}.as"),
        base=names.template(f.get("base", dict), f"{where}.base"),
        cases=tuple(_case(c, names, f"{where}.cases[{i}]") for i, c in enumerate(cases)),
    )


_KINDS: Final = {"send": _send, "query": _query, "reject": _reject}


def _step(data: object, names: _Names, where: str) -> Step:
    if not isinstance(data, dict):
        raise DefinitionError(f"{where}: a step is a mapping like {{send: ..., expect: ...}}")
    kinds = [k for k in data if k != "expect"]
    if len(kinds) != 1 or kinds[0] not in _KINDS:
        raise DefinitionError(
            f"{where}: unknown step kind {kinds} (one of: {', '.join(_KINDS)}, plus 'expect')"
        )
    kind = kinds[0]
    f = _Fields(data[kind], f"{where}.{kind}")
    e = _Fields(data.get("expect", {}), f"{where}.expect")
    step = _KINDS[kind](f, e, names, f"{where}.{kind}")
    f.done()
    e.done()
    return step


def parse(data: object, source: Path) -> Scenario:
    """A validated Scenario from parsed YAML; DefinitionError names what is wrong and where."""
    f = _Fields(data, source.name)
    name = f.get("name", str)
    if name != source.stem:
        raise DefinitionError(f"{source.name}: name '{name}' must match the file name")
    users = []
    for i, raw in enumerate(f.get("users", list)):
        u = _Fields(raw, f"{source.name}: users[{i}]")
        users.append(
            UserSpec(
                alias=u.get("alias", str),
                admin=u.get("admin", bool, False),
                sender=u.get("sender", bool, False),
                email=u.get("email", bool, False),
            )
        )
        u.done()
    aliases = {u.alias for u in users}
    if len(aliases) != len(users) or aliases & {"priority"}:
        raise DefinitionError(f"{source.name}: user aliases must be unique and not 'priority'")
    names = _Names(aliases)
    names.emails = {u.alias for u in users if u.email}
    names.senders = {u.alias for u in users if u.sender}
    priorities = f.get("priorities", list, list(PRIORITIES))
    scenario = Scenario(
        name=name,
        title=f.get("title", str),
        about=" ".join(f.get("about", str).split()),
        priorities=tuple(_run_priority(p, f"{source.name}: priorities") for p in priorities),
        users=tuple(users),
        steps=tuple(
            _step(s, names, f"{source.name}: steps[{i}]")
            for i, s in enumerate(f.get("steps", list))
        ),
        source=source,
    )
    f.done()
    return scenario


def load(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DefinitionError(f"{path.name}: not valid YAML: {e}") from e
    return parse(data, path)


def load_all(folder: Path = HERE) -> dict[str, Scenario]:
    """Every `*.yaml` in `folder`, by name (sorted)."""
    return {s.name: s for s in sorted(map(load, folder.glob("*.yaml")), key=lambda s: s.name)}
