"""Gateway settings (env prefix GATEWAY_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from incidents_common.settings import DATA_DIR, ServiceSettings, service_config


class Settings(ServiceSettings):
    model_config = service_config("GATEWAY_")

    service_name: str = "api-gateway"
    port: int = 8000

    routing_url: str = Field(default="http://127.0.0.1:8003", description="Base URL of the routing service")
    collector_url: str = Field(default="http://127.0.0.1:8001", description="Base URL of the collector (Open311 POST)")
    upstream_connect_timeout: float = Field(default=1.0, description="Seconds to connect to routing/collector")
    upstream_timeout: float = Field(default=5.0, description="Seconds for a whole upstream call")
    upstream_retries: int = Field(default=2, description="Extra attempts on connect errors / 502-504 (bounded)")

    jwt_secret: str = Field(
        default="",
        description="HS256 signing key for access tokens; empty = generated once into <data_dir>/api-gateway-jwt.key",
    )
    jwt_issuer: str = Field(default="incidents-api-gateway", description="`iss` and `aud` of issued tokens")
    token_ttl_seconds: int = Field(default=900, description="Lifetime of an OAuth2 access token")
    data_dir: str = Field(default="", description="Where the generated signing key lives; empty = var/")
    demo_api_key: str = Field(
        default="", description="When non-empty, a federal-role API key with exactly this value is ensured at startup"
    )

    rate_limit_per_minute: int = Field(default=600, description="Requests per client per minute (token bucket)")
    rate_limit_burst: int = Field(default=100, description="Bucket size: requests a client may send at once")
    cors_origins: list[str] = Field(default_factory=list, description="Portal origins allowed by CORS (JSON list)")
    max_body_bytes: int = Field(default=256 * 1024, description="Largest request body")

    sse_poll_interval: float = Field(default=1.0, description="Seconds between SSE polls of the event log")
    sse_ping_seconds: int = Field(default=15, description="SSE keep-alive comment interval")
    sse_recheck_seconds: float = Field(
        default=30.0, description="How often an open SSE stream re-checks that its credential is still valid"
    )
    webhooks_enabled: bool = Field(default=True, description="Run the webhook dispatcher")
    webhook_poll_interval: float = Field(default=1.0, description="Seconds between webhook dispatcher passes")
    webhook_max_attempts: int = Field(default=6, description="Delivery attempts before a delivery is marked failed")
    webhook_backoff_base: float = Field(default=2.0, description="Back-off before retry n is base * 2**(n-1) seconds")
    webhook_timeout: float = Field(default=5.0, description="Seconds for one webhook POST")

    rating_prior_weight: float = Field(
        default=10.0, description="m in the Bayesian rating: incidents' worth of weight given to the national mean"
    )

    def jwt_key_file(self) -> Path:
        return (Path(self.data_dir) if self.data_dir else DATA_DIR) / f"{self.service_name}-jwt.key"
