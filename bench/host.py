"""The machine under the bench: CPU each process used, what the machine is, memory."""

from __future__ import annotations

import glob
import os
import platform
import re
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from shared.settings import SERVICES, Settings, run_dir
from shared.store import conninfo


def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, with_children: bool = True) -> float:
    """CPU seconds a process used (user + system, and reaped children's if asked)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / _clock_ticks()


def _children(pid: int) -> list[int]:
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            raw = Path(stat).read_text()
        except OSError:
            continue
        if int(raw[raw.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(stat.split("/")[2]))
    return found


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def service_pids() -> dict[str, int | None]:
    return {s: _read_pid(run_dir() / "run" / f"{s}.pid") for s in SERVICES}


def infra_pids() -> dict[str, int | None]:
    return {
        "postgres": _read_pid(run_dir() / "postgres" / "data" / "postmaster.pid"),
        "kafka": _read_pid(run_dir() / "kafka" / "kafka.pid"),
    }


def cpu_snapshot() -> dict[str, float]:
    """CPU seconds so far of each service, PostgreSQL (postmaster + backends), Kafka, bench."""
    snap: dict[str, float] = {}
    for name, pid in {**service_pids(), **infra_pids()}.items():
        if pid is None:
            continue
        total = _proc_cpu(pid)
        if name == "postgres":  # live backends; exited ones are in the postmaster's cutime
            total += sum(_proc_cpu(child, with_children=False) for child in _children(pid))
        snap[name] = total
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    snap["bench"] = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    return snap


@dataclass
class CpuUse:
    seconds: float
    cores: dict[str, float]  # name -> average cores used over the window

    def line(self) -> str:
        parts = [f"{k} {v:.2f}" for k, v in sorted(self.cores.items(), key=lambda kv: -kv[1])]
        total = sum(self.cores.values())
        return (
            f"cores used over {self.seconds:.1f} s: "
            + ", ".join(parts)
            + f" — {total:.2f} of {len(os.sched_getaffinity(0))} in all"
        )

    def per_case_ms(self, cases: int) -> dict[str, float]:
        """Milliseconds of CPU each part spent per case over the window, largest first."""
        spent = {k: v * self.seconds * 1000 / max(cases, 1) for k, v in self.cores.items()}
        return dict(sorted(spent.items(), key=lambda kv: -kv[1]))


@contextmanager
def cpu_window(into: dict[str, Any]) -> Iterator[None]:
    before, start = cpu_snapshot(), time.monotonic()
    try:
        yield
    finally:
        after, wall = cpu_snapshot(), max(time.monotonic() - start, 1e-6)
        into["cpu"] = CpuUse(
            wall, {k: (after[k] - before.get(k, 0.0)) / wall for k in after if k in before}
        )


def machine_facts(settings: Settings) -> dict[str, str]:
    facts: dict[str, str] = {}
    facts["CPUs (nproc)"] = str(len(os.sched_getaffinity(0)))
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "cpu model", "hardware")):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    facts["CPU model"] = model
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
        facts["Memory"] = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        facts["Memory"] = "?"
    facts["Kernel"] = f"{platform.system()} {platform.release()}"
    facts["Python"] = f"{platform.python_implementation()} {platform.python_version()}"
    try:
        with psycopg.connect(conninfo(settings), autocommit=True) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            facts["PostgreSQL"] = str(row[0]) if row else "?"
            settings_rows = conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync','synchronous_commit','shared_buffers','max_connections') ORDER BY name"
            ).fetchall()
            facts["PostgreSQL settings"] = ", ".join(f"{n}={v}" for n, v in settings_rows)
    except psycopg.Error as error:
        facts["PostgreSQL"] = f"? ({error})"
    jars = sorted(glob.glob(str(run_dir() / "kafka" / "lib" / "kafka_2.13-*.jar")))
    jar = next((j for j in jars if re.search(r"kafka_2\.13-[\d.]+\.jar$", j)), None)
    version = re.search(r"kafka_2\.13-([\d.]+)\.jar$", jar).group(1) if jar else "?"  # type: ignore[union-attr]
    import kafka as kafka_python

    facts["Kafka"] = (
        f"{version} (single-node KRaft broker); client kafka-python {kafka_python.__version__}"
    )
    facts["HTTP client"] = "bench/wire.py (asyncio streams, HTTP/1.1 keep-alive)"
    return facts


def idle_probe(seconds: float) -> dict[str, Any]:
    """CPU the stack uses with no load at all (polling loops and the like)."""
    result: dict[str, Any] = {}
    with cpu_window(result):
        time.sleep(seconds)
    return result


def memory() -> dict[str, dict[str, float] | None]:
    found: dict[str, dict[str, float] | None] = {}
    for service, pid in service_pids().items():
        if pid is None:
            found[service] = None
            continue
        values: dict[str, float] = {"pid": float(pid)}
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) * 1024 / 1e6  # kB -> MB
        except OSError:
            found[service] = None
            continue
        found[service] = values
    return found
