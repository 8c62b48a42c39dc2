"""Typed request dependencies for what the app holds: its settings, database and upstream clients.

Handlers take these (`settings: SettingsDep`, `routing: RoutingDep` …) rather than reading
`request.app.state`, so what a handler uses is in its signature. The caller's identity and its
rate limit are auth.deps.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from api_gateway.config import Settings
from api_gateway.upstream import Classifier, Upstream
from incidents_common.app import app_state
from incidents_common.db import Database

SettingsDep = Annotated[Settings, Depends(app_state("settings", Settings))]
# The app's Database, for work in transactions of its own (SSE polls, a held reply kept although the
# request fails); a request's own transaction is incidents_common.app.SessionDep.
DatabaseDep = Annotated[Database, Depends(app_state("db", Database))]
RoutingDep = Annotated[Upstream, Depends(app_state("routing", Upstream))]
CollectorDep = Annotated[Upstream, Depends(app_state("collector", Upstream))]
ClassifierDep = Annotated[Classifier, Depends(app_state("classifier", Classifier))]
