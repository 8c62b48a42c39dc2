"""Starting the local nats-server processes: a port another process took between free_port() and the
server's bind is swapped for a fresh one, and any other failed start is reported at once with the
server's own words instead of a timeout."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from incidents_common.processes import NatsCluster, NatsServer, ProcessExited, free_port


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port some other process listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def reserved_port() -> Iterator[int]:
    """A loopback port another process has bound but does not accept on (nothing answers a connect)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_a_cluster_node_whose_monitor_port_was_taken_starts_on_fresh_ports(tmp_path: Path, taken_port: int) -> None:
    # nats-server opens its monitoring port first, so this node dies before its client port opens:
    # the start would otherwise wait out the 45 s for a client port that never comes.
    cluster = NatsCluster(tmp_path / "cluster", size=2, sync_interval=None)
    cluster.nodes[0] = replace(cluster.nodes[0], monitor_port=taken_port)
    with cluster:
        assert all(cluster.healthy(name) for name in cluster.names)
        assert cluster.nodes[0].monitor_port != taken_port


def test_a_server_whose_chosen_port_was_taken_starts_on_another(tmp_path: Path, reserved_port: int) -> None:
    server = NatsServer(tmp_path / "nats", jetstream=False)
    server.port = reserved_port  # as if another process took the port free_port() had chosen
    server.start()
    try:
        assert server.port != reserved_port
        with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
            assert sock.recv(4).startswith(b"INFO")
    finally:
        server.stop()


def test_a_server_on_a_port_it_was_given_does_not_move(tmp_path: Path, reserved_port: int) -> None:
    # A port the caller chose is part of what it promised others (a URL in a config): fail, don't move.
    server = NatsServer(tmp_path / "nats", port=reserved_port, jetstream=False)
    with pytest.raises(ProcessExited) as failed:
        server.start()
    assert failed.value.port_taken
    assert str(reserved_port) in failed.value.log


def test_a_failed_start_is_reported_at_once_with_the_servers_words(tmp_path: Path) -> None:
    config = tmp_path / "broken.conf"
    config.write_text("this is { not a config\n", encoding="utf-8")
    server = NatsServer(tmp_path / "nats", port=free_port(), config_file=config, jetstream=False)
    with pytest.raises(ProcessExited) as failed:  # not TimeoutError: it noticed the exit
        server.start()
    assert not failed.value.port_taken
    assert "broken.conf" in failed.value.log or "parse" in failed.value.log.lower()


def test_a_failure_is_read_from_its_own_output_not_an_earlier_one_in_the_same_log(
    tmp_path: Path, reserved_port: int
) -> None:
    log = tmp_path / "shared.log"
    with pytest.raises(ProcessExited) as first:
        NatsServer(tmp_path / "a", port=reserved_port, jetstream=False).start(log_file=log)
    assert first.value.port_taken
    config = tmp_path / "broken.conf"
    config.write_text("this is { not a config\n", encoding="utf-8")
    with pytest.raises(ProcessExited) as second:
        NatsServer(tmp_path / "b", port=free_port(), config_file=config, jetstream=False).start(log_file=log)
    assert not second.value.port_taken, second.value.log  # the log still holds the first failure
