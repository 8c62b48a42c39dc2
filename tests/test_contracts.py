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


# The gateway serves routing's directory under /v1/directory, and answers an action on an incident
# with routing's view of it (api_gateway.incidents.routed), in models of its own (it imports no
# routing code): each must say what the service's says, or a portal is told one shape and given
# another. (gateway model, service, the service's model, fields only the gateway adds at the end)
DIRECTORY_MODELS = [
    (f"{kind}{use}", "routing", f"{kind}{use}", ())
    for kind in ("Department", "Official", "Rule")
    for use in ("Create", "Update", "Read")
]
ROUTED_MODELS = [
    ("RoutedIncident", "routing", "IncidentDetail", ("reply_quality",)),
    ("RoutedPost", "routing", "IncidentPostRead", ()),
    ("RoutedHistoryEntry", "routing", "HistoryRead", ()),
    ("RoutedEscalation", "routing", "EscalationRead", ()),
    ("RoutedReplyText", "routing", "ReplyRead", ()),
    ("RoutedReply", "routing", "PublishedReplyRead", ()),
    ("RoutedReaction", "routing", "ReactionRead", ()),
    ("RoutedDeadline", "routing", "DeadlineRead", ()),
    ("Assignee", "routing", "Assignee", ()),
    ("ReviewReason", "routing", "ReviewReason", ()),
    ("ReplyScore", "classifier", "ReplyScoreRead", ()),
    ("ReleasedReply", "routing", "IncidentDetail", ("reply_quality", "held_reply")),
]
# What a field's schema states that a client relies on (descriptions and examples may differ).
FIELD_FACTS = ("type", "maxLength", "minLength", "pattern", "minimum", "maximum", "enum", "maxItems", "minItems")


def _openapi(folder: str) -> dict:
    return json.loads((ROOT / "services" / folder / "openapi.json").read_text(encoding="utf-8"))


def _field_facts(schema: dict, components: dict) -> object:
    """A field's schema reduced to its facts, its references resolved (enums are compared by value)."""
    if "$ref" in schema:
        return _field_facts(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if "anyOf" in schema:
        return sorted((_field_facts(part, components) for part in schema["anyOf"]), key=repr)
    facts = {key: schema[key] for key in FIELD_FACTS if key in schema}
    if "properties" in schema:  # a nested model: its own entry in the lists above compares its fields
        facts["properties"] = list(schema["properties"])
    for nested in ("items", "additionalProperties"):
        if isinstance(schema.get(nested), dict):
            facts[nested] = _field_facts(schema[nested], components)
    if "default" in schema:
        facts["default"] = schema["default"]
    return facts


@pytest.mark.parametrize(
    ("ours", "service", "theirs", "added"),
    DIRECTORY_MODELS + ROUTED_MODELS,
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_the_gateways_copies_of_other_services_models_say_what_theirs_say(
    ours: str, service: str, theirs: str, added: tuple[str, ...]
) -> None:
    gateway_components = _openapi("api-gateway")["components"]["schemas"]
    their_components = _openapi(service)["components"]["schemas"]
    mine, model = gateway_components[ours], their_components[theirs]
    required = [name for name in mine.get("required", []) if name not in added]
    assert sorted(required) == sorted(model.get("required", [])), ours
    assert mine.get("additionalProperties") == model.get("additionalProperties"), ours
    assert list(mine["properties"]) == [*model["properties"], *added], ours
    for field, schema in model["properties"].items():
        assert _field_facts(mine["properties"][field], gateway_components) == _field_facts(schema, their_components), (
            f"{ours}.{field}"
        )
