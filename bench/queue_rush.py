"""A centre's rush at the queue, over HTTP: kiosks issue tickets while every window calls,
now and then transfers a visitor to another window, and finishes — all at once.

    python -m bench.queue_rush [--url URL] [--visitors 600] [--windows 27] [--kiosks 4]

Runs against a running intake (`make up`'s by default: `ONESTOP_INTAKE_URL` or `--url`),
with tokens signed by the JWT secret in `var/secrets.env`. It defines its own windows
R01…R27 (so the centre's own windows stay as they are), each shared by one or two
departments and serving one or two of the lines A–D; of those lines it defines only the
ones the centre lacks. It prints tickets issued/s, calls/s, p50/p99 latency per kind of
request, the errors, and whether what happened adds up: per-line numbers contiguous, every
visitor called once plus once per transfer and served once, the figures moved by exactly
what was done. Exit status 1 if anything failed.

`tests/integration/test_queue_rush.py` runs the same rush against a fresh intake and asserts
all that (there, numbering also starts at 001). Each actor is one asyncio task with its own
keep-alive connection; a window that finds nobody waiting waits until a ticket it calls is
issued (one idle window is woken per ticket) or a visitor is sent to it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from shared.auth import issue_token
from shared.settings import Settings

LINES = {
    "A": ("综合接待 · general reception", 0.40),
    "B": ("劳动社保 · wages and social security", 0.25),
    "C": ("征拆住建 · demolition, housing and property", 0.20),
    "D": ("法律服务 · legal aid and mediation", 0.15),
}
"""The lines visitors take tickets for, and the share of visitors each gets."""


PRIMARY = "ABCDA"
"""Window i's own line is PRIMARY[i % 5]: line A, the busiest, has two windows in five."""


@dataclass(frozen=True)
class Plan:
    visitors: int = 600
    windows: int = 27
    kiosks: int = 4
    transfer_share: float = 0.1
    """Of the visitors called the first time, the share sent on to another window."""
    seed: int = 7
    timeout: float = 120.0
    """The rush gives up (and says so) after this many seconds."""

    def layout(self) -> dict[str, tuple[list[str], list[str]]]:
        """Window code → (departments, lines): each line has several windows, two windows
        in three are shared by two departments, and half the windows also call line A."""
        windows = {}
        for i in range(self.windows):
            line = PRIMARY[i % len(PRIMARY)]
            lines = [line] if line == "A" or i % 2 else [line, "A"]
            departments = [f"unit-{2 * i + 1:02d}"] + ([f"unit-{2 * i + 2:02d}"] if i % 3 else [])
            windows[f"R{i + 1:02d}"] = (departments, lines)
        return windows


@dataclass
class Outcome:
    """What the rush did, as the kiosks and windows saw it, and what intake said after."""

    seconds: float = 0.0
    issued: dict[str, str] = field(default_factory=dict)
    """Ticket number → line, for every ticket a kiosk got."""
    calls: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    """Ticket number → the windows that called it, in order."""
    transfers: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    """Ticket number → the windows it was sent to."""
    served: Counter[str] = field(default_factory=Counter)
    nobody_waiting: int = 0
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    figures_before: dict[str, Any] = field(default_factory=dict)
    figures_after: dict[str, Any] = field(default_factory=dict)
    tickets_after: dict[str, dict[str, Any]] = field(default_factory=dict)
    gave_up: bool = False

    @property
    def foreign(self) -> list[str]:
        """Tickets the windows called that this rush did not issue (left from before it)."""
        return sorted(set(self.calls) - set(self.issued))

    def problems(self, *, from_one: bool) -> list[str]:
        """Everything that does not add up (besides `errors`); empty when the rush went
        right. With `from_one`, each line's numbers must also start at 001 (a day no one else
        issued tickets on)."""
        found = []
        if self.gave_up:
            found.append("the rush did not finish in time")
        by_line: dict[str, list[int]] = defaultdict(list)
        for number, line in self.issued.items():
            by_line[line].append(int(number[1:]))
        for line, numbers in sorted(by_line.items()):
            numbers.sort()
            first = 1 if from_one else numbers[0]
            if numbers != list(range(first, first + len(numbers))):
                found.append(f"line {line}: numbers not contiguous from {first:03d}")
        for number in self.issued:
            found += self._visit(number)
        for line in LINES:
            found += self._figures(line)
        return found

    def _visit(self, number: str) -> list[str]:
        """A visitor is called once, again at each window they are sent to, served once."""
        called, sent = self.calls.get(number, []), self.transfers.get(number, [])
        found = []
        if len(called) != 1 + len(sent) or called[1:] != sent:
            found.append(f"{number} called at {called}, sent to {sent}")
        if self.served[number] != 1:
            found.append(f"{number} served {self.served[number]}×")
        after = self.tickets_after.get(number, {})
        if after.get("state") != "served" or len(after.get("transfers", [])) != len(sent):
            found.append(f"{number} is {after.get('state')} on intake's board")
        return found

    def _figures(self, line: str) -> list[str]:
        """The line's figures moved by what the rush did, and nobody is left waiting."""
        mine = [n for n, at in self.issued.items() if at == line]
        did = {
            "issued": len(mine),
            "served": len(mine),
            "transfers": sum(len(self.transfers.get(n, [])) for n in mine),
        }
        moved = {k: self._figure(line, k, after=True) - self._figure(line, k) for k in did}
        found = []
        if moved != did:
            found.append(f"line {line}: the figures moved by {moved}, the rush did {did}")
        for key in ("waiting", "at_window"):
            if left := self._figure(line, key, after=True):
                found.append(f"line {line}: {left} {key} after the rush")
        return found

    def _figure(self, line: str, key: str, *, after: bool = False) -> int:
        figures = self.figures_after if after else self.figures_before
        return int(figures.get("lines", {}).get(line, {}).get(key) or 0)


class Rush:
    """The kiosks and windows of one rush, as asyncio tasks against one intake."""

    def __init__(self, url: str, settings: Settings, plan: Plan) -> None:
        self.url, self.settings, self.plan = url, settings, plan
        self.routing_url = settings.url_of("routing")
        self.windows = plan.layout()
        self.serving = {
            line: [code for code, (_, lines) in self.windows.items() if line in lines]
            for line in LINES
        }
        self.wake = {code: asyncio.Event() for code in self.windows}
        self.idle: set[str] = set()
        """Windows that may find nobody waiting, and then wait until woken."""
        self.outcome = Outcome()
        self.kiosks_left = plan.kiosks
        self.deadline = 0.0

    def client(self, user: str, role: str = "clerk") -> httpx.AsyncClient:
        token = issue_token(self.settings, user, role, user, ttl=timedelta(hours=1))
        return httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            limits=httpx.Limits(max_connections=1),
        )

    async def run(self) -> Outcome:
        async with self.client("rush-admin", "admin") as admin:
            await self.set_up(admin)
            self.outcome.figures_before = await self.read(admin, "/v1/queue/figures")
            kiosks = [self.client(f"kiosk-{k + 1}") for k in range(self.plan.kiosks)]
            windows = {code: self.client(f"window-{code}") for code in self.windows}
            clients = [*kiosks, *windows.values()]
            try:
                # every connection open before the clock starts
                await asyncio.gather(*(c.get("/health/live") for c in clients))
                begun = time.monotonic()
                self.deadline = begun + self.plan.timeout
                share, extra = divmod(self.plan.visitors, self.plan.kiosks)
                await asyncio.gather(
                    *(self.kiosk(k, c, share + (k < extra)) for k, c in enumerate(kiosks)),
                    *(self.window(code, i, windows[code]) for i, code in enumerate(windows)),
                )
                self.outcome.seconds = time.monotonic() - begun
            finally:
                await asyncio.gather(*(c.aclose() for c in clients))
            self.outcome.figures_after = await self.read(admin, "/v1/queue/figures")
            board = await self.read(admin, "/v1/queue")
            self.outcome.tickets_after = {t["number"]: t for t in board["tickets"]}
        return self.outcome

    async def set_up(self, admin: httpx.AsyncClient) -> None:
        """The rush's lines, units and windows, defined where a centre defines them — in
        routing's registry of the territory — and waited for until intake has heard them."""
        token = issue_token(self.settings, "rush-admin", "admin", ttl=timedelta(hours=1))
        async with httpx.AsyncClient(
            base_url=self.routing_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as routing:
            places = (await routing.get("/v1/places")).json()
            if not places:
                raise RuntimeError("the centre has no territory yet: import one first")
            known = {line["code"] for line in (await routing.get("/v1/lines")).json()}
            for line, (name, _) in LINES.items():
                if line not in known:
                    (await routing.put(f"/v1/lines/{line}", json={"name": name})).raise_for_status()
            units = {u for departments, _ in self.windows.values() for u in departments}
            for unit in sorted(units):
                body = {"name": f"窗口单位 {unit}", "place": places[0]["code"]}
                (await routing.put(f"/v1/departments/{unit}", json=body)).raise_for_status()
            for code, (departments, lines) in self.windows.items():
                body = {"departments": departments, "lines": lines}
                (await routing.put(f"/v1/windows/{code}", json=body)).raise_for_status()
        deadline = time.monotonic() + 180  # a loaded machine: the registry's events are queued
        while missing := set(self.windows) - set((await self.read(admin, "/v1/queue"))["windows"]):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"intake has not heard the rush's windows within 180 s: {sorted(missing)}"
                )
            await asyncio.sleep(0.2)

    @staticmethod
    async def read(client: httpx.AsyncClient, path: str) -> dict[str, Any]:
        answer = await client.get(path)
        answer.raise_for_status()
        return dict(answer.json())

    def over(self) -> bool:
        if time.monotonic() > self.deadline:
            self.outcome.gave_up = True
            return True
        issued, served = self.outcome.issued, self.outcome.served
        return self.kiosks_left == 0 and all(served[n] for n in issued)

    async def send(
        self, client: httpx.AsyncClient, kind: str, path: str, body: Any, *expected: int
    ) -> httpx.Response | None:
        """POST, timed; None (and an error noted) unless the status is one expected."""
        started = time.perf_counter()
        try:
            answer = await client.post(path, json=body)
        except httpx.HTTPError as error:
            self.outcome.errors.append(f"{kind} {path}: {type(error).__name__}: {error}")
            return None
        self.outcome.latency[kind].append(time.perf_counter() - started)
        if answer.status_code not in expected:
            self.outcome.errors.append(f"{kind} {path}: {answer.status_code} {answer.text[:300]}")
            return None
        return answer

    async def kiosk(self, k: int, client: httpx.AsyncClient, visitors: int) -> None:
        rng = random.Random(self.plan.seed * 1000 + k)
        codes, weights = list(LINES), [share for _, share in LINES.values()]
        for _ in range(visitors):
            if time.monotonic() > self.deadline:
                break
            line = rng.choices(codes, weights)[0]
            answer = await self.send(client, "issue", "/v1/queue/tickets", {"line": line}, 201)
            if answer is not None:
                self.outcome.issued[answer.json()["number"]] = line
                self.wake_one(line)
        self.kiosks_left -= 1
        self.wake_all()

    async def window(self, code: str, i: int, client: httpx.AsyncClient) -> None:
        rng = random.Random(self.plan.seed * 1000 + 100 + i)
        others = [c for c in self.windows if c != code]
        call = f"/v1/queue/windows/{code}/call"
        while not self.over():
            # idle from before the call: a ticket issued meanwhile may wake it
            self.wake[code].clear()
            self.idle.add(code)
            answer = await self.send(client, "call", call, None, 200, 204)
            if answer is None or answer.status_code == 204:
                self.outcome.nobody_waiting += answer is not None
                with contextlib.suppress(TimeoutError):  # bounded, in case an error hid one
                    await asyncio.wait_for(self.wake[code].wait(), 1.0)
                continue
            self.idle.discard(code)
            ticket = answer.json()
            number = ticket["number"]
            self.outcome.calls[number].append(code)
            if not ticket["transfers"] and rng.random() < self.plan.transfer_share:
                to = rng.choice(others)
                body = {"to_window": to, "reason": "另一窗口受理 · another window's matter"}
                path = f"/v1/queue/tickets/{number}/transfer"
                if await self.send(client, "transfer", path, body, 200) is not None:
                    self.outcome.transfers[number].append(to)
                    self.idle.discard(to)
                    self.wake[to].set()
                continue
            path = f"/v1/queue/tickets/{number}/finish"
            if await self.send(client, "finish", path, {"outcome": "served"}, 200) is not None:
                self.outcome.served[number] += 1
                if self.over():
                    self.wake_all()

    def wake_one(self, line: str) -> None:
        """A ticket for the line was issued: one idle window that calls the line looks up.
        (The busy ones call again anyway once their visitor is done.)"""
        for code in self.serving[line]:
            if code in self.idle:
                self.idle.discard(code)
                self.wake[code].set()
                return

    def wake_all(self) -> None:
        for event in self.wake.values():
            event.set()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def report(outcome: Outcome, plan: Plan, url: str, problems: list[str]) -> str:
    wall = outcome.seconds or 1e-9
    calls = sum(len(windows) for windows in outcome.calls.values())
    rows = [
        f"queue rush against {url}: {len(outcome.issued)} visitors, {plan.kiosks} kiosks, "
        f"{plan.windows} windows, in {outcome.seconds:.1f} s",
        f"  tickets issued  {len(outcome.issued):5}  {len(outcome.issued) / wall:7.1f}/s",
        f"  calls           {calls:5}  {calls / wall:7.1f}/s  "
        f"(and {outcome.nobody_waiting} with nobody waiting)",
        f"  transfers       {sum(len(to) for to in outcome.transfers.values()):5}",
        f"  served          {sum(outcome.served.values()):5}",
    ]
    for kind in ("issue", "call", "transfer", "finish"):
        seconds = outcome.latency.get(kind, [])
        if seconds:
            rows.append(
                f"  latency {kind:9} p50 {1000 * statistics.median(seconds):6.1f} ms   "
                f"p99 {1000 * percentile(seconds, 0.99):6.1f} ms   ({len(seconds)} requests)"
            )
    rows.append(f"  errors          {len(outcome.errors)}")
    rows += [f"    {e}" for e in outcome.errors[:20]]
    if outcome.foreign:
        rows.append(f"  left over from before the rush and served by it: {len(outcome.foreign)}")
    rows.append("  adds up: " + ("yes" if not problems else f"NO ({len(problems)} problems)"))
    rows += [f"    {p}" for p in problems[:20]]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    settings = Settings.load()
    p = argparse.ArgumentParser(
        prog="python -m bench.queue_rush",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = Plan()
    p.add_argument("--url", default=settings.url_of("intake"))
    p.add_argument("--visitors", type=int, default=d.visitors)
    p.add_argument("--windows", type=int, default=d.windows)
    p.add_argument("--kiosks", type=int, default=d.kiosks)
    p.add_argument("--seed", type=int, default=d.seed)
    args = p.parse_args(argv)
    plan = Plan(args.visitors, args.windows, args.kiosks, seed=args.seed)
    outcome = asyncio.run(Rush(args.url, settings, plan).run())
    problems = outcome.problems(from_one=False)
    print(report(outcome, plan, args.url, problems))
    return 1 if outcome.errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
