"""Settings shared by every service; each service subclasses with its own env prefix (ROUTING_ …)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from incidents_common.streams import MAX_REPLICAS, StreamSettings, StreamSpec, configured_streams

DATA_DIR = Path("var")

# How long an idle HTTP connection stays open. A client that reuses a connection just as the server
# closes it gets no answer at all (httpx: ReadError), and a POST cannot safely be sent again; the
# defaults of uvicorn and httpx are both 5 s, which races. Our servers keep idle connections as long as
# nginx does, longer than common clients keep theirs (httpx 5 s, aiohttp 15 s); our own clients drop
# theirs before uvicorn's default, so they are safe even with a server started without this setting.
SERVER_KEEP_ALIVE_SECONDS = 75
CLIENT_KEEP_ALIVE_SECONDS = 4.0


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set `model_config = service_config("ROUTING_")`."""

    model_config = SettingsConfigDict(env_prefix="INCIDENTS_", extra="ignore")

    service_name: str = Field(default="service", description="Names the SQLite file, logs and traces")
    database_url: str = Field(
        default="",
        description="SQLAlchemy async URL; empty means the embedded SQLite file var/<service>.db",
    )
    nats_url: str = Field(default="nats://127.0.0.1:4222", description="NATS server URL")
    nats_enabled: bool = Field(default=True, description="Connect to NATS (off only in unit tests)")
    nats_user: str = Field(default="", description="NATS user of this service (empty: connect without credentials)")
    nats_password: SecretStr = Field(default=SecretStr(""), description="Password of the NATS user")
    allowed_callers: list[str] = Field(
        default_factory=lambda: ["operator", "api-gateway"],
        description="Identities whose service tokens this service's API accepts (JSON list)",
    )
    identity_dir: str = Field(
        default="",
        description=(
            "Folder with this service's private key <service_name>.jwk and the trusted public keys trusted.jwks; "
            "empty: $INCIDENTS_IDENTITY_DIR, else var/secrets/identity"
        ),
    )
    stream_prefix: str = Field(default="", description="Prefix for this service's durable consumer names")
    host: str = Field(default="127.0.0.1", description="Interface the HTTP server binds (loopback by default)")
    port: int = Field(default=8000, description="HTTP port")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool = Field(default=True, description="JSON log lines with trace_id; false for plain text")
    max_body_bytes: int = Field(default=10 * 1024 * 1024, description="Largest request body")
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        description=(
            "Bearer token Prometheus presents to GET /metrics; empty: only the operator's service token "
            "opens it (docs/observability.md)"
        ),
    )
    # A batch's fixed costs (its transaction, the rows its decisions load, a relay pass, a collection
    # of what survived it) are spread over its events: in bench/pipeline.py 1,000 instead of 500 raised
    # posts/s by 5-9 % on both databases, for about 20 MB more peak RSS per service. Batches
    # fill only under load: at a trickle each stage still hands on what it has after fetch_timeout.
    consumer_batch: int = Field(default=1000, ge=1, description="Messages fetched per pull (at most)")
    max_deliver: int = Field(default=5, description="Deliveries before a message is dead-lettered")
    outbox_batch: int = Field(default=1000, ge=1, description="Outbox rows published per relay pass")

    # --- JetStream streams: replicas, storage and limits (incidents_common.streams; docs/operations-cluster.md) ---
    # ensure_streams creates a missing stream with these and only ever raises an existing one.
    stream_replicas: int = Field(
        default=1,
        ge=1,
        le=MAX_REPLICAS,
        description="Replicas of every stream: 1 on a single nats-server, 3 on a 3-node cluster (see `streams`)",
    )
    streams: dict[str, StreamSettings] = Field(
        default_factory=dict,
        description=(
            "Per-stream settings as JSON, over `stream_replicas` and the defaults of streams.py, e.g. "
            '{"POSTS": {"replicas": 3, "storage": "file", "max_age": 1209600, "max_bytes": 10737418240, '
            '"max_msgs": -1, "duplicate_window": 600}} (seconds; -1 or max_age 0: no limit). An existing '
            "stream is only ever raised, never lowered, and keeps its storage"
        ),
    )

    @model_validator(mode="after")
    def _streams_are_consistent(self) -> ServiceSettings:
        self.stream_specs()  # unknown stream names, a duplicate window longer than max_age: fail at start
        return self

    def stream_specs(self) -> tuple[StreamSpec, ...]:
        """The streams as this service's configuration wants them (for `ensure_streams`)."""
        return configured_streams(self.streams, replicas=self.stream_replicas)

    # --- end of the stream settings ---

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{DATA_DIR / (self.service_name + '.db')}"


def service_config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", env_file=".env", env_file_encoding="utf-8")
