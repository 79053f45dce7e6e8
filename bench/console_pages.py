"""The console's page answer times: each main page fetched by a signed-in user, one after
another, on the data the stack holds (after `make bench`'s pipeline: thousands of cases).
Writes its section of docs/benchmarks.md (between its markers, so the pipeline's rewrite
of the rest keeps it).

    .venv/bin/python -m bench.console_pages [--rounds 30] [--write-docs]
"""

from __future__ import annotations

import argparse
import re
import time
from datetime import UTC, datetime

import httpx

from bench.common import DOC, percentile, say
from bench.host import machine_facts
from shared.auth import issue_token
from shared.settings import Settings

START, END = "<!-- console-pages -->", "<!-- /console-pages -->"
TARGET_MS = 300.0


def pages(client: httpx.Client, settings: Settings) -> list[tuple[str, str, str]]:
    """(what, role, path) for each main view, on a case the stack holds."""
    clerk = issue_token(settings, "bench", "clerk")
    listed = client.get("/cases", cookies={"onestop_session": clerk})
    found = re.search(r'href="/cases/([0-9a-f-]{36})"', listed.text)
    case = found[1] if found else None
    views = [
        ("window (queue board)", "clerk", "/window?window=W02"),
        ("registration form", "clerk", "/register"),
        ("case list", "clerk", "/cases"),
        ("inbox (a department)", "handler", "/inbox?state=all"),
        ("supervision ledger", "supervisor", "/ledger?state=running"),
        ("cases a leader holds", "leader", "/mine"),
        ("statistics (by department)", "auditor", "/statistics"),
        ("petitioner's page (empty)", "", "/p"),
    ]
    if case:
        views += [
            ("one case (three services)", "supervisor", f"/cases/{case}"),
            ("a case's timeline", "auditor", f"/cases/{case}/timeline"),
            ("registration slip with QR", "clerk", f"/cases/{case}/slip"),
        ]
    return views


def measure(settings: Settings, rounds: int) -> list[dict[str, object]]:
    base = f"http://127.0.0.1:{settings.console_port}"
    results = []
    with httpx.Client(base_url=base, timeout=30) as client:
        for what, role, path in pages(client, settings):
            cookies = {}
            if role:
                department = "ninghe-hrss" if role == "handler" else None
                cookies["onestop_session"] = issue_token(settings, "bench", role, department)
            client.get(path, cookies=cookies)  # warm
            times, statuses = [], set()
            for _ in range(rounds):
                t0 = time.perf_counter()
                answer = client.get(path, cookies=cookies)
                times.append(time.perf_counter() - t0)
                statuses.add(answer.status_code)
            row = {
                "page": what,
                "path": path.split("?")[0],
                "p50": percentile(times, 50) * 1000,
                "p95": percentile(times, 95) * 1000,
                "max": max(times) * 1000,
                "status": ",".join(str(s) for s in sorted(statuses)),
            }
            say(f"{what}: p50 {row['p50']:.0f} ms, p95 {row['p95']:.0f} ms ({row['status']})")
            results.append(row)
    return results


def section(settings: Settings, rows: list[dict[str, object]], rounds: int) -> str:
    facts = machine_facts(settings)
    lines = [
        START,
        "## The console's pages",
        "",
        f"_Written by `python -m bench.console_pages` on {datetime.now(UTC):%Y-%m-%d %H:%M} "
        f"UTC, on {facts['CPUs (nproc)']} CPUs ({facts['CPU model']}), {facts['Memory']}._",
        "",
        f"Each page fetched {rounds} times, one after another, by a signed-in user of the role "
        "that uses it, through the console (which calls the services' APIs with that user's "
        f"token). Target: {TARGET_MS:.0f} ms (issue 18). Measured here, never asserted in tests.",
        "",
        "| page | path | p50 ms | p95 ms | max ms | status | within target |",
        "| --- | --- | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        verdict = "yes" if float(r["p95"]) <= TARGET_MS else "NO"  # type: ignore[arg-type]
        lines.append(
            f"| {r['page']} | `{r['path']}` | {r['p50']:.0f} | {r['p95']:.0f} | "
            f"{r['max']:.0f} | {r['status']} | {verdict} |"
        )
    lines += ["", END]
    return "\n".join(lines)


def write(text: str) -> None:
    doc = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    if START in doc and END in doc:
        doc = doc[: doc.index(START)] + text + doc[doc.index(END) + len(END) :]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text + "\n"
    DOC.write_text(doc, encoding="utf-8")
    say(f"wrote the console's section of {DOC.name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    settings = Settings.load()
    rows = measure(settings, max(1, min(args.rounds, 500)))
    if args.write_docs:
        write(section(settings, rows, args.rounds))


if __name__ == "__main__":
    main()
