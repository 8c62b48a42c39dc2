"""Contracts are code: the committed OpenAPI, AsyncAPI and stream files match what the code generates."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from incidents_common.events import EVENT_SUBJECTS

ROOT = Path(__file__).resolve().parent.parent


def _contracts_module():  # the script is not a package; load it by path
    spec = importlib.util.spec_from_file_location("contracts_script", ROOT / "scripts" / "contracts.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXPECTED = _contracts_module().expected_files()


@pytest.mark.parametrize("path", sorted(EXPECTED), ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_contract_matches_code(path: Path) -> None:
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: run `make contracts`"
    assert path.read_text(encoding="utf-8") == EXPECTED[path], (
        f"{path.relative_to(ROOT)} is stale: run `make contracts`"
    )


def test_asyncapi_documents_every_event() -> None:
    document = json.loads((ROOT / "infra" / "asyncapi.json").read_text(encoding="utf-8"))
    assert document["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert set(EVENT_SUBJECTS.values()) <= addresses
    for message in document["components"]["messages"].values():
        ref = message["payload"].get("$ref")
        if ref:
            assert ref.rsplit("/", 1)[-1] in document["components"]["schemas"]


def test_every_service_documents_its_api() -> None:
    for folder in ("collector", "classifier", "routing", "api-gateway"):
        spec = json.loads((ROOT / "services" / folder / "openapi.json").read_text(encoding="utf-8"))
        assert spec["openapi"].startswith("3.")
        assert spec["paths"], folder


# The gateway serves routing's directory under /v1/directory with models of its own (it imports no
# routing code): each must say what routing's says, or a portal is told one shape and given another.
DIRECTORY_MODELS = [
    f"{kind}{use}" for kind in ("Department", "Official", "Rule") for use in ("Create", "Update", "Read")
]
# What a field's schema states that a client relies on (descriptions and examples may differ).
FIELD_FACTS = ("type", "maxLength", "minLength", "pattern", "minimum", "maximum", "enum", "maxItems", "minItems")


def _field_facts(schema: dict, components: dict) -> object:
    """A field's schema reduced to its facts, its references resolved (enums are compared by value)."""
    if "$ref" in schema:
        return _field_facts(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if "anyOf" in schema:
        return sorted((_field_facts(part, components) for part in schema["anyOf"]), key=repr)
    facts = {key: schema[key] for key in FIELD_FACTS if key in schema}
    if "items" in schema:
        facts["items"] = _field_facts(schema["items"], components)
    if "default" in schema:
        facts["default"] = schema["default"]
    return facts


@pytest.mark.parametrize("name", DIRECTORY_MODELS)
def test_the_gateways_directory_models_say_what_routings_say(name: str) -> None:
    routing = json.loads((ROOT / "services" / "routing" / "openapi.json").read_text(encoding="utf-8"))
    gateway = json.loads((ROOT / "services" / "api-gateway" / "openapi.json").read_text(encoding="utf-8"))
    ours, theirs = gateway["components"]["schemas"][name], routing["components"]["schemas"][name]
    assert sorted(ours.get("required", [])) == sorted(theirs.get("required", [])), name
    assert ours.get("additionalProperties") == theirs.get("additionalProperties"), name
    assert list(ours["properties"]) == list(theirs["properties"]), name
    for field, schema in theirs["properties"].items():
        assert _field_facts(ours["properties"][field], gateway["components"]["schemas"]) == _field_facts(
            schema, routing["components"]["schemas"]
        ), f"{name}.{field}"
