"""A PostgreSQL on this host is reached through its Unix socket; any other over TCP."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import Settings


@pytest.fixture
def listening(tmp_path: Path) -> Iterator[Path]:
    """A directory with a Unix socket where PostgreSQL on port 5499 keeps its own."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(tmp_path / ".s.PGSQL.5499"))
    yield tmp_path
    server.close()


def settings(**values: object) -> Settings:
    return Settings.model_validate({"pg_port": 5499, **values})


def test_the_socket_of_the_port_is_used_when_the_server_is_on_this_host(listening: Path) -> None:
    for host in ("127.0.0.1", "localhost", "::1"):
        assert settings(pg_host=host, pg_socket_dir=str(listening)).pg_address() == str(listening)


def test_tcp_when_there_is_no_socket_for_the_port(listening: Path, tmp_path: Path) -> None:
    assert settings(pg_socket_dir=str(listening), pg_port=5498).pg_address() == "127.0.0.1"
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / ".s.PGSQL.5499").write_text("not a socket")
    assert settings(pg_socket_dir=str(tmp_path / "plain")).pg_address() == "127.0.0.1"


def test_a_server_on_another_host_is_reached_over_tcp_even_beside_a_local_socket(
    listening: Path,
) -> None:
    remote = settings(pg_host="db.example.internal", pg_socket_dir=str(listening))
    assert remote.pg_address() == "db.example.internal"


def test_the_socket_is_looked_for_where_the_managed_server_keeps_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ONESTOP_RUN_DIR", str(tmp_path))
    monkeypatch.delenv("ONESTOP_PG_SOCKET_DIR", raising=False)  # the scripts name it
    assert Settings().pg_socket_dir == str(tmp_path / "postgres")
