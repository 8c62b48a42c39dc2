"""Console settings (env prefix CONSOLE_). The console holds no credentials of its own: every call to the
gateway carries the signed-in user's API key or access token."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from incidents_common.settings import service_config


class Settings(BaseSettings):
    model_config = service_config("CONSOLE_")

    service_name: str = Field(default="console", description="Names the logs and traces")
    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds (loopback by default)")
    port: int = Field(default=8010, description="HTTP port")
    gateway_url: str = Field(default="http://127.0.0.1:8000", description="Base URL of the api-gateway")
    gateway_timeout: float = Field(default=15.0, gt=0, description="Seconds to wait for one gateway answer")
    session_hours: float = Field(
        default=8.0, gt=0, description="A sign-in lasts this long without use (one shift); then sign in again"
    )
    cookie_secure: bool = Field(
        default=False,
        description="Send the session cookie over HTTPS only: set true whenever the console is served over TLS",
    )
    page_size: int = Field(default=50, ge=5, le=200, description="Incidents per page of the queue")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool = Field(default=True, description="JSON log lines with trace_id; false for plain text")
