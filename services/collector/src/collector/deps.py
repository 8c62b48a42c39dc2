"""Typed FastAPI dependencies: the service's Settings and the app's Ingestor, for handlers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from collector.config import Settings
from collector.ingest.ingestor import Ingestor
from incidents_common.app import app_state

SettingsDep = Annotated[Settings, Depends(app_state("settings", Settings))]
# Ingest runs its own transactions (SQLite writers serialised, unique-key races retried): see Ingestor.
IngestorDep = Annotated[Ingestor, Depends(app_state("ingestor", Ingestor))]
