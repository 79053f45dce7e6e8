"""A lean HTTP/1.1 keep-alive connection for the bench's load generator.

The load generator runs on the same 2 cores as the stack it measures, so every millisecond of
its CPU is taken from the services. httpx spends 1.5–2.7 ms of CPU per request here; this
connection writes a prepared request and reads one `Content-Length` or chunked answer with
asyncio streams, at a fraction of that (both are measured side by side with
`python -m bench.wire`). It speaks only what the bench needs: one request at a time
on one connection, reconnecting when the server closes it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import time
from urllib.parse import urlsplit


class HTTPFailure(Exception):
    """The connection broke or the answer was not HTTP/1.1 the bench understands."""


class KeepAlive:
    def __init__(self, base_url: str, headers: dict[str, str], timeout: float = 30.0) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or not url.hostname or not url.port:
            raise ValueError(f"need http://host:port, got {base_url!r}")
        self.host, self.port, self.timeout = url.hostname, url.port, timeout
        self._head = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
        self._host_line = f"Host: {url.hostname}:{url.port}\r\n".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """`headers` are this request's own (an `Idempotency-Key`), beside the connection's."""
        own = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode() if headers else b""
        request = b"".join(
            (
                f"POST {path} HTTP/1.1\r\n".encode(),
                self._host_line,
                self._head,
                own,
                b"Content-Length: %d\r\n\r\n" % len(body),
                body,
            )
        )
        return await self._exchange(request)

    async def get(self, path: str) -> tuple[int, bytes]:
        return await self._exchange(
            b"".join((f"GET {path} HTTP/1.1\r\n".encode(), self._host_line, self._head, b"\r\n"))
        )

    async def _exchange(self, request: bytes) -> tuple[int, bytes]:
        try:
            return await asyncio.wait_for(self._send(request), self.timeout)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            await self.close()
            raise HTTPFailure(f"{type(error).__name__}: {error}") from error
        except TimeoutError as error:
            await self.close()
            raise HTTPFailure(f"no answer within {self.timeout:.0f} s") from error

    async def _send(self, request: bytes) -> tuple[int, bytes]:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, _, header_block = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise HTTPFailure(f"not an HTTP/1.x status line: {status_line[:80]!r}")
        headers = {}
        for line in header_block.split(b"\r\n"):
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        if b"content-length" in headers:
            body = await reader.readexactly(int(headers[b"content-length"]))
        elif headers.get(b"transfer-encoding") == b"chunked":
            body = await self._chunked(reader)
        else:
            raise HTTPFailure("an answer with neither Content-Length nor chunked encoding")
        if headers.get(b"connection") == b"close":
            await self.close()
        return int(parts[1]), body

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from our services
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _compare(url: str, path: str, requests: int, connections: int) -> None:
    """CPU per request of this connection and of httpx against the same GET."""
    import httpx

    async def lean() -> None:
        pool = [KeepAlive(url, {}) for _ in range(connections)]

        async def run(c: KeepAlive) -> None:
            for _ in range(requests // connections):
                await c.get(path)

        await asyncio.gather(*(run(c) for c in pool))
        await asyncio.gather(*(c.close() for c in pool))

    async def stock() -> None:
        pool = [
            httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=1))
            for _ in range(connections)
        ]

        async def run(c: httpx.AsyncClient) -> None:
            for _ in range(requests // connections):
                await c.get(path)

        await asyncio.gather(*(run(c) for c in pool))
        await asyncio.gather(*(c.aclose() for c in pool))

    for name, client in (("bench.wire", lean), ("httpx.AsyncClient", stock)):
        cpu, wall = _cpu(), time.monotonic()
        await client()
        cpu, wall = _cpu() - cpu, time.monotonic() - wall
        print(
            f"{name:18} {requests} GET {path} on {connections} connections: "
            f"{1000 * cpu / requests:.2f} ms CPU per request, {requests / wall:,.0f}/s"
        )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=_compare.__doc__)
    p.add_argument("--url", default="http://127.0.0.1:8001")
    p.add_argument("--path", default="/health/live")
    p.add_argument("--requests", type=int, default=6_400)
    p.add_argument("--connections", type=int, default=32)
    a = p.parse_args()
    asyncio.run(_compare(a.url, a.path, a.requests, a.connections))
