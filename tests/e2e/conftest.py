"""The three services as real processes, for the end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.auth import issue_token
from shared.settings import SERVICES, Settings
from tests.conftest import fresh
from tests.territory import SEED

ROOT = Path(__file__).resolve().parents[2]


class Stack:
    """The three services started as `onestop serve <service>` processes."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings = settings
        self.logs = logs
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {
            **os.environ,
            "ONESTOP_PG_DBNAME": settings.pg_dbname,
            "ONESTOP_TOPIC_PREFIX": settings.topic_prefix,
            "ONESTOP_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            **{f"ONESTOP_{s.upper()}_PORT": str(settings.port_of(s)) for s in SERVICES},
            "ONESTOP_CONSOLE_PORT": str(settings.console_port),
            "ONESTOP_CLOCK_FILE": str(logs / "clock"),  # follow-up's drill clock
            "ONESTOP_SCHEDULER_SECONDS": "0.2",
        }
        self.clock_file = logs / "clock"

    def url(self, service: str) -> str:
        port = self.settings.console_port if service == "console" else None
        return f"http://127.0.0.1:{port}" if port else self.settings.url_of(service)  # type: ignore[arg-type]

    def start(self, service: str) -> None:
        """Starts a service (or the console) and waits until it says it is ready."""
        log = open(self.logs / f"{service}.log", "ab")  # noqa: SIM115 — closed with the process
        self.processes[service] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", "serve", service],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"{self.url(service)}/health/ready"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.processes[service].poll() is not None:
                pytest.fail(
                    f"{service} exited: {(self.logs / f'{service}.log').read_text()[-3000:]}"
                )
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        pytest.fail(f"{service} not ready in 60 s")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `onestop <args>` against this stack; fails the test if it fails."""
        done = subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done

    def kill(self, service: str) -> None:
        """No goodbye: the process dies as in a power cut."""
        process = self.processes.pop(service)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def stack(infra: Settings, tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(fresh(infra), tmp_path)
    try:
        for service in SERVICES:
            stack.start(service)
        stack.cli("territory", "import", str(SEED))  # as `make up` does on first start
        yield stack
    finally:
        stack.stop_all()


def headers(settings: Settings, role: str = "clerk") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, 'alice', role, 'window-1')}"}


def wait_for(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {timeout:.0f} s")


def as_user(settings: Settings, role: str, department: str | None = None, user: str = "alice"):
    return {"Authorization": f"Bearer {issue_token(settings, user, role, department)}"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Lets a fixture know whether its test failed (the browser tests then keep what the
    page looked like)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"report_{report.when}", report)
