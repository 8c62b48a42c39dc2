"""The launcher's ports: every server its own, and a service is ready only when its own process
answers on its port (a benchmark once gave the classifier the console's port: the classifier could
not bind it, was restarted over and over, and the console's /health made the launcher say READY)."""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from incidents_common import processes
from incidents_common.processes import free_port

ROOT = Path(__file__).resolve().parents[1]


def _launcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_local", ROOT / "scripts" / "run_local.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("run_local", module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def console_on_a_port() -> Iterator[int]:
    """An HTTP server whose /health answers 200 as the console does."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = json.dumps({"status": "ok", "service": "console"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def idle_process() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # noqa: S603
    yield process
    process.kill()
    process.wait()


def test_the_launcher_refuses_one_port_for_two_servers(tmp_path: Path) -> None:
    port = free_port()
    command = [
        sys.executable, str(ROOT / "scripts" / "run_local.py"), "--data-dir", str(tmp_path / "var"),
        "--nats-port", str(free_port()), "--gateway-port", str(free_port()), "--collector-port", str(free_port()),
        "--routing-port", str(free_port()), "--classifier-port", str(port), "--console-port", str(port),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"--classifier-port and --console-port are both {port}" in done.stderr
    assert not list((tmp_path / "var").rglob("*.log"))  # nothing was started


def test_a_service_is_not_ready_while_another_program_answers_on_its_port(
    console_on_a_port: int, idle_process: subprocess.Popen[bytes]
) -> None:
    launcher = _launcher()
    classifier = launcher.Service("classifier", "classifier", "CLASSIFIER_", console_on_a_port)
    with pytest.raises(
        TimeoutError, match=rf"port {console_on_a_port}, meant for classifier, is answered by 'console'"
    ):
        launcher.wait_healthy(classifier, idle_process, timeout=1.0)
    console = launcher.Service("console", "console", "CONSOLE_", console_on_a_port)
    launcher.wait_healthy(console, idle_process, timeout=5.0)  # the console itself is ready


def test_free_port_never_hands_out_a_port_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel may offer the same port to two probes in a row (its probe socket is closed)."""
    offered = iter([40001, 40001, 40001, 40002])

    class Probe:
        def __init__(self, *args: Any) -> None:
            self.port = next(offered)

        def __enter__(self) -> Probe:
            return self

        def __exit__(self, *args: Any) -> None:
            pass

        def bind(self, address: tuple[str, int]) -> None:
            pass

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(processes, "_HANDED_OUT", set())
    monkeypatch.setattr(socket, "socket", Probe)
    assert [free_port(), free_port()] == [40001, 40002]
