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
