"""Service identity: every call to an internal HTTP API says who makes it and, for the gateway, for whom.

Each service, and the operator's command line, holds its own Ed25519 private key; every service
trusts one JWKS file with all their public keys. A caller signs a short-lived JWT (joserfc,
algorithm Ed25519): `iss` = the calling identity (also the key id), `aud` = the service called,
`exp` a minute ahead. When the gateway acts for a user it has verified, the token also carries that
user (`usr`: subject, role, regions, official id), so the service called checks both who calls and
for whom, and never trusts a body field for either.

Why signed tokens and not mutual TLS: the services speak plain HTTP on 127.0.0.1 under the local
launcher and behind a platform's TLS in production; a token works the same in both, names the user
the gateway acts for (mTLS cannot), and needs no certificate authority. Why asymmetric keys: a
service that is broken into can mint tokens only as itself, not as the gateway or the operator.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OKPKey

from incidents_common.problems import Forbidden, Unauthorized

OPERATOR = "operator"
SERVICES = ("api-gateway", "collector", "classifier", "routing")
IDENTITIES = (*SERVICES, OPERATOR)
ALGORITHM = "Ed25519"
TRUSTED_FILE = "trusted.jwks"
SERVICE_TOKEN_TTL = 60
OPERATOR_TOKEN_TTL = 3600
MAX_TOKEN_TTL = 24 * 3600
IDENTITY_DIR_ENV = "INCIDENTS_IDENTITY_DIR"
DEFAULT_IDENTITY_DIR = Path("var") / "secrets" / "identity"
# Clock skew tolerated between services, seconds.
LEEWAY = 5


class IdentityError(RuntimeError):
    """Keys missing or unreadable: the service cannot authenticate anyone and must not start."""


@dataclass(frozen=True)
class ActingUser:
    """The user the gateway verified and acts for. `regions` None means every region (federal)."""

    subject: str
    role: str
    regions: frozenset[str] | None
    official_id: str | None = None

    def can_see(self, region_code: str) -> bool:
        return self.regions is None or region_code in self.regions

    def claims(self) -> dict[str, Any]:
        return {
            "sub": self.subject,
            "role": self.role,
            "regions": None if self.regions is None else sorted(self.regions),
            "official_id": self.official_id,
        }

    @classmethod
    def from_claims(cls, claims: Any) -> ActingUser:
        if not isinstance(claims, dict):
            raise Unauthorized("malformed user claim")
        regions = claims.get("regions")
        subject, role = claims.get("sub"), claims.get("role")
        if not isinstance(subject, str) or not isinstance(role, str):
            raise Unauthorized("malformed user claim")
        if regions is not None and not (isinstance(regions, list) and all(isinstance(r, str) for r in regions)):
            raise Unauthorized("malformed user claim")
        official_id = claims.get("official_id")
        return cls(
            subject=subject,
            role=role,
            regions=None if regions is None else frozenset(regions),
            official_id=official_id if isinstance(official_id, str) else None,
        )


@dataclass(frozen=True)
class Caller:
    """A verified caller of an internal API: the identity that signed, and the user it acts for."""

    identity: str
    user: ActingUser | None = None
    token_id: str = ""

    @property
    def is_operator(self) -> bool:
        return self.identity == OPERATOR and self.user is None

    @property
    def regions(self) -> frozenset[str] | None:
        """The regions this caller may touch; None means all (the operator, a federal user)."""
        return None if self.user is None else self.user.regions

    def can_see(self, region_code: str) -> bool:
        return self.user is None or self.user.can_see(region_code)

    @property
    def actor(self) -> str:
        """Who did it, for audit trails: the official, else the user, else the identity."""
        if self.user is not None:
            return self.user.official_id or self.user.subject
        return self.identity


# ---------------------------------------------------------------------------------------------
# Key files
# ---------------------------------------------------------------------------------------------


def identity_dir(configured: str | Path = "") -> Path:
    """The configured folder, else $INCIDENTS_IDENTITY_DIR, else var/secrets/identity."""
    if configured:
        return Path(configured)
    from_env = os.environ.get(IDENTITY_DIR_ENV, "")
    return Path(from_env) if from_env else DEFAULT_IDENTITY_DIR


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def init_identity_dir(directory: Path, names: Iterable[str] = IDENTITIES, *, rotate: Sequence[str] = ()) -> Path:
    """Create the missing private keys (and the named ones again with `rotate`), then rewrite trusted.jwks.

    Existing keys are kept, so a second start reuses them. Returns the trusted key file.
    """
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    for name in names:
        path = directory / f"{name}.jwk"
        if path.exists() and name not in rotate:
            continue
        key = OKPKey.generate_key("Ed25519", parameters={"kid": name, "alg": ALGORITHM})
        _write_private(path, json.dumps(key.as_dict(private=True)))
    public = []
    for path in sorted(directory.glob("*.jwk")):
        key = OKPKey.import_key(json.loads(path.read_text()))
        public.append(key.as_dict(private=False))
    trusted = directory / TRUSTED_FILE
    _write_private(trusted, json.dumps({"keys": public}, indent=1))
    os.chmod(trusted, 0o644)  # public keys only
    return trusted


class Identity:
    """One identity's private key (to sign) and the trusted public keys (to verify)."""

    def __init__(self, name: str, private_key: OKPKey | None, trusted: KeySet) -> None:
        self.name = name
        self.private_key = private_key
        self.trusted = trusted
        self.trusted_names = {str(k.kid) for k in trusted.keys}

    @classmethod
    def load(cls, name: str, directory: str | Path = "", *, need_private: bool = True) -> Identity:
        folder = identity_dir(directory)
        trusted_path = folder / TRUSTED_FILE
        private_path = folder / f"{name}.jwk"
        hint = f"create them with `python -m incidents_common.identity init {folder}` (make run does this)"
        try:
            trusted = KeySet.import_key_set(json.loads(trusted_path.read_text()))
        except FileNotFoundError:
            raise IdentityError(f"no trusted keys at {trusted_path}: {hint}") from None
        except (ValueError, JoseError) as exc:
            raise IdentityError(f"unreadable trusted keys at {trusted_path}: {exc}") from exc
        private: OKPKey | None = None
        if need_private:
            try:
                private = OKPKey.import_key(json.loads(private_path.read_text()))
            except FileNotFoundError:
                raise IdentityError(f"no private key for {name} at {private_path}: {hint}") from None
            except (ValueError, JoseError) as exc:
                raise IdentityError(f"unreadable private key at {private_path}: {exc}") from exc
        return cls(name, private, trusted)

    def mint(
        self, audience: str, *, user: ActingUser | None = None, ttl: int = SERVICE_TOKEN_TTL, now: float | None = None
    ) -> str:
        if self.private_key is None:
            raise IdentityError(f"{self.name} has no private key loaded")
        issued = int(now if now is not None else time.time())
        claims: dict[str, Any] = {
            "iss": self.name,
            "aud": audience,
            "iat": issued,
            "exp": issued + min(ttl, MAX_TOKEN_TTL),
            "jti": uuid.uuid4().hex,
        }
        if user is not None:
            claims["usr"] = user.claims()
        return jwt.encode({"alg": ALGORITHM, "kid": self.name}, claims, self.private_key, algorithms=[ALGORITHM])

    def verify(self, token: str, *, now: float | None = None) -> Caller:
        """Check signature, issuer, audience (this identity) and expiry; the caller it proves."""
        try:
            decoded = jwt.decode(token, self.trusted, algorithms=[ALGORITHM])
        except (JoseError, ValueError) as exc:
            raise Unauthorized(f"invalid service token: {exc.__class__.__name__}") from exc
        claims = decoded.claims
        kid = decoded.header.get("kid")
        issuer = claims.get("iss")
        # The key that verified is the one named by kid; the issuer must be that same identity.
        if not isinstance(issuer, str) or issuer != kid or issuer not in self.trusted_names:
            raise Unauthorized("the token's issuer does not match its signing key")
        if claims.get("aud") != self.name:
            raise Unauthorized(f"the token is for {claims.get('aud')!r}, not {self.name}")
        moment = now if now is not None else time.time()
        expires, issued = claims.get("exp"), claims.get("iat")
        if not isinstance(expires, int) or not isinstance(issued, int):
            raise Unauthorized("the token has no exp or iat")
        if expires < moment - LEEWAY or issued > moment + LEEWAY:
            raise Unauthorized("the token has expired or is not valid yet")
        if expires - issued > MAX_TOKEN_TTL:
            raise Unauthorized("the token lives longer than allowed")
        user = ActingUser.from_claims(claims["usr"]) if "usr" in claims else None
        return Caller(identity=issuer, user=user, token_id=str(claims.get("jti", "")))


# ---------------------------------------------------------------------------------------------
# FastAPI: the dependency that guards every internal route
# ---------------------------------------------------------------------------------------------

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ServiceToken",
    description=(
        "A short-lived service token (Ed25519 JWT) minted by a trusted identity for this service: "
        "`python -m incidents_common.identity token --for <service>` prints one for the operator"
    ),
)


def install_identity(app: Any, identity: Identity, allowed_callers: Iterable[str]) -> None:
    """Called from the service's start-up: from then on `require_caller` accepts these identities."""
    app.state.identity = identity
    app.state.allowed_callers = frozenset(allowed_callers)


async def require_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    """401 without a valid token for this service, 403 for an identity this service does not serve."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized(
            "missing service token: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="incidents-internal"'},
        )
    identity: Identity | None = getattr(request.app.state, "identity", None)
    if identity is None:
        raise Unauthorized("this service has not loaded its keys yet")
    try:
        caller = identity.verify(credentials.credentials)
    except Unauthorized as exc:
        exc.headers = {"WWW-Authenticate": 'Bearer realm="incidents-internal", error="invalid_token"'}
        raise
    if caller.identity not in request.app.state.allowed_callers:
        raise Forbidden(f"{caller.identity} may not call {identity.name}")
    request.state.caller = caller
    return caller


CallerDep = Annotated[Caller, Depends(require_caller)]
PROTECTED = [Depends(require_caller)]


# ---------------------------------------------------------------------------------------------
# Command line: create keys, print an operator token
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m incidents_common.identity",
        description="Service identities: create the key files, print a short-lived operator token.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create missing keys (and trusted.jwks) in a folder; existing keys are kept")
    init.add_argument("directory", type=Path, nargs="?", help=f"default: ${IDENTITY_DIR_ENV} or {DEFAULT_IDENTITY_DIR}")
    init.add_argument("--rotate", nargs="*", default=[], metavar="NAME", help="make new keys for these identities")
    token = sub.add_parser("token", help="print a token for calling one service's API as the operator")
    token.add_argument("--for", dest="audience", required=True, choices=SERVICES, help="the service to call")
    token.add_argument("--as", dest="name", default=OPERATOR, help="the identity that signs (default: operator)")
    token.add_argument("--ttl", type=int, default=OPERATOR_TOKEN_TTL, help=f"seconds (at most {MAX_TOKEN_TTL})")
    token.add_argument("--dir", type=Path, default=None, help=f"key folder (default: ${IDENTITY_DIR_ENV} or var/…)")
    args = parser.parse_args(argv)
    try:
        if args.command == "init":
            trusted = init_identity_dir(identity_dir(args.directory or ""), rotate=args.rotate)
            print(f"keys in {trusted.parent}; trusted public keys: {trusted}")  # noqa: T201 - the command line's output
            return 0
        if not 1 <= args.ttl <= MAX_TOKEN_TTL:
            parser.error(f"--ttl must be between 1 and {MAX_TOKEN_TTL}")
        identity = Identity.load(args.name, args.dir or "")
        print(identity.mint(args.audience, ttl=args.ttl))  # noqa: T201 - the command line's output
        return 0
    except IdentityError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - the command line's output
        return 2


if __name__ == "__main__":
    sys.exit(main())
