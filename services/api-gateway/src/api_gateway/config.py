"""Gateway settings (env prefix GATEWAY_)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from incidents_common.secretbox import SecretsAtRestSettings
from incidents_common.settings import service_config


class Settings(SecretsAtRestSettings):
    model_config = service_config("GATEWAY_")
    published_secrets: ClassVar[tuple[str, ...]] = ("jwt_secret", "secret_keys", "demo_api_key")

    service_name: str = "api-gateway"
    port: int = 8000

    routing_url: str = Field(default="http://127.0.0.1:8003", description="Base URL of the routing service")
    collector_url: str = Field(default="http://127.0.0.1:8001", description="Base URL of the collector (Open311 POST)")
    classifier_url: str = Field(
        default="http://127.0.0.1:8002",
        description="Base URL of the classifier: an Open311 POST asks it which region the text names; "
        "replies are scored by it before they go out",
    )
    reply_quality_threshold: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="A reply or interim answer scored below this (1 − the probability of an отписка) is held",
    )
    reply_quality_thresholds: dict[str, float] = Field(
        default_factory=dict, description='Per-region thresholds, JSON: {"64": 0.6}; others use the one above'
    )
    upstream_connect_timeout: float = Field(default=1.0, description="Seconds to connect to routing/collector")
    upstream_timeout: float = Field(default=5.0, description="Seconds for a whole upstream call")
    upstream_retries: int = Field(default=2, description="Extra attempts on connect errors / 502-504 (bounded)")

    jwt_secret: SecretStr = Field(
        default=SecretStr(""),
        description="HS256 signing key for access tokens; empty = generated once into <data_dir>/api-gateway-jwt.key",
    )
    jwt_issuer: str = Field(default="incidents-api-gateway", description="`iss` and `aud` of issued tokens")
    token_ttl_seconds: int = Field(default=900, description="Lifetime of an OAuth2 access token")
    data_dir: str = Field(default="", description="Where the generated signing and secret keys live; empty = var/")
    secret_keys: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "Comma-separated Fernet keys that encrypt webhook secrets in the database; the first encrypts, all "
            "decrypt (`python -m api_gateway rotate` re-encrypts with the first). Empty = one key generated once "
            "into <data_dir>/api-gateway-secret.keys"
        ),
    )
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
        default=30.0,
        gt=0,
        description=(
            "How often an open SSE stream re-checks its credential: it ends when the credential is revoked or its "
            "role or regions change (and at once when its access token expires)"
        ),
    )
    webhooks_enabled: bool = Field(default=True, description="Run the webhook dispatcher")
    webhook_poll_interval: float = Field(default=1.0, description="Seconds between webhook dispatcher passes")
    webhook_max_attempts: int = Field(default=6, description="Delivery attempts before a delivery is marked failed")
    webhook_backoff_base: float = Field(default=2.0, description="Back-off before retry n is base * 2**(n-1) seconds")
    webhook_timeout: float = Field(default=5.0, description="Seconds for one webhook POST")
    webhook_allowed_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "JSON list of hosts (names or addresses) webhooks may target although they are not public: "
            "loopback, private, link-local, single-label or .local/.internal names are refused otherwise"
        ),
    )

    rating_prior_weight: float = Field(
        default=10.0, description="m in the Bayesian rating: incidents' worth of weight given to the national mean"
    )

    def jwt_key_file(self) -> Path:
        return self.data_folder() / f"{self.service_name}-jwt.key"
