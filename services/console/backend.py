"""The services as the console reaches them: their public HTTP APIs, called with the
signed-in user's own token, so every page shows exactly what the visibility policy lets that
user see — the console reads no database and decides nothing about who sees what."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from shared.settings import SERVICES, Settings

Service = Literal["intake", "routing", "followup"]


@dataclass(frozen=True)
class Answer:
    """A service's answer: its status and JSON body (a problem+json document when refused)."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        if isinstance(self.body, dict):
            return str(self.body.get("detail") or self.body.get("title") or "")
        return ""

    @property
    def errors(self) -> list[dict[str, str]]:
        """The fields a 422 names (`errors[].field`), each with its message."""
        if isinstance(self.body, dict) and isinstance(self.body.get("errors"), list):
            return [e for e in self.body["errors"] if isinstance(e, dict)]
        return []

    def field_errors(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for error in self.errors:
            found.setdefault(str(error.get("field", "")), str(error.get("message", "")))
        return found


UNREACHABLE = 503


class Services:
    """One HTTP client per service, kept for the console's life (connections are reused)."""

    def __init__(
        self,
        settings: Settings,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.clients = {
            name: httpx.AsyncClient(
                base_url=settings.url_of(name),
                transport=(transports or {}).get(name),
                timeout=timeout,
            )
            for name in SERVICES
        }

    async def call(
        self,
        service: Service,
        method: str,
        path: str,
        token: str | None,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        client_address: str | None = None,
    ) -> Answer:
        """One request; a service that cannot be reached is a 503 answer, never an error."""
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if client_address:
            # the petitioner's own address, so follow-up limits wrong codes per petitioner
            headers["X-Forwarded-For"] = client_address
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = await self.clients[service].request(
                method, path, json=json, params=query, headers=headers
            )
        except httpx.HTTPError as error:
            return Answer(UNREACHABLE, {"detail": f"{service}: {type(error).__name__}"})
        body: Any = None
        if "json" in response.headers.get("content-type", ""):
            try:
                body = response.json()
            except ValueError:
                body = None
        return Answer(response.status_code, body, dict(response.headers))

    async def get(self, service: Service, path: str, token: str | None, **params: Any) -> Answer:
        return await self.call(service, "GET", path, token, params=params)

    async def post(
        self, service: Service, path: str, token: str | None, body: Any = None, **kw: Any
    ) -> Answer:
        return await self.call(service, "POST", path, token, json=body if body else {}, **kw)

    async def many(self, *calls: Any) -> list[Answer]:
        """Several calls at once (a page reads from several services)."""
        return list(await asyncio.gather(*calls))

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()
