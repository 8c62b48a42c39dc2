"""What routing's handlers take from the app besides the session and the caller (routing.access)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from incidents_common.app import app_state
from routing.config import Settings

# The Settings create_app was given (or read from the environment once).
SettingsDep = Annotated[Settings, Depends(app_state("settings", Settings))]
