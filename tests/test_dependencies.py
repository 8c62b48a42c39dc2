"""Every request dependency and endpoint of every service is a coroutine function.

FastAPI runs a plain `def` dependency or endpoint in its thread pool: a hop to a worker thread and
back for every request, which cost the collector's push endpoint more than its own work at small
batches. What a dependency does here (read app state, check a header, parse parameters) never blocks.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

SERVICES = {"collector": "collector", "classifier": "classifier", "routing": "routing", "api-gateway": "api_gateway"}


def service_app(package: str) -> FastAPI:
    main = importlib.import_module(f"{package}.main")
    config = importlib.import_module(f"{package}.config")
    if package == "console":
        return main.create_app(config.Settings())  # type: ignore[no-any-return]  # create_app is typed in its module
    app = main.create_app(config.Settings(nats_enabled=False, database_url="sqlite+aiosqlite://"))
    return app  # type: ignore[no-any-return]  # as above


def dependants(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from dependants(sub)


def runs_on_the_loop(call: Any) -> bool:
    """A coroutine or async generator function, or an object (a security scheme) whose __call__ is one."""
    method = getattr(call, "__call__", None)  # noqa: B004 - a callable object's __call__ is what FastAPI calls
    return any(check(f) for f in (call, method) for check in (inspect.iscoroutinefunction, inspect.isasyncgenfunction))


def route_dependants(app: FastAPI) -> Iterator[tuple[str, Dependant]]:
    """(path, dependant) of every API route, those of included routers too (FastAPI keeps an included
    router whole and resolves its routes' effective contexts, dependencies included, itself)."""
    for route in app.routes:
        if isinstance(route, APIRoute):
            yield route.path, route.dependant
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for context in contexts():
                yield context.path, context.dependant


@pytest.mark.parametrize("package", [*SERVICES.values(), "console"])
def test_no_dependency_or_endpoint_runs_in_the_thread_pool(package: str) -> None:
    app = service_app(package)
    seen = 0
    in_thread_pool = set()
    for path, route_dependant in route_dependants(app):
        for dependant in [route_dependant, *dependants(route_dependant)]:
            seen += 1
            if dependant.call is not None and not runs_on_the_loop(dependant.call):
                in_thread_pool.add(f"{path}: {getattr(dependant.call, '__qualname__', dependant.call)!r}")
    assert seen > 20  # the routers' routes are walked, not only the health checks
    assert not in_thread_pool, sorted(in_thread_pool)
