"""Run the whole system on its embedded default: a local nats-server with JetStream, the four services
on SQLite files under var/, the operator console in the browser, and the demo posts. Ctrl-C stops
everything; a second start keeps the data.

    python scripts/run_local.py [--data-dir var] [--no-demo]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "libs" / "common" / "src"))

from incidents_common.identity import IDENTITY_DIR_ENV, Identity, init_identity_dir  # noqa: E402
from incidents_common.natsauth import LocalNatsAuth, prepare_local_nats  # noqa: E402
from incidents_common.processes import NatsServer, port_in_use  # noqa: E402
from incidents_common.settings import SERVER_KEEP_ALIVE_SECONDS  # noqa: E402

DEMO_POSTS = ROOT / "services" / "collector" / "src" / "collector" / "data" / "demo_posts.jsonl"


@dataclass(frozen=True)
class Service:
    name: str
    package: str
    prefix: str
    port: int


def services(args: argparse.Namespace) -> list[Service]:
    # Start order: consumers before the producers that feed them.
    return [
        Service("api-gateway", "api_gateway", "GATEWAY_", args.gateway_port),
        Service("routing", "routing", "ROUTING_", args.routing_port),
        Service("classifier", "classifier", "CLASSIFIER_", args.classifier_port),
        Service("collector", "collector", "COLLECTOR_", args.collector_port),
    ]


def console_service(args: argparse.Namespace) -> Service:
    # Not an event service: no NATS user, no database; it calls the gateway with the user's own key.
    return Service("console", "console", "CONSOLE_", args.console_port)


def console_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env["CONSOLE_GATEWAY_URL"] = f"http://127.0.0.1:{args.gateway_port}"
    env["CONSOLE_PORT"] = str(args.console_port)
    env.setdefault("CONSOLE_LOG_JSON", "true")
    return env


def service_env(
    service: Service,
    args: argparse.Namespace,
    nats_url: str,
    data_dir: Path,
    nats_auth: LocalNatsAuth | None = None,
) -> dict[str, str]:
    env = dict(os.environ)
    p = service.prefix
    env.setdefault(f"{p}DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / (service.name + '.db')}")
    env[f"{p}NATS_URL"] = nats_url
    if nats_auth is not None:  # <PREFIX>NATS_USER / <PREFIX>NATS_PASSWORD: the service's own NATS user
        env.update(nats_auth.service_env(service.name, p))
    env[f"{p}PORT"] = str(service.port)
    env[f"{p}LOG_JSON"] = env.get(f"{p}LOG_JSON", "true")
    env["GATEWAY_ROUTING_URL"] = f"http://127.0.0.1:{args.routing_port}"
    env["GATEWAY_COLLECTOR_URL"] = f"http://127.0.0.1:{args.collector_port}"
    env["GATEWAY_CLASSIFIER_URL"] = f"http://127.0.0.1:{args.classifier_port}"
    env.setdefault("GATEWAY_DEMO_API_KEY", args.demo_key)
    env.setdefault("GATEWAY_DATA_DIR", str(data_dir))
    env.setdefault("COLLECTOR_DATA_DIR", str(data_dir))  # where its generated encryption key lives
    # Each service reads its own private key and the trusted public keys from here.
    env[IDENTITY_DIR_ENV] = str(identity_folder(data_dir))
    # The demo key and the generated secrets are for this launcher only; services refuse them elsewhere.
    env["INCIDENTS_LOCAL_LAUNCHER"] = "1"
    return env


class Supervised:
    """One service's process: started, restarted with back-off when it dies, stopped with SIGINT.

    One crashed service must not take every region's intake down, so the launcher restarts it
    (1 s, 2 s, 4 s … at most 30 s; the delay resets after a minute of uptime) and says so.
    """

    BACKOFF_MAX = 30.0
    STABLE_AFTER = 60.0

    def __init__(self, service: Service, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.service = service
        self.command = command
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.restarts = 0
        self.next_start: float | None = None
        self.delay = 1.0

    def start(self) -> None:
        with open(self.log_path, "ab") as log_file:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv
                self.command, cwd=ROOT, env=self.env, stdout=log_file, stderr=log_file
            )
        self.started_at = time.monotonic()
        self.next_start = None

    def watch(self) -> None:
        """Called every half second: notice a death, schedule the restart, restart when due."""
        now = time.monotonic()
        if self.next_start is not None:
            if now >= self.next_start:
                self.restarts += 1
                print(f"{self.service.name}: restarting (restart #{self.restarts})", flush=True)
                self.start()
            return
        if self.process is None or self.process.poll() is None:
            return
        if now - self.started_at > self.STABLE_AFTER:
            self.delay = 1.0
        print(
            f"{self.service.name} exited with code {self.process.returncode}; restarting in {self.delay:.0f} s "
            f"(see {self.log_path})",
            flush=True,
        )
        self.next_start = now + self.delay
        self.delay = min(self.delay * 2, self.BACKOFF_MAX)

    def interrupt(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)

    def wait(self, timeout: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()


def wait_healthy(
    service: Service, process: subprocess.Popen[bytes], timeout: float = 60.0, *, reports_as: str | None = None
) -> None:
    """Wait until the service's /health answers as the service (`reports_as`: the name it gives, by
    default its own): another program on the port answers 200 too, and the service may be failing
    to bind it, restarted over and over."""
    expected = reports_as or service.name
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{service.port}/health"
    stranger = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{service.name} exited with code {process.returncode}; see its log")
        try:
            response = httpx.get(url, timeout=1.0)
        except httpx.HTTPError:
            response = None
        if response is not None and response.status_code == 200:
            try:
                answered = response.json().get("service")
            except (ValueError, AttributeError):
                answered = None
            if answered == expected:
                return
            stranger = answered or "something that is no service of ours"
        time.sleep(0.2)
    if stranger is not None:
        raise TimeoutError(f"port {service.port}, meant for {service.name}, is answered by {stranger!r}")
    raise TimeoutError(f"{service.name} did not answer {url} within {timeout}s")


def identity_folder(data_dir: Path) -> Path:
    return data_dir / "secrets" / "identity"


def load_demo(collector_port: int, path: Path, data_dir: Path) -> str:
    body = path.read_bytes()
    token = Identity.load("operator", identity_folder(data_dir)).mint("collector")
    response = httpx.post(
        f"http://127.0.0.1:{collector_port}/v1/posts/import",
        content=body,
        headers={"Content-Type": "application/x-ndjson", "Authorization": f"Bearer {token}"},
        timeout=60.0,
    )
    response.raise_for_status()
    return response.text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var", help="where databases, logs and JetStream live")
    parser.add_argument("--nats-port", type=int, default=4222)
    parser.add_argument("--gateway-port", type=int, default=8000)
    parser.add_argument("--collector-port", type=int, default=8001)
    parser.add_argument("--classifier-port", type=int, default=8002)
    parser.add_argument("--routing-port", type=int, default=8003)
    parser.add_argument("--console-port", type=int, default=8010, help="the operator console in the browser")
    parser.add_argument("--no-demo", action="store_true", help="do not load the demo posts")
    parser.add_argument("--demo-key", default="demo-federal-key", help="API key of the demo federal user")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir: Path = args.data_dir.resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    children: list[Supervised] = []
    # NATS users: one per service, generated under <data-dir>/secrets/nats on the first start and reused;
    # the server config (bcrypt hashes only) makes nats-server write its pid where the natsauth CLI finds it.
    prefixes = {s.name: os.environ.get(f"{s.prefix}STREAM_PREFIX", "") for s in services(args)}
    nats_auth = prepare_local_nats(data_dir, stream_prefixes=prefixes)
    nats = NatsServer(data_dir / "jetstream", port=args.nats_port, config_file=nats_auth.config_file)
    stopping = False
    ready = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        if not ready:
            raise KeyboardInterrupt  # still starting: abandon the start-up at once

    signal.signal(signal.SIGTERM, stop)
    # Also when started in the background, where a shell makes the process ignore SIGINT.
    signal.signal(signal.SIGINT, stop)
    ports = {
        "--nats-port": args.nats_port,
        "--gateway-port": args.gateway_port,
        "--collector-port": args.collector_port,
        "--classifier-port": args.classifier_port,
        "--routing-port": args.routing_port,
        "--console-port": args.console_port,
    }
    shared = {port: [flag for flag, p in ports.items() if p == port] for port in ports.values()}
    twice = {port: flags for port, flags in shared.items() if len(flags) > 1}
    if twice:
        clashes = "; ".join(f"{' and '.join(flags)} are both {port}" for port, flags in twice.items())
        print(f"error: every server needs its own port: {clashes}", file=sys.stderr)
        return 2
    busy = [port for port in ports.values() if port_in_use(port)]
    if busy:
        print(f"error: port(s) {busy} on 127.0.0.1 are in use; is the system already running?", file=sys.stderr)
        return 1
    try:
        # Service keys: made on the first start, reused afterwards.
        init_identity_dir(identity_folder(data_dir))
        print(f"starting nats-server with JetStream on 127.0.0.1:{args.nats_port} …", flush=True)
        nats.start(log_file=logs / "nats-server.log")
        for service in services(args):
            command = [
                sys.executable, "-m", "uvicorn", "--factory", f"{service.package}.main:create_app",
                "--host", "127.0.0.1", "--port", str(service.port), "--no-access-log",
                "--timeout-keep-alive", str(SERVER_KEEP_ALIVE_SECONDS),
            ]  # fmt: skip
            env = service_env(service, args, nats.url, data_dir, nats_auth)
            child = Supervised(service, command, env, logs / f"{service.name}.log")
            child.start()
            children.append(child)
        console = console_service(args)
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "console.main:create_app",
            "--host", "127.0.0.1", "--port", str(console.port), "--no-access-log",
            "--timeout-keep-alive", str(SERVER_KEEP_ALIVE_SECONDS),
        ]  # fmt: skip
        children.append(Supervised(console, command, console_env(args), logs / "console.log"))
        children[-1].start()
        for child in children:
            assert child.process is not None
            name = child.env.get(f"{child.service.prefix}SERVICE_NAME", child.service.name)
            wait_healthy(child.service, child.process, reports_as=name)
            page = "/" if child.service.name == "console" else "/docs"
            print(f"  {child.service.name:<12} http://127.0.0.1:{child.service.port}{page}", flush=True)
        if not args.no_demo and DEMO_POSTS.exists():
            print(f"loading demo posts: {load_demo(args.collector_port, DEMO_POSTS, data_dir)}", flush=True)
        key = os.environ.get("GATEWAY_DEMO_API_KEY", args.demo_key)
        print(
            "\nREADY. The operator console: http://127.0.0.1:{3}/ — sign in with the API key {1}\n"
            "The API: http://127.0.0.1:{0}/docs — try:\n"
            '  curl -H "X-API-Key: {1}" http://127.0.0.1:{0}/v1/incidents\n'
            "The collector, classifier and routing APIs take a service token; print one for the operator:\n"
            "  make -s token SERVICE=collector    (or: .venv/bin/python -m incidents_common.identity token"
            " --for collector --dir {2})\n"
            f"Logs: {logs}. Ctrl-C stops everything.".format(
                args.gateway_port, key, identity_folder(data_dir), args.console_port
            ),
            flush=True,
        )
        print(
            "NATS: every service logs in as its own user; a region's subscriber credentials (other government\n"
            f"systems): .venv/bin/python -m incidents_common.natsauth region-credentials <code> --data-dir {data_dir}",
            flush=True,
        )
        ready = True
        while not stopping:
            if nats.process is not None and nats.process.poll() is not None:
                # The broker too: the services reconnect by themselves once it is back.
                print(f"nats-server exited with code {nats.process.returncode}; nats-server: restarting", flush=True)
                nats.start(log_file=logs / "nats-server.log")
            for child in children:
                child.watch()
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except (RuntimeError, TimeoutError, OSError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("stopping …", flush=True)
        for child in reversed(children):
            child.interrupt()
        for child in reversed(children):
            child.wait(timeout=15)
        nats.stop()
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
