"""Typed FastAPI dependencies: the service's Settings and the app's Ingestor, for handlers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from collector.config import Settings
from collector.ingest.ingestor import Ingestor


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def ingestor_of(request: Request) -> Ingestor:
    ingestor: Ingestor = request.app.state.ingestor
    return ingestor


SettingsDep = Annotated[Settings, Depends(settings_of)]
# Ingest runs its own transactions (SQLite writers serialised, unique-key races retried): see Ingestor.
IngestorDep = Annotated[Ingestor, Depends(ingestor_of)]
