"""Fixtures of the gateway tests; the helpers live in api_gateway.testing."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from api_gateway.testing import Gateway, gateway_settings, running


@pytest.fixture
def make_gateway(tmp_path: Path) -> Callable[..., contextlib.AbstractAsyncContextManager[Gateway]]:
    def factory(**overrides: Any) -> contextlib.AbstractAsyncContextManager[Gateway]:
        return running(gateway_settings(tmp_path, **overrides))

    return factory


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[Gateway]:
    async with running(gateway_settings(tmp_path)) as gateway:
        yield gateway
