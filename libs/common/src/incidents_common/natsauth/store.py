"""The local credential store: `<data_dir>/secrets/nats/<user>.json` per user (0600) and the generated
`<data_dir>/nats/server.conf` (bcrypt hashes only)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from incidents_common.nats import inbox_prefix_of
from incidents_common.natsauth.config import server_config, user_entry
from incidents_common.natsauth.errors import BadRequest, NatsAuthError
from incidents_common.natsauth.permissions import (
    OPERATOR_USER,
    SERVICES,
    Permissions,
    check_prefix,
    check_region,
    operator_permissions,
    region_alerts_grant,
    region_corrections_grant,
    region_grant,
    region_permissions,
    region_user,
    service_permissions,
)
from incidents_common.regions import REGIONS

BCRYPT_ROUNDS = 11  # the cost `nats server passwd` uses; nats-server checks it on every connect


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)

    @property
    def inbox_prefix(self) -> str:
        return inbox_prefix_of(self.user)


@dataclass(frozen=True)
class StoredUser:
    user: str
    kind: str  # "service", "region" or "operator"
    password: str = field(repr=False)
    password_hash: str = field(repr=False)
    created_at: str
    rotated_at: str | None = None
    region: str | None = None
    stream_prefix: str = ""

    def permissions(self) -> Permissions:
        if self.kind == "service":
            return service_permissions(self.user, self.stream_prefix)
        if self.kind == "operator":
            return operator_permissions()
        return region_permissions(self.region or "")

    def public(self) -> dict[str, Any]:
        """What a client needs to connect (the password included), never the hash."""
        info: dict[str, Any] = {
            "user": self.user,
            "password": self.password,
            "kind": self.kind,
            "inbox_prefix": inbox_prefix_of(self.user),
        }
        if self.kind == "region" and self.region is not None:
            grant = region_grant(self.region)
            corrections = region_corrections_grant(self.region)
            alerts = region_alerts_grant(self.region)
            info |= {
                "region": self.region,
                "region_name": REGIONS[self.region].name,
                "stream": grant.stream,
                "durable": grant.durable,
                "filter_subject": grant.filter_subject,
                "corrections_durable": corrections.durable,
                "corrections_filter_subject": corrections.filter_subject,
                "alerts_durable": alerts.durable,
                "alerts_filter_subject": alerts.filter_subject,
            }
        if self.kind == "service":
            info["stream_prefix"] = self.stream_prefix
        return info | {"created_at": self.created_at, "rotated_at": self.rotated_at}


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _new_password() -> tuple[str, str]:
    import bcrypt

    password = secrets.token_urlsafe(24)
    return password, bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def _write_private(path: Path, text: str) -> None:
    """Write atomically, readable by the owner only (0600) from the first byte."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _private_dir(path: Path) -> Path:
    existed = path.exists()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not existed:
        path.chmod(0o700)
    return path


class CredentialStore:
    """`<data_dir>/secrets/nats/<user>.json` per user and the generated `<data_dir>/nats/server.conf`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.secrets_dir = self.data_dir / "secrets" / "nats"
        self.config_file = self.data_dir / "nats" / "server.conf"
        self.pid_file = self.data_dir / "nats" / "nats-server.pid"

    def path_of(self, user: str) -> Path:
        return self.secrets_dir / f"{user}.json"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One writer at a time (the launcher and the CLI may run together)."""
        _private_dir(self.data_dir / "secrets")
        _private_dir(self.secrets_dir)
        fd = os.open(self.secrets_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+") as handle:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
                yield
                return
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def load(self) -> dict[str, StoredUser]:
        users: dict[str, StoredUser] = {}
        if not self.secrets_dir.is_dir():
            return users
        for path in sorted(self.secrets_dir.glob("*.json")):
            try:
                raw = json.loads(path.read_text(encoding="utf-8"))
                record = StoredUser(
                    user=raw["user"],
                    kind=raw["kind"],
                    password=raw["password"],
                    password_hash=raw["password_hash"],
                    created_at=raw["created_at"],
                    rotated_at=raw.get("rotated_at"),
                    region=raw.get("region"),
                    stream_prefix=raw.get("stream_prefix", ""),
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise NatsAuthError(f"unreadable credentials file {path}: {exc!r}") from exc
            if record.kind not in ("service", "region", "operator") or path.stem != record.user:
                raise NatsAuthError(f"credentials file {path} does not describe user {path.stem!r}")
            users[record.user] = record
        return users

    def _save(self, record: StoredUser) -> StoredUser:
        data = {
            "user": record.user,
            "kind": record.kind,
            "password": record.password,
            "password_hash": record.password_hash,
            "created_at": record.created_at,
            "rotated_at": record.rotated_at,
            "region": record.region,
            "stream_prefix": record.stream_prefix,
        }
        _write_private(self.path_of(record.user), json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return record

    def ensure_services(self, stream_prefixes: Mapping[str, str] | None = None) -> dict[str, StoredUser]:
        """Every service has a user: existing ones are kept (their stream prefix follows the argument)."""
        prefixes = dict(stream_prefixes or {})
        users = self.load()
        for user in SERVICES:
            prefix = check_prefix(prefixes.get(user, ""))
            record = users.get(user)
            if record is None:
                password, hashed = _new_password()
                users[user] = self._save(StoredUser(user, "service", password, hashed, _now(), stream_prefix=prefix))
            elif record.stream_prefix != prefix:
                users[user] = self._save(_replace(record, stream_prefix=prefix))
        return users

    def ensure_operator(self) -> StoredUser:
        """The operator's user (dead letters), created on first use and reused afterwards."""
        record = self.load().get(OPERATOR_USER)
        if record is not None:
            return record
        password, hashed = _new_password()
        return self._save(StoredUser(OPERATOR_USER, "operator", password, hashed, _now()))

    def issue_region(self, code: str, *, rotate: bool = False) -> tuple[StoredUser, str]:
        """Issue region `code`'s subscriber user, or return the existing one (`rotate`: a new password)."""
        check_region(code)
        user = region_user(code)
        record = self.load().get(user)
        if record is not None and not rotate:
            return record, "existing"
        password, hashed = _new_password()
        if record is None:
            return self._save(StoredUser(user, "region", password, hashed, _now(), region=code)), "issued"
        return self._save(_replace(record, password=password, password_hash=hashed, rotated_at=_now())), "rotated"

    def rotate(self, user: str) -> StoredUser:
        record = self.load().get(user)
        if record is None:
            raise BadRequest(f"no user {user!r} in {self.secrets_dir} (see `list`)")
        password, hashed = _new_password()
        return self._save(_replace(record, password=password, password_hash=hashed, rotated_at=_now()))

    def write_server_config(self) -> Path:
        """Regenerate `<data_dir>/nats/server.conf` from every stored user (bcrypt hashes only)."""
        users = self.load()
        missing = [user for user in SERVICES if user not in users]
        if missing:
            raise NatsAuthError(f"service users {missing} are missing from {self.secrets_dir}")
        operators = [users[OPERATOR_USER]] if OPERATOR_USER in users else []
        ordered = (
            [users[user] for user in SERVICES]
            + operators
            + sorted((r for r in users.values() if r.kind == "region"), key=lambda r: r.user)
        )
        header = (
            "# Generated by incidents_common.natsauth from the credential store "
            f"{self.secrets_dir}: do not edit.\n"
            "# Regenerated by the launcher and by `python -m incidents_common.natsauth region-credentials`.\n"
            "# Passwords are bcrypt hashes; the plaintext ones stay in the store (mode 0600)."
        )
        entries = [user_entry(r.user, f'"{r.password_hash}"', r.permissions()) for r in ordered]
        _private_dir(self.config_file.parent)
        _write_private(self.config_file, server_config(header, entries, pid_file=self.pid_file))
        return self.config_file

    def running_server_pid(self) -> int | None:
        """The pid of a nats-server running with this store's config, if there is one."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        command = _command_line(pid)
        if command is None or "nats-server" not in command or str(self.config_file) not in command:
            return None  # a stale pid file (the pid may now belong to another process)
        return pid

    def reload_server(self) -> int | None:
        """Make a running nats-server from this data dir re-read its config (SIGHUP); its pid or None."""
        pid = self.running_server_pid()
        if pid is None:
            return None
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            return None
        return pid


def _replace(record: StoredUser, **changes: Any) -> StoredUser:
    from dataclasses import replace

    return replace(record, **changes)


def _command_line(pid: int) -> str | None:
    if Path("/proc/self/cmdline").exists():
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return None
    try:  # no /proc (macOS): ask ps
        result = subprocess.run(  # noqa: S603 - fixed argv
            ["ps", "-o", "command=", "-p", str(pid)],  # noqa: S607 - ps from PATH
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    return result.stdout.strip() or None
