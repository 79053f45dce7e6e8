"""While PostgreSQL is unreachable a request is refused at once with a 503 to try again —
not held for the ten retries eventsourcing would make — nothing half-done is written, and
the service recovers by itself when the database is back.

The database is made unreachable by a TCP relay between the service and PostgreSQL that
the test closes, dropping every connection, as a network partition or a stopped server
would."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.intake.api import router as intake_router
from services.intake.bootstrap import build_application
from shared.auth import issue_token
from shared.service import Runtime, create_api
from shared.settings import Settings
from tests.conftest import fresh
from tests.territory import seeded
from tests.unit.test_api import EXAMPLE

pytestmark = pytest.mark.integration


class Relay:
    """Forwards TCP connections from a local port to PostgreSQL until cut."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Every connection dropped; new ones refused at once."""
        self.open = False
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.sockets.clear()

    def mend(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def relay(infra: Settings) -> Iterator[Relay]:
    relay = Relay(infra.pg_host, infra.pg_port)
    yield relay
    relay.close()


def test_an_unreachable_database_is_a_prompt_503_and_the_service_recovers_by_itself(
    infra: Settings, relay: Relay
):
    settings = fresh(infra).model_copy(update={"pg_host": "127.0.0.1", "pg_port": relay.port})
    api = create_api(
        lambda: Runtime("intake", settings, seeded(build_application(settings))),
        settings,
        title="t",
        description="d",
        routers=[intake_router],
    )
    token = issue_token(settings, "alice", "clerk")
    second = {
        **EXAMPLE,
        "subject": "停水三天",
        "duplicate_decision": {"action": "new", "reason": "a different matter"},
    }
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(api) as client:
        before = client.post("/v1/cases", json=EXAMPLE, headers=headers)
        assert before.status_code == 201, before.text

        relay.cut()
        started = time.monotonic()
        refused = client.post(
            "/v1/cases",
            json=second,
            headers={**headers, "Idempotency-Key": (key := str(uuid4()))},
        )
        waited = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert int(refused.headers["Retry-After"]) > 0
        # eventsourcing's ten retries of a pool timeout took ~22 s; one timeout is 2 s
        assert waited < 10, f"the 503 took {waited:.1f} s"

        relay.mend()
        deadline = time.monotonic() + 30
        while True:  # the client retries with the same key, as told
            again = client.post(
                "/v1/cases",
                json=second,
                headers={**headers, "Idempotency-Key": key},
            )
            if again.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert again.status_code == 201, again.text
        listed = client.get("/v1/cases", headers=headers).json()
        assert sorted(c["subject"] for c in listed["cases"]) == sorted(
            [EXAMPLE["subject"], "停水三天"]
        )
