"""Typed request dependencies for what the app holds: its settings, database and upstream clients.

Handlers take these (`settings: SettingsDep`, `routing: RoutingDep` …) rather than reading
`request.app.state`, so what a handler uses is in its signature. The caller's identity and its
rate limit are auth.deps.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api_gateway.config import Settings
from api_gateway.upstream import Classifier, Upstream
from incidents_common.db import Database


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def database_of(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def routing_of(request: Request) -> Upstream:
    routing: Upstream = request.app.state.routing
    return routing


def collector_of(request: Request) -> Upstream:
    collector: Upstream = request.app.state.collector
    return collector


def classifier_of(request: Request) -> Classifier:
    classifier: Classifier = request.app.state.classifier
    return classifier


SettingsDep = Annotated[Settings, Depends(settings_of)]
# The app's Database, for work in transactions of its own (SSE polls, a held reply kept although the
# request fails); a request's own transaction is incidents_common.app.SessionDep.
DatabaseDep = Annotated[Database, Depends(database_of)]
RoutingDep = Annotated[Upstream, Depends(routing_of)]
CollectorDep = Annotated[Upstream, Depends(collector_of)]
ClassifierDep = Annotated[Classifier, Depends(classifier_of)]
