"""SecretBox: Fernet through MultiFernet (first key encrypts, all decrypt), plaintext of an earlier
release read as it is, rotation, the generated key file, and the example-secret refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from incidents_common.secretbox import (
    ExampleSecretError,
    SecretBox,
    SecretBoxError,
    generate_key,
    is_example_secret,
    load_secret_box,
    refuse_example_secrets,
)


def test_seal_reveal_and_plaintext_passthrough() -> None:
    box = SecretBox([generate_key()])
    sealed = box.seal("vk1.a.token")
    assert sealed.startswith("fernet:") and "vk1.a.token" not in sealed
    assert sealed != box.seal("vk1.a.token")  # a fresh IV every time
    assert box.reveal(sealed) == "vk1.a.token"
    assert box.reveal("vk1.a.token") == "vk1.a.token"  # stored in plaintext by an earlier release


def test_rotation_first_key_encrypts_all_decrypt() -> None:
    old, new = generate_key(), generate_key()
    stored = SecretBox([old]).seal("s3cret")
    both = SecretBox([new, old])
    assert both.reveal(stored) == "s3cret"
    rotated = both.rotate(stored)
    assert SecretBox([new]).reveal(rotated) == "s3cret"
    with pytest.raises(SecretBoxError):
        SecretBox([old]).reveal(rotated)
    assert SecretBox([new]).reveal(both.rotate("plain")) == "plain"  # rotate seals plaintext too


def test_keys_from_the_setting_or_a_private_generated_file(tmp_path: Path) -> None:
    key_file = tmp_path / "data" / "svc-secret.keys"
    configured = load_secret_box(SecretStr(f" {generate_key()} , {generate_key()} "), key_file)
    assert configured.key_count == 2 and not key_file.exists()
    generated = load_secret_box("", key_file)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_secret_box(None, key_file).reveal(generated.seal("x")) == "x"  # reused, not regenerated
    with pytest.raises(SecretBoxError, match="not a Fernet key"):
        load_secret_box("not-a-key", key_file)


def test_example_secrets_are_refused_unless_the_local_launcher_runs() -> None:
    assert is_example_secret("demo-federal-key") and is_example_secret("change-me-to-32-random-bytes")
    assert is_example_secret(SecretStr("services-CHANGE-ME"))
    assert not is_example_secret("") and not is_example_secret("Zq8-real-random")
    named = {"GATEWAY_JWT_SECRET": "change-me-to-32-random-bytes", "GATEWAY_SECRET_KEYS": f"{generate_key()}"}
    with pytest.raises(ExampleSecretError, match="GATEWAY_JWT_SECRET") as refused:
        refuse_example_secrets(named, environ={})
    assert "change-me-to-32" not in str(refused.value) and "GATEWAY_SECRET_KEYS" not in str(refused.value)
    refuse_example_secrets(named, environ={"INCIDENTS_LOCAL_LAUNCHER": "1"})
    with pytest.raises(ExampleSecretError):
        refuse_example_secrets(named, environ={"INCIDENTS_LOCAL_LAUNCHER": "0"})


def test_secrets_at_rest_settings_name_the_service_prefixed_settings(tmp_path: Path) -> None:
    from typing import ClassVar

    from pydantic import Field

    from incidents_common.secretbox import SecretsAtRestSettings
    from incidents_common.settings import service_config

    class ProbeSettings(SecretsAtRestSettings):
        model_config = service_config("PROBE_")
        published_secrets: ClassVar[tuple[str, ...]] = ("api_token", "secret_keys")

        service_name: str = "probe"
        api_token: str = ""
        secret_keys: SecretStr = Field(default=SecretStr(""))
        data_dir: str = ""

    assert list(ProbeSettings.model_fields)[-3:] == ["api_token", "secret_keys", "data_dir"]  # where declared
    with pytest.raises(ExampleSecretError) as refused:
        ProbeSettings(api_token="change-me", nats_password=SecretStr("changeme")).check_secrets(environ={})
    assert "PROBE_API_TOKEN, PROBE_NATS_PASSWORD" in str(refused.value)
    settings = ProbeSettings(data_dir=str(tmp_path))
    settings.check_secrets(environ={})
    assert settings.secret_key_file() == tmp_path / "probe-secret.keys" and not settings.secret_key_file().exists()
    assert settings.secret_box() is settings.secret_box()  # loaded (here: generated) once
    with pytest.raises(SecretBoxError):
        ProbeSettings(secret_keys=SecretStr("not-a-key")).check_secrets(environ={})
