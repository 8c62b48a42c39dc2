"""Secrets at rest: values a service must store and later use (a source's VK token, a webhook's HMAC key)
are kept encrypted with Fernet (AES-128-CBC + HMAC-SHA256) through MultiFernet.

Keys: `<PREFIX>SECRET_KEYS` is a comma-separated list of Fernet keys; the first encrypts, every one
decrypts, so a new key is put first, `rotate` re-encrypts every stored value with it, and the old key
is then dropped. With the setting empty, one key is generated once into a 0600 file in the service's
data folder and reused (the pattern of the gateway's generated JWT key); that is for a single-machine
installation, where the key file and the database sit side by side, not for production.

A stored value is `fernet:<token>`. Anything without that prefix is a plaintext left by a release
that stored secrets unencrypted: `reveal` returns it as it is, so such a database keeps working, and
the service seals it (encrypts it in place) at start-up, on its next write, or with `rotate`.

A service that keeps secrets at rest (the collector, the gateway) bases its Settings on
`SecretsAtRestSettings`: the key file, its SecretBox and the start-up check of published examples.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import PrivateAttr, SecretStr

from incidents_common.settings import DATA_DIR, ServiceSettings

PREFIX = "fernet:"
LOCAL_LAUNCHER_ENV = "INCIDENTS_LOCAL_LAUNCHER"

# Values published in this repository as examples or placeholders (infra/example.env, READMEs, the
# local launcher's demo key). A service outside the local launcher refuses to start with any of them.
EXAMPLE_SECRETS = frozenset({"demo-federal-key", "change-me-to-32-random-bytes", "change-me", "changeme"})
PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "replace-me", "example-secret")


class SecretBoxError(RuntimeError):
    """A stored secret cannot be decrypted with the configured keys, or the keys are unusable."""


class ExampleSecretError(RuntimeError):
    """A secret setting holds a published example value: the service must not start with it."""


class SecretBox:
    """Encrypts and decrypts stored secrets with a list of Fernet keys (the first one encrypts)."""

    def __init__(self, keys: Iterable[str | bytes]) -> None:
        parsed = []
        for n, key in enumerate(keys, start=1):
            try:
                parsed.append(Fernet(key))
            except (ValueError, TypeError) as exc:
                raise SecretBoxError(
                    f"secret key #{n} is not a Fernet key (32 url-safe base64-encoded bytes); make one with "
                    "`python -m incidents_common.secretbox`"
                ) from exc
        if not parsed:
            raise SecretBoxError("no secret keys")
        self._fernet = MultiFernet(parsed)
        self.key_count = len(parsed)

    @staticmethod
    def is_sealed(stored: str) -> bool:
        return stored.startswith(PREFIX)

    def seal(self, value: str) -> str:
        """The stored form of a secret: always freshly encrypted with the first key."""
        return PREFIX + self._fernet.encrypt(value.encode()).decode()

    def reveal(self, stored: str) -> str:
        """The secret itself; a value without the prefix is a plaintext from an earlier release."""
        if not self.is_sealed(stored):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise SecretBoxError("a stored secret cannot be decrypted with any configured key") from exc

    def rotate(self, stored: str) -> str:
        """Re-encrypt with the first key (a plaintext is sealed); the result needs only that key."""
        if not self.is_sealed(stored):
            return self.seal(stored)
        try:
            return PREFIX + self._fernet.rotate(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise SecretBoxError("a stored secret cannot be decrypted with any configured key") from exc


def generate_key() -> str:
    return Fernet.generate_key().decode()


def parse_keys(value: str | SecretStr | None) -> list[str]:
    """Comma- (or newline-) separated keys; blanks ignored."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else (value or "")
    return [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]


def check_keys(configured: str | SecretStr | None) -> None:
    """SecretBoxError when a configured key is not a Fernet key (nothing configured is fine)."""
    keys = parse_keys(configured)
    if keys:
        SecretBox(keys)


def load_secret_box(configured: str | SecretStr | None, key_file: Path) -> SecretBox:
    """The configured keys, else the keys in `key_file`, else one key generated once into it (0600)."""
    keys = parse_keys(configured)
    if keys:
        return SecretBox(keys)
    if key_file.exists():
        keys = parse_keys(key_file.read_text())
        if not keys:
            raise SecretBoxError(f"{key_file} holds no key")
        return SecretBox(keys)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key()
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of the same service made it first: use theirs
        return load_secret_box(None, key_file)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return SecretBox([key])


def is_example_secret(value: str | SecretStr | None) -> bool:
    """Whether a secret equals a published example, or is a placeholder (`change-me…`)."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else (value or "")
    lowered = text.strip().lower()
    if not lowered:
        return False
    return lowered in EXAMPLE_SECRETS or any(marker in lowered for marker in PLACEHOLDER_MARKERS)


def local_launcher(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the local launcher (scripts/run_local.py) started this process."""
    return (os.environ if environ is None else environ).get(LOCAL_LAUNCHER_ENV, "") == "1"


def refuse_example_secrets(
    named: Mapping[str, str | SecretStr | None], *, environ: Mapping[str, str] | None = None
) -> None:
    """Raise ExampleSecretError naming (never showing) every setting that holds an example value,
    unless the local launcher set INCIDENTS_LOCAL_LAUNCHER=1."""
    if local_launcher(environ):
        return
    bad = []
    for name, value in named.items():
        values = parse_keys(value) if name.upper().endswith("SECRET_KEYS") else [value]
        if any(is_example_secret(v) for v in values):
            bad.append(name)
    if bad:
        raise ExampleSecretError(
            f"refusing to start: {', '.join(bad)} hold(s) an example or placeholder value from this repository "
            f"(infra/example.env, the README, the local launcher's demo key). Set real secrets, or leave them "
            f"empty where a generated one is allowed; only the local launcher may use the examples "
            f"({LOCAL_LAUNCHER_ENV}=1)."
        )


class SecretsAtRestSettings(ServiceSettings):
    """The settings of a service that keeps secrets encrypted at rest (the collector, the gateway): the
    key file, the SecretBox and the start-up check. Each subclass declares `secret_keys` (what its keys
    encrypt) and `data_dir` itself, where its configuration lists them, and names in `published_secrets`
    the settings that must not hold a published example value (`<PREFIX>NATS_PASSWORD` is always checked)."""

    if TYPE_CHECKING:  # declared by each subclass: fields declared here would move in docs/configuration.md
        secret_keys: SecretStr
        data_dir: str

    published_secrets: ClassVar[tuple[str, ...]] = ("secret_keys",)
    _secret_box: SecretBox | None = PrivateAttr(default=None)

    def data_folder(self) -> Path:
        """Where the generated keys live: `data_dir`, or var/."""
        return Path(self.data_dir) if self.data_dir else DATA_DIR

    def secret_key_file(self) -> Path:
        return self.data_folder() / f"{self.service_name}-secret.keys"

    def secret_box(self) -> SecretBox:
        """The secrets at rest: the keys are loaded (or generated) once per Settings."""
        if self._secret_box is None:
            self._secret_box = load_secret_box(self.secret_keys, self.secret_key_file())
        return self._secret_box

    def check_secrets(self, environ: Mapping[str, str] | None = None) -> None:
        """Start-up check: refuse (ExampleSecretError) secret settings that hold a value published in this
        repository (infra/example.env's `change-me…`, the demo key `demo-federal-key` …) unless the local
        launcher set INCIDENTS_LOCAL_LAUNCHER=1; then check the configured secret keys (SecretBoxError when
        one is not a Fernet key). No side effects: empty secret keys are generated at first use."""
        prefix = self.model_config.get("env_prefix") or ""
        named: dict[str, str | SecretStr | None] = {
            f"{prefix}{name.upper()}": getattr(self, name) for name in (*self.published_secrets, "nats_password")
        }
        refuse_example_secrets(named, environ=environ)
        check_keys(self.secret_keys)


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(
        prog="python -m incidents_common.secretbox",
        description="Print a new Fernet key for COLLECTOR_SECRET_KEYS / GATEWAY_SECRET_KEYS (prepend it to rotate).",
    ).parse_args()
    print(generate_key())  # noqa: T201 - a command-line helper
