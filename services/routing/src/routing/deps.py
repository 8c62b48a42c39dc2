"""What routing's handlers take from the app besides the session and the caller (routing.access)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from routing.config import Settings


def settings_of(request: Request) -> Settings:
    """The Settings create_app was given (or read from the environment once)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(settings_of)]
