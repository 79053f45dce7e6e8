"""The load generator: distinct, valid registrations sent by keep-alive clients, closed
loop or paced."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass

import orjson

from bench.common import base_url
from bench.wire import HTTPFailure, KeepAlive
from shared.settings import Settings

COVERED = (  # (category, location) pairs the seeded dispatch catalogue assigns
    ("labour-wages", ("ninghe", "lutai", "jinxiu")),
    ("social-security", ("ninghe", "qiaobei", "xinhua")),
    ("property-management", ("ninghe", "lutai", "yuhe")),
    ("urban-management", ("ninghe", "qiaobei", "changhong")),
    ("environment", ("ninghe", "fengtai", "xiaozhuang")),
    ("labour-wages", ("qiaocheng", "huaihua", "tangling")),
    ("housing-demolition", ("qiaocheng", "gucheng", "gucheng-village")),
)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "建国秀英志强丽华明军海燕文静红梅德胜玉兰春生桂芳"
CHANNELS = ("visit", "letter", "phone", "online")
DESCRIPTION = (
    "本人于今年三月起在该单位务工，双方口头约定月工资六千元，按月发放。自八月起单位以资金周转困难为由"
    "拖欠工资，至今累计三个月未发放，共计一万八千元。多次到单位协商无果，负责人拒不见面，电话也无人接听。"
    "同批务工人员共十二人均有类似情况，请求有关部门依法督促单位尽快支付拖欠工资，并依法处理。"
)


def registration_bodies(n: int, seed: int, people: str = "") -> list[bytes]:
    """Distinct, valid registrations (~700 bytes each) that the catalogue assigns: the same
    for one `seed`, but for their petitioners' phone numbers, drawn for `people` too — a run
    that passes its own registers people who never came before, as most petitioners are
    (with the same numbers every run, each run added one more case to the same petitioners
    on a kept store: no two runs did the same work)."""
    rng = random.Random(seed)
    phones = random.Random(f"{seed}/{people}")
    bodies = []
    for i in range(n):
        category, (_, _, community) = COVERED[i % len(COVERED)]
        name = rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, 2))
        bodies.append(
            orjson.dumps(
                {
                    "channel": CHANNELS[i % len(CHANNELS)],
                    "petitioner": {
                        "name": name,
                        "phone": f"1{phones.choice('3456789')}{phones.randrange(10**9):09d}",
                    },
                    "subject": f"压测事项 {seed}-{i}：拖欠工资",
                    "description": DESCRIPTION,
                    "category": category,
                    "location": {"place": community},  # a place code of the demo territory
                    # the bench repeats places and categories: each one is a distinct matter
                    "duplicate_decision": {"action": "new", "reason": "a distinct matter"},
                }
            )
        )
    return bodies


@dataclass
class Outcome:
    status: int | str  # HTTP status, or the exception class name
    case_id: str | None
    sent: float  # monotonic: when it was due (paced) or actually sent (closed loop)
    answered: float
    started: float = 0.0  # monotonic: when it actually went out on a connection


class Registrar:
    """`clients` keep-alive connections to intake, driven from one asyncio event loop.

    Each is a `bench.wire.KeepAlive`: the generator shares the services' 2 cores, and
    httpx cost ~2 ms of CPU per request here (one `AsyncClient` per connection; ~5 ms with
    one client sharing a pool), where this one costs ~0.2 ms.
    """

    def __init__(self, settings: Settings, token: str, clients: int) -> None:
        self.clients = clients
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.pool = [KeepAlive(base_url(settings, "intake"), headers) for _ in range(clients)]
        self.idle: asyncio.Queue[KeepAlive] = asyncio.Queue()
        for client in self.pool:
            self.idle.put_nowait(client)

    async def warm(self) -> None:
        """Open every connection before the clock starts."""
        await asyncio.gather(*(c.get("/health/live") for c in self.pool), return_exceptions=True)

    @staticmethod
    async def register_on(client: KeepAlive, body: bytes, due: float | None = None) -> Outcome:
        started = time.monotonic()
        sent = due if due is not None else started
        try:
            status, answer = await client.post("/v1/cases", body)
        except HTTPFailure as error:
            return Outcome(str(error), None, sent, time.monotonic(), started)
        answered = time.monotonic()
        case_id = None
        if status == 201:
            try:
                case_id = str(orjson.loads(answer)["case_id"])
            except (ValueError, KeyError, TypeError):
                return Outcome("201-without-case_id", None, sent, answered, started)
        return Outcome(status, case_id, sent, answered, started)

    async def closed_loop(self, bodies: list[bytes], seconds: float | None) -> list[Outcome]:
        """Each client sends, waits for the answer, sends again: until the bodies run out or
        `seconds` have passed."""
        outcomes: list[Outcome] = []
        it = iter(bodies)
        end = time.monotonic() + seconds if seconds else float("inf")

        async def run(client: KeepAlive) -> None:
            while time.monotonic() < end:
                body = next(it, None)
                if body is None:
                    return
                outcomes.append(await self.register_on(client, body))

        await asyncio.gather(*(run(c) for c in self.pool))
        return outcomes

    async def paced(self, bodies: list[bytes], rate: float) -> list[Outcome]:
        """Open loop: request i is due at start + i/rate whatever happened to the others; it
        waits only for a free connection. Its latency counts from when it was due, so a stall
        is not hidden (no coordinated omission)."""

        async def one(body: bytes, due: float) -> Outcome:
            client = await self.idle.get()
            try:
                return await self.register_on(client, body, due)
            finally:
                self.idle.put_nowait(client)

        start = time.monotonic() + 0.05
        tasks = []
        for i, body in enumerate(bodies):
            due = start + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body, due)))
        return list(await asyncio.gather(*tasks))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.pool), return_exceptions=True)


def tally(outcomes: list[Outcome]) -> tuple[int, Counter[str]]:
    ok = sum(1 for o in outcomes if o.status == 201 and o.case_id)
    errors = Counter(str(o.status) for o in outcomes if not (o.status == 201 and o.case_id))
    return ok, errors


def error_text(errors: Counter[str]) -> str:
    return ", ".join(f"{n}× {k}" for k, n in errors.most_common()) if errors else "none"
