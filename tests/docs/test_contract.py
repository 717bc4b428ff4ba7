"""docs/contract.md lists exactly the statuses and error codes stack/api/openapi.yaml declares.

The spec is what generated requests are checked against (integration_tests/
test_generated_requests.py); this keeps the page people read from drifting away from it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "stack" / "api" / "openapi.yaml"
CONTRACT = ROOT / "docs" / "contract.md"
TABLE_HEADING = "### Responses per route"
ROW = re.compile(r"^\| `(?P<route>[A-Z]+ [^`]+)` \| (?P<status>\d{3}) \| (?P<codes>[^|]*)\|$")

#: route -> status -> error codes
Responses = dict[str, dict[str, frozenset[str]]]


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def error_codes(spec: dict[str, Any], schema: dict[str, Any]) -> frozenset[str]:
    """The `code` enum of an error schema's `errors` items (through allOf and $ref)."""
    schema = resolve(spec, schema)
    codes: set[str] = set()
    for part in [schema, *(resolve(spec, s) for s in schema.get("allOf", []))]:
        errors = part.get("properties", {}).get("errors", {})
        codes |= set(errors.get("items", {}).get("properties", {}).get("code", {}).get("enum", []))
    return frozenset(codes)


def spec_responses() -> Responses:
    spec = yaml.safe_load(SPEC.read_text())
    found: Responses = {}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            route = found.setdefault(f"{method.upper()} {path}", {})
            for status, response in operation["responses"].items():
                content = resolve(spec, response).get("content", {})
                schema = content.get("application/json", {}).get("schema", {})
                route[str(status)] = error_codes(spec, schema)
    return found


def documented_responses() -> Responses:
    text = CONTRACT.read_text()
    assert TABLE_HEADING in text, f"{CONTRACT} has no '{TABLE_HEADING}' table"
    table = text.split(TABLE_HEADING, 1)[1].split("\n#", 1)[0]
    found: Responses = {}
    for line in table.splitlines():
        if match := ROW.match(line.strip()):
            codes = frozenset(re.findall(r"`([^`]+)`", match["codes"]))
            statuses = found.setdefault(match["route"], {})
            assert match["status"] not in statuses, f"{line!r} is listed twice"
            statuses[match["status"]] = codes
    return found


def test_the_contract_lists_every_route_status_and_error_code_of_the_spec() -> None:
    documented, declared = documented_responses(), spec_responses()
    assert documented, "no rows parsed from the table"
    assert sorted(documented) == sorted(declared), "routes differ"
    for route, statuses in declared.items():
        assert documented[route] == statuses, f"{route}: contract.md differs from openapi.yaml"


def test_every_error_response_of_the_spec_is_json_with_a_message() -> None:
    spec = yaml.safe_load(SPEC.read_text())
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                schema = resolve(
                    spec, resolve(spec, response)["content"]["application/json"]["schema"]
                )
                required = set(schema.get("required", []))
                for part in schema.get("allOf", []):
                    required |= set(resolve(spec, part).get("required", []))
                assert "message" in required, f"{method.upper()} {path} {status}"
