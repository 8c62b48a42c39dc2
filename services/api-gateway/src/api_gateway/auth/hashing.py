"""Secrets are never stored: client secrets as scrypt hashes, API keys as SHA-256 (they are 256-bit
random values, so a fast hash is safe and keeps per-request checks cheap)."""

from __future__ import annotations

import hashlib
import hmac
import os


def hash_secret(secret: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1, dklen=32)
    return hmac.compare_digest(digest.hex(), digest_hex)


def hash_key(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# The scrypt hash of a random secret nobody knows. An unknown client id is checked against it, so that
# it costs exactly what a known id costs (one scrypt) and timing does not tell which ids exist.
_DUMMY_SALT = "5ef484ec4e4ab9db23b05c6096f77b61"
_DUMMY_DIGEST = "7e0b8bb19641d1698b83cb044a942ac25af18b65c304abd4488b3fd134cee1f4"
DUMMY_SECRET_HASH = f"scrypt${_DUMMY_SALT}${_DUMMY_DIGEST}"
