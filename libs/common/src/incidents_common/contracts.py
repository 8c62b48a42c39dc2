"""Contracts as code: each service's OpenAPI file, the AsyncAPI document and the stream definitions.

`python -m incidents_common.contracts` (or `make contracts`) regenerates the committed files;
tests compare the committed files with what the code generates, so they cannot drift.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from incidents_common.events import (
    DEAD_LETTER_ROOT,
    EVENT_SUBJECTS,
    NO_REGION,
    SCHEMA_VERSION,
    SUBJECT_POST_NOISE,
    ClassificationCorrected,
    CloudEvent,
    Contract,
    IncidentEvent,
    event_type_name,
)
from incidents_common.regions import REGIONS
from incidents_common.streams import STREAMS


def dump_json(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def openapi_text(app: FastAPI) -> str:
    return dump_json(app.openapi())


def _envelope(model: type[Contract]) -> type[CloudEvent[Any]]:
    name = model.__name__ + "Event"
    envelope: type[CloudEvent[Any]] = type(name, (CloudEvent[model],), {"__doc__": model.__doc__})  # type: ignore[valid-type]  # a model chosen at run time
    return envelope


def _channel_key(model: type[Contract]) -> str:
    name = model.__name__
    return name[0].lower() + name[1:]


def asyncapi_document() -> dict[str, Any]:
    envelopes = {model: _envelope(model) for model in EVENT_SUBJECTS}
    _, schemas = models_json_schema(
        [(env, "validation") for env in envelopes.values()], ref_template="#/components/schemas/{model}"
    )
    region_param = {
        "description": "Two-digit ФИАС/ГАР code of the subject of the Russian Federation",
        "enum": sorted(REGIONS),
        "examples": ["64", "77"],
    }
    # A correction of a post no region was found for (dismissed as not a complaint) has no code.
    region_or_none_param = {
        "description": f"Two-digit ФИАС/ГАР code of the subject of the Russian Federation, or {NO_REGION!r} "
        "when the corrected post has no region",
        "enum": [*sorted(REGIONS), NO_REGION],
        "examples": ["64", NO_REGION],
    }
    definitions = schemas.get("$defs", {})
    for model, envelope in envelopes.items():
        # Each message's CloudEvents `type` is one value, so a consumer can tell the events apart by it.
        pinned = {"type": "string", "const": event_type_name(model), "description": "The CloudEvents type"}
        definitions[envelope.__name__]["properties"]["type"] = pinned
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for model, envelope in envelopes.items():
        key = _channel_key(model)
        message_name = model.__name__
        messages[message_name] = {
            "name": message_name,
            "title": event_type_name(model),
            "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else message_name,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{envelope.__name__}"},
            "headers": {
                "type": "object",
                "properties": {
                    "Nats-Msg-Id": {"type": "string", "description": "The CloudEvent id, for de-duplication"}
                },
            },
        }
        channel: dict[str, Any] = {
            "address": EVENT_SUBJECTS[model],
            "messages": {message_name: {"$ref": f"#/components/messages/{message_name}"}},
        }
        if model is ClassificationCorrected:
            channel["parameters"] = {"region": {"$ref": "#/components/parameters/regionOrNone"}}
        elif issubclass(model, IncidentEvent) or "{region}" in EVENT_SUBJECTS[model]:
            channel["parameters"] = {"region": {"$ref": "#/components/parameters/region"}}
        channels[key] = channel
        operations[f"receive{model.__name__}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{message_name}"}],
        }
    # One message, two subjects: the chatter goes apart from what routing and the read model consume.
    channels["postClassified"]["description"] = (
        "Classified posts that are complaints, that a person should review, or that are a later version of "
        "a post. Routing and the gateway's read model consume this subject."
    )
    channels["postNoise"] = {
        "address": SUBJECT_POST_NOISE,
        "description": "Classified posts that are no complaint and need no review, first versions only (the "
        "same PostClassified message). About half of a social feed; no service of the platform consumes it, "
        "it is kept on the POSTS stream for subscribers that want every classified post.",
        "messages": {"PostClassified": {"$ref": "#/components/messages/PostClassified"}},
    }
    operations["receivePostNoise"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/postNoise"},
        "messages": [{"$ref": "#/channels/postNoise/messages/PostClassified"}],
    }
    channels["deadLetter"] = {
        "address": f"{DEAD_LETTER_ROOT}.{{consumer}}",
        "description": "Messages a consumer could not process, unchanged, with the reason in the "
        "Incidents-Dead-Letter-Reason header and the subject in Incidents-Original-Subject.",
        "parameters": {"consumer": {"description": "The durable consumer's name"}},
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
    }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "contentType": "application/octet-stream",
        "payload": {"type": "string", "description": "The original message body, unchanged"},
        "headers": {
            "type": "object",
            "properties": {
                "Incidents-Dead-Letter-Reason": {"type": "string"},
                "Incidents-Original-Subject": {"type": "string"},
            },
        },
    }
    operations["receiveDeadLetter"] = {
        "action": "receive",
        "channel": {"$ref": "#/channels/deadLetter"},
        "messages": [{"$ref": "#/channels/deadLetter/messages/DeadLetter"}],
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Incident platform events",
            "version": f"{SCHEMA_VERSION}.0.0",
            "description": "CloudEvents 1.0 (structured JSON) published on NATS JetStream. Streams: "
            + ", ".join(f"{s.name} ({', '.join(s.subjects)})" for s in STREAMS)
            + ". Incident subjects end with the region code, so a subscription or a NATS permission "
            "can select regions (incidents.v1.incident.*.64); a classification correction of a post "
            f"without a region ends with {NO_REGION!r}.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:4222",
                "protocol": "nats",
                "description": "The embedded default. Every connection is authenticated (no anonymous user).",
                "security": [{"$ref": "#/components/securitySchemes/natsUser"}],
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": definitions,
            "messages": messages,
            "securitySchemes": {
                "natsUser": {
                    "type": "userPassword",
                    "description": "A NATS user and password. A region's subscriber gets its own with "
                    "`python -m incidents_common.natsauth region-credentials <code> --data-dir var` (README: Security "
                    "model): it may read only its region's subjects, through its named durable consumers, "
                    "and must connect with the inbox prefix `_INBOX_<user>` (e.g. `_INBOX_region64`).",
                }
            },
            "parameters": {"region": region_param, "regionOrNone": region_or_none_param},
        },
    }


def streams_document() -> list[dict[str, Any]]:
    return [
        {
            "name": s.name,
            "subjects": s.subjects,
            "description": s.description,
            "storage": "file",
            "max_age_seconds": s.max_age,
            "duplicate_window_seconds": s.duplicate_window,
        }
        for s in STREAMS
    ]


def shared_contract_files(root: Path) -> dict[Path, str]:
    return {
        root / "infra" / "asyncapi.json": dump_json(asyncapi_document()),
        root / "infra" / "nats" / "streams.json": dump_json(streams_document()),
    }
