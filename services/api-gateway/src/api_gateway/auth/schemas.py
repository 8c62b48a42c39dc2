"""API models of credentials: OAuth2 tokens, clients, API keys and the caller itself."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api_gateway.auth.principal import Role
from api_gateway.schemas import EXAMPLE_TIME, Strict, example, example_of


# The RFC 6749 access token response: a token issued to a client, shown this once.
class AccessTokenCreated(BaseModel):
    model_config = example(access_token="eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…", token_type="Bearer", expires_in=900)  # noqa: S106 - an OpenAPI example, not a secret

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the OAuth2 token type name
    expires_in: int
    scope: str | None = None


class CredentialCreate(Strict):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"name": "Портал ЦУР Саратовской области", "role": "regional_admin", "regions": ["64"]}]
        },
    )

    name: str = Field(min_length=1, max_length=200)
    role: Role
    regions: list[str] = Field(default_factory=list, max_length=100)
    official_id: str | None = Field(default=None, max_length=64)


class ClientRead(BaseModel):
    model_config = example(
        client_id="cl_1a2b3c4d5e6f7a8b",
        name="Портал ЦУР Саратовской области",
        role="regional_admin",
        regions=["64"],
        official_id=None,
        active=True,
        created_at=EXAMPLE_TIME,
    )

    client_id: str
    name: str
    role: Role
    regions: list[str] | None
    official_id: str | None
    active: bool
    created_at: datetime


class ClientCreated(ClientRead):
    model_config = example(
        **example_of(ClientRead),
        client_secret="s3cr3t-shown-only-once",  # noqa: S106 - an OpenAPI example, not a secret
    )

    client_secret: str = Field(description="Shown once; only its hash is stored")


class KeyRead(BaseModel):
    model_config = example(
        key_id="key_0a1b2c3d4e5f",
        name="Мониторинг ЦУР 64",
        role="integration",
        regions=["64"],
        official_id=None,
        revoked=False,
        created_at=EXAMPLE_TIME,
    )

    key_id: str
    name: str
    role: Role
    regions: list[str] | None
    official_id: str | None
    revoked: bool
    created_at: datetime


class KeyCreated(KeyRead):
    model_config = example(
        **example_of(KeyRead),
        api_key="gwk_shown-only-once",
    )

    api_key: str = Field(description="Shown once; only its SHA-256 is stored")


# Who the caller is: GET /v1/me.
class PrincipalRead(BaseModel):
    model_config = example(subject="key:key_0a1b2c3d4e5f", name="Мониторинг ЦУР 64", role="integration", regions=["64"])

    subject: str
    name: str
    role: Role
    regions: list[str] | None = Field(description="null means every region")
    official_id: str | None = None
