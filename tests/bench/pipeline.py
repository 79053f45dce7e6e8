"""`make bench`: OneStop's throughput and latency beside raw PostgreSQL and Kafka baselines.

One run measures, in this order, against the services `make up` started on 127.0.0.1:

1. PostgreSQL raw: single-row INSERTs, one per transaction, from 32 clients (pgbench).
2. Kafka raw: produce / consume ~20,000 records of ~600 bytes with acks=all, and the latency
   of one produce → consume hop at a paced rate.
3. Intake registrations/s from 32 concurrent keep-alive clients.
4. Register → assigned latency at a paced, open-loop 100 cases/s.
5. Whole-pipeline throughput: N cases until follow-up scheduled their assignment deadlines.
6. Resident memory of each service process.

It prints a table; with --write-docs it rewrites docs/benchmarks.md. Every loop is bounded
in count and time, and everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from shared.auth import issue_token
from shared.settings import SERVICES, Settings, run_dir
from shared.store import conninfo
from tests.bench.wire import HTTPFailure, KeepAlive

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "benchmarks.md"

REGISTERED = "onestop.intake.case.registered.v1"
ASSIGNED = "onestop.routing.case.assigned.v1"
SCHEDULED = "onestop.followup.deadlines.scheduled.v1"
RAW_TOPIC = "bench.raw"
SCRATCH_SCHEMA = "bench"
PAYLOAD_BYTES = 600
SINGLE_CLIENT_SECONDS = 3.0

TARGET_INTAKE_RATIO = 0.25
TARGET_P99_MS = 250.0
TARGET_PIPELINE_RPS = 300.0
TARGET_RSS_MB = 200.0


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options:
    clients: int = 32
    pg_seconds: float = 10.0
    kafka_records: int = 20_000
    hop_rate: float = 100.0
    hop_seconds: float = 3.0
    intake_seconds: float = 15.0
    intake_warmup: float = 5.0
    latency_rate: float = 100.0
    latency_seconds: float = 20.0
    latency_grace: float = 15.0
    pipeline_cases: int = 3_000
    pipeline_timeout: float = 180.0
    drain_timeout: float = 120.0
    write_docs: bool = False


def parse_options(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(
        prog="python -m tests.bench.pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = Options()
    p.add_argument("--clients", type=int, default=d.clients, help="concurrent clients (32)")
    p.add_argument("--pg-seconds", type=float, default=d.pg_seconds)
    p.add_argument("--kafka-records", type=int, default=d.kafka_records)
    p.add_argument("--intake-seconds", type=float, default=d.intake_seconds)
    p.add_argument(
        "--intake-warmup",
        type=float,
        default=d.intake_warmup,
        help="seconds of the same load before step 1's clock starts, not counted (5)",
    )
    p.add_argument("--latency-rate", type=float, default=d.latency_rate, help="cases/s (100)")
    p.add_argument("--latency-seconds", type=float, default=d.latency_seconds)
    p.add_argument("--pipeline-cases", type=int, default=d.pipeline_cases)
    p.add_argument("--pipeline-timeout", type=float, default=d.pipeline_timeout)
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=d.drain_timeout,
        help="longest wait, between steps, for routing and follow-up to catch up (120 s)",
    )
    p.add_argument("--write-docs", action="store_true", help=f"rewrite {DOC.relative_to(ROOT)}")
    a = p.parse_args(argv)
    if not 0 <= a.intake_warmup <= 600:
        p.error("--intake-warmup must be >= 0 and <= 600")
    for name in ("clients", "kafka_records", "pipeline_cases"):
        if not 1 <= getattr(a, name) <= 100_000:
            p.error(f"--{name.replace('_', '-')} must be between 1 and 100000")
    for name in (
        "pg_seconds",
        "intake_seconds",
        "latency_seconds",
        "latency_rate",
        "pipeline_timeout",
        "drain_timeout",
    ):
        if not 0 < getattr(a, name) <= 600:
            p.error(f"--{name.replace('_', '-')} must be > 0 and <= 600")
    return Options(
        clients=a.clients,
        pg_seconds=a.pg_seconds,
        kafka_records=a.kafka_records,
        intake_seconds=a.intake_seconds,
        intake_warmup=a.intake_warmup,
        latency_rate=a.latency_rate,
        latency_seconds=a.latency_seconds,
        pipeline_cases=a.pipeline_cases,
        pipeline_timeout=a.pipeline_timeout,
        drain_timeout=a.drain_timeout,
        write_docs=a.write_docs,
    )


def say(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# --------------------------------------------------------------------------- small helpers


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(min(rank, len(ordered))) - 1]


def summary_ms(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else float("nan"),
        "mean": statistics.fmean(ms) if ms else float("nan"),
    }


def fmt(value: float, digits: int = 0) -> str:
    if value != value:  # nan
        return "—"
    return f"{value:,.{digits}f}"


def kafka_servers(settings: Settings) -> list[str]:
    servers = [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()]
    for s in servers:
        if not s.startswith(("127.0.0.1:", "localhost:")):
            raise SystemExit(f"bench talks to 127.0.0.1 only; ONESTOP_KAFKA_BOOTSTRAP is {s}")
    return servers


def base_url(settings: Settings, service: str) -> str:
    url = settings.url_of(service)  # type: ignore[arg-type]
    if not url.startswith(("http://127.0.0.1:", "http://localhost:")):
        raise SystemExit(f"bench talks to 127.0.0.1 only; the {service} URL is {url}")
    return url


# --------------------------------------------------------------------------- CPU accounting


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


# --------------------------------------------------------------------------- machine


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
    facts["HTTP client"] = "tests/bench/wire.py (asyncio streams, HTTP/1.1 keep-alive)"
    return facts


# --------------------------------------------------------------------------- 1. PostgreSQL


def _pg_body(seq: int = 0) -> str:
    """A ~600-byte JSON object shaped like a registration."""
    body = {
        "seq": seq,
        "channel": "visit",
        "category": "labour-wages",
        "location": {"district": "ninghe", "street": "lutai", "community": "jinxiu"},
        "subject": "装修公司拖欠工资三个月",
        "description": "",
    }
    filler = PAYLOAD_BYTES - len(orjson.dumps(body))
    body["description"] = "工资未发放" * max(0, filler // 15) + "x" * max(0, filler % 15)
    return orjson.dumps(body).decode()


def pgbench_path() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = glob.glob("/usr/lib/postgresql/*/bin/pgbench")
    candidates.sort(key=lambda p: int(re.search(r"/(\d+)/bin", p).group(1)))  # type: ignore[union-attr]
    return candidates[-1] if candidates else None


def pg_baseline(settings: Settings, opts: Options) -> dict[str, Any]:
    result: dict[str, Any] = {"clients": opts.clients}
    with psycopg.connect(conninfo(settings), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH_SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCRATCH_SCHEMA}")
        conn.execute(
            f"CREATE TABLE {SCRATCH_SCHEMA}.raw_insert (id bigserial PRIMARY KEY, case_id uuid "
            "NOT NULL, body jsonb NOT NULL, created timestamptz NOT NULL DEFAULT now())"
        )
    try:
        tool = pgbench_path()
        with cpu_window(result):
            if tool:
                result.update(_pgbench(tool, settings, opts.clients, opts.pg_seconds))
            else:
                result.update(_pg_threads(settings, opts.clients, opts.pg_seconds))
        with psycopg.connect(conninfo(settings), autocommit=True) as conn:
            row = conn.execute(f"SELECT count(*) FROM {SCRATCH_SCHEMA}.raw_insert").fetchone()
            result["rows"] = int(row[0]) if row else 0
        # One client: the ceiling of anything that commits one record at a time, in order
        # (each service's consumer does).
        if tool:
            result["single"] = _pgbench(tool, settings, 1, SINGLE_CLIENT_SECONDS)
        else:
            result["single"] = _pg_threads(settings, 1, SINGLE_CLIENT_SECONDS)
    finally:
        with psycopg.connect(conninfo(settings), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH_SCHEMA} CASCADE")
    return result


def _pgbench(tool: str, settings: Settings, clients: int, seconds: float) -> dict[str, Any]:
    literal = _pg_body().replace("'", "''")
    script = (
        "\\set n random(1, 2000000000)\n"
        f"INSERT INTO {SCRATCH_SCHEMA}.raw_insert (case_id, body, created) VALUES "
        f"(gen_random_uuid(), jsonb_set('{literal}'::jsonb, '{{seq}}', to_jsonb(:n::bigint)), "
        "now());\n"
    )
    with tempfile.NamedTemporaryFile(
        "w", suffix=".sql", prefix="onestop-bench-", delete=False
    ) as f:
        f.write(script)
        path = f.name
    threads = min(2, clients)
    command = [
        tool,
        "-n",
        "-M",
        "prepared",
        "-c",
        str(clients),
        "-j",
        str(threads),
        "-T",
        str(max(1, round(seconds))),
        "-f",
        path,
        "-h",
        settings.pg_host,
        "-p",
        str(settings.pg_port),
        "-U",
        settings.pg_user,
        settings.pg_dbname,
    ]
    env = {
        **os.environ,
        "PGPASSWORD": settings.pg_password.get_secret_value(),
        "PGCONNECT_TIMEOUT": "10",
    }
    try:
        done = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    finally:
        os.unlink(path)
    out = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"pgbench exited {done.returncode}: {out.strip()[-800:]}")
    tps = re.search(r"^tps = ([\d.]+)", out, re.M)
    latency = re.search(r"^latency average = ([\d.]+) ms", out, re.M)
    failed = re.search(r"^number of failed transactions: (\d+)", out, re.M)
    processed = re.search(r"^number of transactions actually processed: (\d+)", out, re.M)
    if not tps:
        raise RuntimeError(f"could not find tps in pgbench's output: {out.strip()[-800:]}")
    version = subprocess.run(
        [tool, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "method": f"{version or 'pgbench'}: -M prepared -c {clients} -j {threads} "
        f"-T {max(1, round(seconds))}, custom script",
        "tps": float(tps.group(1)),
        "latency_ms": float(latency.group(1)) if latency else float("nan"),
        "failed": int(failed.group(1)) if failed else 0,
        "transactions": int(processed.group(1)) if processed else None,
    }


def _pg_threads(settings: Settings, clients: int, seconds: float) -> dict[str, Any]:
    """Fallback without pgbench: one psycopg connection per thread, autocommit INSERTs."""
    sql = (
        f"INSERT INTO {SCRATCH_SCHEMA}.raw_insert (case_id, body, created) "
        "VALUES (%s, %s::jsonb, now())"
    )
    body = _pg_body()
    counts = [0] * clients
    errors = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(i: int) -> None:
        with psycopg.connect(conninfo(settings), autocommit=True) as conn:
            start_gate.wait(30)
            while time.monotonic() < deadline[0]:
                t = time.monotonic()
                try:
                    conn.execute(sql, (uuid.uuid4(), body), prepare=True)
                    counts[i] += 1
                    latencies[i].append(time.monotonic() - t)
                except psycopg.Error:
                    errors[i] += 1
                    if conn.closed:
                        return

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.monotonic() + seconds + 30  # until everyone is connected
    start_gate.wait(30)
    start = time.monotonic()
    deadline[0] = start + seconds
    for t in threads:
        t.join(seconds + 30)
    wall = time.monotonic() - start
    flat = [x for chunk in latencies for x in chunk]
    return {
        "method": f"psycopg, {clients} threads, autocommit (pgbench not found)",
        "tps": sum(counts) / wall,
        "latency_ms": statistics.fmean(flat) * 1000 if flat else float("nan"),
        "failed": sum(errors),
        "transactions": sum(counts),
    }


# --------------------------------------------------------------------------- Kafka plumbing


def _admin(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(
        bootstrap_servers=kafka_servers(settings),
        client_id="onestop-bench",
        request_timeout_ms=15_000,
    )


def _partitions(consumer: KafkaConsumer, topic: str, wait: float = 15.0) -> list[TopicPartition]:
    deadline = time.monotonic() + wait
    while True:
        consumer.topics()  # refreshes metadata
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} has no partitions (does it exist?)")
        time.sleep(0.2)


def _plain_consumer(settings: Settings, client_id: str) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=kafka_servers(settings),
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
        max_poll_records=2000,
        request_timeout_ms=30_000,
    )


class Watcher(threading.Thread):
    """Reads a topic from its current end, recording when each matching case id first showed.

    `match(event_dict)` returns the case id to record, or None. Positions are resolved in the
    constructor, so anything published after it returns is seen.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        match: Callable[[dict[str, Any]], str | None],
        prefilter: bytes | None = None,
    ) -> None:
        super().__init__(name=f"watch-{topic}", daemon=True)
        self.match = match
        self.prefilter = prefilter
        self.seen: dict[str, float] = {}  # case id -> monotonic arrival
        self.stamps: dict[str, float] = {}  # case id -> Kafka record timestamp (epoch s)
        self.records = 0
        self.error: str | None = None
        self.stop = threading.Event()
        self.consumer = _plain_consumer(settings, f"bench-watch-{topic}")
        parts = _partitions(self.consumer, topic)
        self.consumer.assign(parts)
        self.consumer.seek_to_end(*parts)
        for tp in parts:
            self.consumer.position(tp)  # resolves the seek now, not at the first poll

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                batches = self.consumer.poll(timeout_ms=100)
                now = time.monotonic()
                for records in batches.values():
                    for record in records:
                        self.records += 1
                        value = record.value or b""
                        if self.prefilter is not None and self.prefilter not in value:
                            continue
                        try:
                            event = orjson.loads(value)
                        except orjson.JSONDecodeError:
                            continue
                        case_id = self.match(event) if isinstance(event, dict) else None
                        if case_id and case_id not in self.seen:
                            self.seen[case_id] = now
                            self.stamps[case_id] = record.timestamp / 1000
        except Exception as error:  # reported with the step's result
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.consumer.close(autocommit=False)

    def close(self) -> None:
        self.stop.set()
        self.join(10)


def _is_assigned(event: dict[str, Any]) -> str | None:
    return event.get("subject") if event.get("type") == ASSIGNED else None


def _is_assignment_deadlines(event: dict[str, Any]) -> str | None:
    if event.get("type") != SCHEDULED:
        return None
    deadlines = (event.get("data") or {}).get("deadlines") or []
    if any(isinstance(d, dict) and d.get("kind") == "handling-plan" for d in deadlines):
        return event.get("subject")
    return None


# --------------------------------------------------------------------------- 2. Kafka raw


def kafka_baseline(settings: Settings, opts: Options) -> dict[str, Any]:
    result: dict[str, Any] = {"records": opts.kafka_records, "bytes": PAYLOAD_BYTES}
    partitions = settings.topic_partitions
    admin = _admin(settings)
    try:
        for attempt in range(30):  # a previous run's delete may still be under way
            try:
                admin.create_topics(
                    [NewTopic(RAW_TOPIC, num_partitions=partitions, replication_factor=1)]
                )
                break
            except TopicAlreadyExistsError:
                break
            except KafkaError:
                if attempt == 29:
                    raise
                time.sleep(0.5)
        with cpu_window(result):
            result.update(_kafka_throughput(settings, opts))
        result.update(_kafka_hop(settings, opts))
    finally:
        try:
            admin.delete_topics([RAW_TOPIC], timeout_ms=10_000)
        except (KafkaError, UnknownTopicOrPartitionError) as error:
            say(f"could not delete scratch topic {RAW_TOPIC}: {error}")
        admin.close()
    result["partitions"] = partitions
    return result


def _raw_producer(settings: Settings) -> KafkaProducer:
    # The same settings as the services' relays (shared.kafka.make_producer).
    return KafkaProducer(
        bootstrap_servers=kafka_servers(settings),
        client_id="bench-raw",
        acks="all",
        linger_ms=2,
        max_in_flight_requests_per_connection=5,
        retries=5,
        request_timeout_ms=30_000,
    )


def _kafka_throughput(settings: Settings, opts: Options) -> dict[str, Any]:
    consumer = _plain_consumer(settings, "bench-raw-reader")
    producer = _raw_producer(settings)
    try:
        parts = _partitions(consumer, RAW_TOPIC)
        start_offsets = consumer.end_offsets(parts)
        producer.send(RAW_TOPIC, key=b"warm-up", value=b"x")  # metadata and connections
        producer.flush(30)
        rng = random.Random(7)
        values = [rng.randbytes(PAYLOAD_BYTES) for _ in range(64)]
        keys = [
            str(uuid.UUID(int=rng.getrandbits(128))).encode() for _ in range(opts.kafka_records)
        ]
        futures = []
        start = time.monotonic()
        for i, key in enumerate(keys):
            futures.append(producer.send(RAW_TOPIC, key=key, value=values[i % 64]))
        producer.flush(60)
        produce_wall = time.monotonic() - start
        failed = sum(1 for f in futures if f.failed())

        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, start_offsets[tp])
        wanted = opts.kafka_records + 1  # the warm-up record too
        got = 0
        start = time.monotonic()
        deadline = start + 60
        while got < wanted and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                got += len(records)
        consume_wall = time.monotonic() - start
    finally:
        producer.close(timeout=10)
        consumer.close(autocommit=False)
    return {
        "produce_rps": opts.kafka_records / produce_wall,
        "produce_failed": failed,
        "consumed": got - 1,
        "consume_rps": (got - 1) / consume_wall if got > 1 else 0.0,
    }


def _kafka_hop(settings: Settings, opts: Options) -> dict[str, Any]:
    """Paced produce (acks=all) → consume on the raw topic: one hop of the pipeline."""
    sent: dict[str, float] = {}

    def mine(event: dict[str, Any]) -> str | None:
        return event.get("subject") if event.get("type") == "bench.hop" else None

    watcher = Watcher(settings, RAW_TOPIC, mine, prefilter=b"bench.hop")
    watcher.start()
    producer = _raw_producer(settings)
    try:
        producer.send(RAW_TOPIC, key=b"warm-up", value=b"{}")
        producer.flush(30)
        n = max(1, int(opts.hop_rate * opts.hop_seconds))
        filler = "x" * (PAYLOAD_BYTES - 80)
        start = time.monotonic() + 0.05
        for i in range(n):
            delay = start + i / opts.hop_rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            key = str(uuid.uuid4())
            sent[key] = time.monotonic()
            producer.send(
                RAW_TOPIC,
                key=key.encode(),
                value=orjson.dumps({"type": "bench.hop", "subject": key, "f": filler}),
            )
        producer.flush(30)
        deadline = time.monotonic() + 10
        while len(watcher.seen) < n and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        producer.close(timeout=10)
        watcher.close()
    hops = [watcher.seen[k] - t for k, t in sent.items() if k in watcher.seen]
    return {"hop": summary_ms(hops), "hop_sent": len(sent), "hop_seen": len(hops)}


# --------------------------------------------------------------------------- registrations

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


def registration_bodies(n: int, seed: int) -> list[bytes]:
    """Distinct, valid registrations (~700 bytes each) that the catalogue assigns."""
    rng = random.Random(seed)
    bodies = []
    for i in range(n):
        category, (district, street, community) = COVERED[i % len(COVERED)]
        name = rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, 2))
        bodies.append(
            orjson.dumps(
                {
                    "channel": CHANNELS[i % len(CHANNELS)],
                    "petitioner": {
                        "name": name,
                        "phone": f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}",
                    },
                    "subject": f"压测事项 {seed}-{i}：拖欠工资",
                    "description": DESCRIPTION,
                    "category": category,
                    "location": {"district": district, "street": street, "community": community},
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

    Each is a `tests.bench.wire.KeepAlive`: the generator shares the services' 2 cores, and
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


# --------------------------------------------------------------------------- 3. intake


async def intake_throughput(settings: Settings, token: str, opts: Options) -> dict[str, Any]:
    result: dict[str, Any] = {"clients": opts.clients}
    registrar = Registrar(settings, token, opts.clients)
    # More bodies than 32 clients could send in the window: the window is what bounds it.
    bodies = registration_bodies(int(opts.intake_seconds * 3_000), seed=3)
    try:
        await registrar.warm()
        if opts.intake_warmup:  # caches, pools, the broker's JIT: not what is measured
            warmup = registration_bodies(int(opts.intake_warmup * 3_000), seed=13)
            result["warmup_sent"] = len(await registrar.closed_loop(warmup, opts.intake_warmup))
        with cpu_window(result):
            start = time.monotonic()
            outcomes = await registrar.closed_loop(bodies, opts.intake_seconds)
            wall = time.monotonic() - start
    finally:
        await registrar.close()
    ok, errors = tally(outcomes)
    result.update(
        {
            "sent": len(outcomes),
            "ok": ok,
            "errors": errors,
            "seconds": wall,
            "rps": ok / wall,
            "http": summary_ms([o.answered - o.sent for o in outcomes if o.status == 201]),
            "bench_cpu_ms_per_request": result["cpu"].cores.get("bench", 0)
            * wall
            * 1000
            / max(1, len(outcomes)),
            "case_ids": [o.case_id for o in outcomes if o.case_id],
        }
    )
    return result


# --------------------------------------------------------------------------- drain


def wait_until_quiet(settings: Settings, timeout: float) -> dict[str, Any]:
    """Wait until routing and follow-up have consumed everything (consumer-group lag 0) and
    no topic grows any more, so one step's backlog does not slow the next."""
    groups = {
        f"{settings.topic_prefix}.routing": [settings.topic("intake")],
        f"{settings.topic_prefix}.followup": [settings.topic(s) for s in SERVICES],
    }
    topics = sorted({t for ts in groups.values() for t in ts})
    admin = _admin(settings)
    consumer = _plain_consumer(settings, "bench-lag")
    start = time.monotonic()
    previous: dict[TopicPartition, int] | None = None
    lag: dict[str, int] = {}
    try:
        parts = [tp for t in topics for tp in _partitions(consumer, t)]
        while True:
            ends = consumer.end_offsets(parts)
            lag = {}
            for group, group_topics in groups.items():
                committed = admin.list_group_offsets({group: None}).get(group, {})
                lag[group] = sum(
                    max(0, ends[tp] - max(0, committed[tp].offset if tp in committed else 0))
                    for tp in parts
                    if tp.topic in group_topics
                )
            if previous == ends and not any(lag.values()):
                return {"seconds": time.monotonic() - start, "quiet": True, "lag": lag}
            if time.monotonic() - start > timeout:
                return {"seconds": time.monotonic() - start, "quiet": False, "lag": lag}
            previous = ends
            time.sleep(0.5)
    finally:
        consumer.close(autocommit=False)
        admin.close()


# --------------------------------------------------------------------------- 4. latency


def _is_registered(event: dict[str, Any]) -> str | None:
    return event.get("subject") if event.get("type") == REGISTERED else None


def stage_delays(
    outcomes: list[Outcome], stages: list[tuple[str, dict[str, float]]]
) -> dict[str, dict[str, float]]:
    """Per-case time from one stage to the next (p50/p95/p99/max in ms), for cases that
    reached both. The first stage is when the registration was due/sent."""
    found: dict[str, dict[str, float]] = {}
    previous_name, previous = "sent", {o.case_id: o.sent for o in outcomes if o.case_id}
    for name, seen in stages:
        found[f"{previous_name} → {name}"] = summary_ms(
            [seen[c] - t for c, t in previous.items() if c in seen]
        )
        previous_name, previous = name, {c: seen[c] for c in previous if c in seen}
    return found


async def assign_latency(settings: Settings, token: str, opts: Options) -> dict[str, Any]:
    n = max(1, int(opts.latency_rate * opts.latency_seconds))
    result: dict[str, Any] = {"rate": opts.latency_rate, "planned": n}
    bodies = registration_bodies(n, seed=4)
    published = Watcher(
        settings, settings.topic("intake"), _is_registered, prefilter=REGISTERED.encode()
    )
    watcher = Watcher(
        settings, settings.topic("routing"), _is_assigned, prefilter=ASSIGNED.encode()
    )
    published.start()
    watcher.start()
    registrar = Registrar(settings, token, opts.clients)
    try:
        await registrar.warm()
        with cpu_window(result):
            outcomes = await registrar.paced(bodies, opts.latency_rate)
            wanted = {o.case_id for o in outcomes if o.case_id}
            deadline = time.monotonic() + opts.latency_grace
            while not wanted <= watcher.seen.keys() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
    finally:
        await registrar.close()
        watcher.close()
        published.close()
    ok, errors = tally(outcomes)
    latencies = [
        watcher.seen[o.case_id] - o.sent
        for o in outcomes
        if o.case_id and o.case_id in watcher.seen
    ]
    first_due = min(o.sent for o in outcomes)
    last_start = max(o.started for o in outcomes)
    result.update(
        {
            "sent": len(outcomes),
            "ok": ok,
            "errors": errors,
            "dispatch_rate": (len(outcomes) - 1) / (last_start - first_due)
            if last_start > first_due
            else float("nan"),
            "arrived": len(latencies),
            "missing": ok - len(latencies),
            "latency": summary_ms(latencies),
            "queued": summary_ms([o.started - o.sent for o in outcomes]),
            "http": summary_ms([o.answered - o.sent for o in outcomes if o.status == 201]),
            "stages": stage_delays(
                outcomes,
                [
                    ("on the intake topic", published.seen),
                    ("assigned record received", watcher.seen),
                ],
            ),
            "watcher_error": watcher.error or published.error,
        }
    )
    return result


# --------------------------------------------------------------------------- 5. pipeline


async def pipeline_throughput(settings: Settings, token: str, opts: Options) -> dict[str, Any]:
    n = opts.pipeline_cases
    result: dict[str, Any] = {"planned": n, "timeout": opts.pipeline_timeout}
    bodies = registration_bodies(n, seed=5)
    watchers = {
        "published": Watcher(
            settings, settings.topic("intake"), _is_registered, prefilter=REGISTERED.encode()
        ),
        "assigned": Watcher(
            settings, settings.topic("routing"), _is_assigned, prefilter=ASSIGNED.encode()
        ),
        "scheduled": Watcher(
            settings,
            settings.topic("followup"),
            _is_assignment_deadlines,
            prefilter=b"handling-plan",
        ),
    }
    for w in watchers.values():
        w.start()
    done_watcher = watchers["scheduled"]
    registrar = Registrar(settings, token, opts.clients)
    try:
        await registrar.warm()
        with cpu_window(result):
            start = time.monotonic()
            deadline = start + opts.pipeline_timeout
            outcomes = await registrar.closed_loop(bodies, opts.pipeline_timeout)
            registered_at = time.monotonic()
            wanted = {o.case_id for o in outcomes if o.case_id}
            while not wanted <= done_watcher.seen.keys() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
    finally:
        await registrar.close()
        for w in watchers.values():
            w.close()
    ok, errors = tally(outcomes)
    reached = {name: [w.seen[c] for c in wanted if c in w.seen] for name, w in watchers.items()}
    done = reached["scheduled"]
    end = max(done) if done else time.monotonic()
    result.update(
        {
            "sent": len(outcomes),
            "ok": ok,
            "errors": errors,
            "register_seconds": registered_at - start,
            "register_rps": ok / (registered_at - start),
            "published": len(reached["published"]),
            "assigned": len(reached["assigned"]),
            "scheduled": len(done),
            "missing": ok - len(done),
            "seconds": end - start,
            "rps": len(done) / (end - start) if done else 0.0,
            "complete": len(done) == ok == n,
            "last": {
                name: (max(times) - start) if times else float("nan")
                for name, times in reached.items()
            },
            "http": summary_ms([o.answered - o.sent for o in outcomes if o.status == 201]),
            "stages": stage_delays(
                outcomes,
                [
                    ("on the intake topic", watchers["published"].seen),
                    ("assigned", watchers["assigned"].seen),
                    ("deadlines scheduled", done_watcher.seen),
                ],
            ),
            "watcher_error": next((w.error for w in watchers.values() if w.error), None),
        }
    )
    return result


def idle_probe(seconds: float) -> dict[str, Any]:
    """CPU the stack uses with no load at all (polling loops and the like)."""
    result: dict[str, Any] = {}
    with cpu_window(result):
        time.sleep(seconds)
    return result


# --------------------------------------------------------------------------- 6. memory


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


# --------------------------------------------------------------------------- report


@dataclass
class Row:
    measure: str
    result: str
    target: str
    verdict: str  # "pass", "FAIL", "" (no target) or "n/a" (not measured)
    baseline: str


def baseline_row(measure: str, result: str) -> Row:
    """A row that is itself a raw baseline: no target, nothing beside it."""
    return Row(measure, result, "baseline", "", "—")


@dataclass
class Report:
    started: datetime
    facts: dict[str, str]
    opts: Options
    results: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    drains: list[str] = field(default_factory=list)
    seconds: float = 0.0
    routing_topic: str = "onestop.routing.events"


def mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("pass" if ok else "FAIL")


def build_rows(r: Report) -> list[Row]:
    pg, kf = r.results.get("pg"), r.results.get("kafka")
    intake, lat, pipe, mem = (r.results.get(k) for k in ("intake", "latency", "pipeline", "memory"))
    pg_tps = pg["tps"] if pg else float("nan")
    single_tps = pg["single"]["tps"] if pg else float("nan")
    pg_text = f"PostgreSQL raw {fmt(pg_tps)} INSERT tx/s" if pg else "PostgreSQL raw: not measured"
    rows = []
    if pg:
        rows.append(
            baseline_row(
                f"A. PostgreSQL raw: single-row INSERT, autocommit, {pg['clients']} clients",
                f"{fmt(pg_tps)} tx/s (avg {fmt(pg['latency_ms'], 1)} ms, {pg['failed']} failed)",
            )
        )
        rows.append(
            baseline_row(
                "A. PostgreSQL raw: the same, 1 client (one commit at a time)",
                f"{fmt(single_tps)} tx/s (avg {fmt(pg['single']['latency_ms'], 2)} ms)",
            )
        )
    else:
        rows.append(Row("A. PostgreSQL raw INSERTs", "not measured", "baseline", "n/a", "—"))
    if kf:
        rows.append(
            baseline_row(
                f"B. Kafka raw: produce {kf['records']:,} × {kf['bytes']} B, acks=all",
                f"{fmt(kf['produce_rps'])} records/s",
            )
        )
        rows.append(
            baseline_row(
                f"B. Kafka raw: consume the same {kf['consumed']:,} records",
                f"{fmt(kf['consume_rps'])} records/s",
            )
        )
        hop = kf["hop"]
        rows.append(
            baseline_row(
                f"B. Kafka raw: one produce → consume hop at {fmt(r.opts.hop_rate)}/s",
                f"p50 {fmt(hop['p50'], 1)} / p99 {fmt(hop['p99'], 1)} ms",
            )
        )
    else:
        rows.append(Row("B. Kafka raw produce / consume", "not measured", "baseline", "n/a", "—"))
    if intake:
        ratio = intake["rps"] / pg_tps if pg else float("nan")
        errors = sum(intake["errors"].values())
        rows.append(
            Row(
                f"1. Intake registrations/s, {intake['clients']} clients, "
                f"{intake['seconds']:.0f} s",
                f"{fmt(intake['rps'])}/s = {fmt(ratio * 100, 1)}% of A ({intake['ok']:,} × 201, "
                f"{errors} errors)",
                f"≥ {TARGET_INTAKE_RATIO:.0%} of A",
                mark(ratio >= TARGET_INTAKE_RATIO if pg else None),
                pg_text,
            )
        )
    else:
        rows.append(
            Row(
                "1. Intake registrations/s",
                "not measured",
                f"≥ {TARGET_INTAKE_RATIO:.0%} of A",
                "n/a",
                pg_text,
            )
        )
    hop_text = (
        f"the path is 2 Kafka hops (raw: p50 {fmt(kf['hop']['p50'], 1)} / p99 "
        f"{fmt(kf['hop']['p99'], 1)} ms each) and ~2 commits (raw, 1 client: "
        f"{fmt(pg['single']['latency_ms'], 2)} ms each)"
        if kf and pg
        else "—"
    )
    if lat:
        lt = lat["latency"]
        missing = f", {lat['missing']} never arrived" if lat["missing"] else ""
        rows.append(
            Row(
                f"2. Register → assigned at {fmt(lat['rate'])} cases/s for "
                f"{r.opts.latency_seconds:.0f} s",
                f"p50 {fmt(lt['p50'])} / p95 {fmt(lt['p95'])} / p99 {fmt(lt['p99'])} / max "
                f"{fmt(lt['max'])} ms ({lat['arrived']:,}/{lat['ok']:,} arrived{missing})",
                f"p99 ≤ {TARGET_P99_MS:.0f} ms",
                mark(lt["p99"] <= TARGET_P99_MS and lat["missing"] == 0 and lat["ok"] > 0),
                hop_text,
            )
        )
    else:
        rows.append(
            Row(
                "2. Register → assigned latency",
                "not measured",
                f"p99 ≤ {TARGET_P99_MS:.0f} ms",
                "n/a",
                hop_text,
            )
        )
    raw_pipe = (
        f"A {fmt(pg_tps)} tx/s at {pg['clients']} clients, {fmt(single_tps)} tx/s at 1 client; "
        f"follow-up commits 4 records per case one at a time (≤ {fmt(single_tps / 4)} "
        f"cases/s at raw speed); Kafka {fmt(kf['produce_rps'])} records/s produced "
        "(a case is 4 records)"
        if pg and kf
        else "—"
    )
    if pipe:
        partial = (
            ""
            if pipe["complete"]
            else (
                f"; PARTIAL: {pipe['scheduled']:,}/{pipe['ok']:,} done after "
                f"{pipe['seconds']:.0f} s"
            )
        )
        rows.append(
            Row(
                f"3. Whole pipeline: {pipe['planned']:,} cases, register → follow-up scheduled "
                "the assignment deadlines",
                f"{fmt(pipe['rps'])} cases/s ({pipe['scheduled']:,} cases in "
                f"{pipe['seconds']:.1f} s{partial})",
                f"≥ {TARGET_PIPELINE_RPS:.0f} cases/s",
                mark(pipe["rps"] >= TARGET_PIPELINE_RPS and pipe["complete"]),
                raw_pipe,
            )
        )
    else:
        rows.append(
            Row(
                "3. Whole-pipeline throughput",
                "not measured",
                f"≥ {TARGET_PIPELINE_RPS:.0f} cases/s",
                "n/a",
                raw_pipe,
            )
        )
    for service in SERVICES:
        m = (mem or {}).get(service)
        if m is None or "VmRSS" not in m:
            rows.append(
                Row(
                    f"4. Resident memory of {service}",
                    "not running / not measured",
                    f"< {TARGET_RSS_MB:.0f} MB",
                    "n/a",
                    "—",
                )
            )
            continue
        rows.append(
            Row(
                f"4. Resident memory of {service} (pid {int(m['pid'])})",
                f"{fmt(m['VmRSS'])} MB now, peak {fmt(m.get('VmHWM', float('nan')))} MB",
                f"< {TARGET_RSS_MB:.0f} MB",
                mark(max(m["VmRSS"], m.get("VmHWM", 0)) < TARGET_RSS_MB),
                "—",
            )
        )
    return rows


def details(r: Report) -> list[str]:
    out: list[str] = []
    pg, kf = r.results.get("pg"), r.results.get("kafka")
    intake, lat, pipe = (r.results.get(k) for k in ("intake", "latency", "pipeline"))
    if pg:
        out.append(
            f"**A. PostgreSQL raw** — {pg['method']}; {pg.get('transactions') or 0:,} "
            f"transactions, {pg.get('rows', 0):,} rows written into the scratch table "
            f"`{SCRATCH_SCHEMA}.raw_insert` (dropped afterwards). {pg['cpu'].line()}."
        )
    if kf:
        out.append(
            f"**B. Kafka raw** — topic `{RAW_TOPIC}` ({kf['partitions']} partitions, "
            f"deleted afterwards), producer settings as the services' relays (acks=all, "
            f"linger 2 ms); {kf['produce_failed']} sends failed; consumed "
            f"{kf['consumed']:,}/{kf['records']:,}. Hop: {kf['hop_seen']}/{kf['hop_sent']} "
            f"arrived, p50 {fmt(kf['hop']['p50'], 1)} / p95 {fmt(kf['hop']['p95'], 1)} / "
            f"p99 {fmt(kf['hop']['p99'], 1)} / max {fmt(kf['hop']['max'], 1)} ms. "
            f"{kf['cpu'].line()} (throughput part: the client, kafka-python, is pure Python, "
            "so this is its ceiling on this machine — the services use the same client)."
        )
    if intake:
        h = intake["http"]
        out.append(
            f"**1. Intake** — after {intake.get('warmup_sent', 0):,} warm-up requests, "
            f"{intake['sent']:,} requests, {intake['ok']:,} answered 201; "
            f"errors: {error_text(intake['errors'])}. Response time p50 {fmt(h['p50'])} / "
            f"p99 {fmt(h['p99'])} / max {fmt(h['max'])} ms. The bench client spent "
            f"{intake['bench_cpu_ms_per_request']:.2f} ms CPU per request. "
            f"{intake['cpu'].line()}."
        )
    if lat:
        q = lat["queued"]
        out.append(
            f"**2. Latency** — {lat['sent']:,} registrations due at {fmt(lat['rate'])}/s "
            f"(they actually went out at {fmt(lat['dispatch_rate'], 1)}/s; waiting for a free "
            f"connection p50 {fmt(q['p50'])} / p99 {fmt(q['p99'])} ms), {lat['ok']:,} answered "
            f"201; errors: {error_text(lat['errors'])}; {lat['arrived']:,} assignments seen, "
            f"{lat['missing']} missing after a {r.opts.latency_grace:.0f} s grace. "
            f"Due → 201 p50 {fmt(lat['http']['p50'])} / p99 {fmt(lat['http']['p99'])} ms. "
            f"Per stage: {stage_text(lat['stages'])}. {lat['cpu'].line()}."
            + (f" Watcher error: {lat['watcher_error']}." if lat["watcher_error"] else "")
        )
    if pipe:
        last = pipe["last"]
        out.append(
            f"**3. Pipeline** — {pipe['ok']:,}/{pipe['sent']:,} registered (errors: "
            f"{error_text(pipe['errors'])}) in {pipe['register_seconds']:.1f} s "
            f"({fmt(pipe['register_rps'])}/s). Seconds after the first send at which the last "
            f"case was on the intake topic: {fmt(last['published'], 1)} "
            f"({pipe['published']:,} cases); assigned: {fmt(last['assigned'], 1)} "
            f"({pipe['assigned']:,}); had its assignment deadlines scheduled: "
            f"{fmt(last['scheduled'], 1)} ({pipe['scheduled']:,})"
            + (
                f" — {pipe['missing']:,} still missing at the {pipe['timeout']:.0f} s timeout"
                if pipe["missing"]
                else ""
            )
            + f". Sent → 201 p50 {fmt(pipe['http']['p50'])} / p99 {fmt(pipe['http']['p99'])} ms. "
            f"Per stage: {stage_text(pipe['stages'])}. {pipe['cpu'].line()}."
            + (f" Watcher error: {pipe['watcher_error']}." if pipe["watcher_error"] else "")
        )
    idle = r.results.get("idle")
    if idle:
        out.append(f"**Idle** — before any load, with nothing to do: {idle['cpu'].line()}.")
    if r.drains:
        out.append(
            "**Between steps** — waiting for routing and follow-up to catch up (consumer-group "
            "lag 0, no topic growing): " + "; ".join(r.drains) + "."
        )
    for step, error in r.failures.items():
        out.append(f"**{step} failed** — `{error}`")
    return out


def stage_text(stages: dict[str, dict[str, float]]) -> str:
    return "; ".join(
        f"{name} p50 {fmt(v['p50'])} / p99 {fmt(v['p99'])} ms" for name, v in stages.items()
    )


def table(rows: list[Row]) -> str:
    head = "| Measure | Result | Target | | Raw baseline beside it |\n|---|---|---|---|---|\n"
    symbol = {"pass": "✅ pass", "FAIL": "❌ FAIL", "n/a": "⚠️ n/a", "": ""}
    return head + "\n".join(
        f"| {x.measure} | {x.result} | {x.target} | {symbol[x.verdict]} | {x.baseline} |"
        for x in rows
    )


def print_table(rows: list[Row]) -> None:
    w = max(len(x.measure) for x in rows)
    print()
    for x in rows:
        verdict = x.verdict or "-"
        print(f"  {x.measure:<{w}}  {x.result}  [{x.target}: {verdict}]")
        if x.baseline != "—":
            print(f"  {'':<{w}}    beside: {x.baseline}")
    print()


def render_doc(r: Report, rows: list[Row]) -> str:
    when = r.started.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    local = r.started.astimezone().strftime("%Y-%m-%d %H:%M %Z")
    local = "" if local.endswith(("UTC", "GMT")) else f" ({local})"
    o = r.opts
    machine = "\n".join(f"| {k} | {v} |" for k, v in r.facts.items())
    detail = "\n\n".join(f"- {line}" for line in details(r))
    return f"""# Benchmarks

_Written by `make bench` ({Path(__file__).relative_to(ROOT)}) on {when}{local}; the run
took {r.seconds:.0f} s, waits between steps included. Do not edit by hand: run `make bench`
again._

## What is measured, and how

`make bench` starts what is missing (`make up`), then measures, in one run and in this order:

- **A. PostgreSQL raw** — single-row `INSERT`s (a UUID and a ~{PAYLOAD_BYTES}-byte `jsonb`),
  autocommit, one row per transaction, from {o.clients} concurrent clients for {o.pg_seconds:.0f} s,
  into a scratch table in a scratch schema `{SCRATCH_SCHEMA}` of the services' own database
  (same server, same `fsync`/`synchronous_commit` settings). pgbench when installed, psycopg
  threads otherwise. This is the ceiling for anything that commits once per request.
- **B. Kafka raw** — plain kafka-python: {o.kafka_records:,} records of {PAYLOAD_BYTES} bytes
  produced with `acks=all` and flushed, then read back by a consumer; plus
  {int(o.hop_rate * o.hop_seconds)} records paced at {o.hop_rate:.0f}/s to time one produce →
  consume hop (the pipeline makes two).
- **1. Intake registrations/s** — {o.clients} clients on {o.clients} keep-alive connections
  register cases (`POST /v1/cases`, ~700-byte bodies, every one a different case) as fast as
  intake answers, for {o.intake_seconds:.0f} s, right after {o.intake_warmup:.0f} s of the same
  load that is not counted (the services' caches and pools and the broker's JIT warm up).
  Only 201s count. Compared with A: a registration is at least one such transaction.
- **2. Register → assigned latency** — registrations sent open-loop on a fixed schedule of
  {o.latency_rate:.0f}/s for {o.latency_seconds:.0f} s (a slow answer does not delay the next
  send). A consumer reads `{r.routing_topic}` from its end (positioned
  before the first send) and matches case ids; latency runs from when a registration was due
  to when its `case.assigned` record reached the bench's consumer.
- **3. Whole pipeline** — {o.pipeline_cases:,} cases registered as fast as {o.clients} clients
  can; the run ends when follow-up has published, for every one of them, the
  `deadlines.scheduled` caused by the assignment (its deadlines include `handling-plan`).
  cases/s = cases / (last such event − first send). Times out after
  {o.pipeline_timeout:.0f} s and then reports the partial figure.
- **4. Memory** — `VmRSS` and peak `VmHWM` of each service process (`/proc/<pid>/status`,
  pids from `var/run/<service>.pid`), read after all the runs.

Between steps the bench waits (at most {o.drain_timeout:.0f} s) until routing's and follow-up's
consumer groups have no lag, so one step's backlog does not slow the next; how long that took
is under Details. All traffic is to 127.0.0.1.

**The clients run on the same {r.facts.get("CPUs (nproc)", "?")}-CPU machine as PostgreSQL,
Kafka and the three services, and compete with them for CPU**: every figure is for the whole
stack on one small box, load generator included. The "cores used" lines below say where the
CPU went during each step. The HTTP load comes from one asyncio event loop (one thread)
driving {o.clients} keep-alive connections of the bench's own lean HTTP/1.1 client
(`tests/bench/wire.py`): it writes a prepared request and reads one answer, about 0.2 ms of
CPU per request here against ≈2 ms for `httpx.AsyncClient`, which the runs before
2026-11-21 used (`python -m tests.bench.wire` measures both side by side). What the client
does not spend is left to the stack, so figures from before and after that change are not
comparable one to one. The open-loop schedule of step 2 stays exact.
The client's measured CPU per request is given under 1.

## Machine

| | |
|---|---|
{machine}

## Results

{table(rows)}

## Details

{detail}
"""


# --------------------------------------------------------------------------- main


def run(opts: Options) -> int:
    started = datetime.now(UTC)
    t0 = time.monotonic()
    settings = Settings.load()
    kafka_servers(settings)
    for service in SERVICES:
        base_url(settings, service)
    facts = machine_facts(settings)
    report = Report(started, facts, opts, routing_topic=settings.topic("routing"))
    say("machine: " + "; ".join(f"{k} {v}" for k, v in facts.items()))
    token = issue_token(settings, "bench", "clerk", ttl=timedelta(hours=1))

    def step(name: str, fn: Callable[[], Any]) -> None:
        say(f"{name} …")
        begun = time.monotonic()
        try:
            report.results[name] = fn()
        except Exception as error:
            report.failures[name] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        say(f"{name} done in {time.monotonic() - begun:.1f} s")

    def drain(before: str) -> None:
        try:
            quiet = wait_until_quiet(settings, opts.drain_timeout)
        except Exception as error:
            report.drains.append(f"before {before}: the check failed ({error!r})")
            return
        word = "drained" if quiet["quiet"] else "had NOT drained"
        lag = "" if quiet["quiet"] else f", lag then {quiet['lag']}"
        report.drains.append(f"before {before} {quiet['seconds']:.1f} s{lag}")
        say(f"before {before} the pipeline {word} in {quiet['seconds']:.1f} s{lag}")

    drain("the idle probe")
    step("idle", lambda: idle_probe(3.0))
    step("pg", lambda: pg_baseline(settings, opts))
    step("kafka", lambda: kafka_baseline(settings, opts))
    drain("step 1")
    step("intake", lambda: asyncio.run(intake_throughput(settings, token, opts)))
    drain("step 2")
    step("latency", lambda: asyncio.run(assign_latency(settings, token, opts)))
    drain("step 3")
    step("pipeline", lambda: asyncio.run(pipeline_throughput(settings, token, opts)))
    step("memory", memory)
    report.seconds = time.monotonic() - t0

    rows = build_rows(report)
    print_table(rows)
    for line in details(report):
        print("  - " + line.replace("**", ""))
    if opts.write_docs:
        DOC.parent.mkdir(parents=True, exist_ok=True)
        tmp = DOC.with_suffix(".md.tmp")
        tmp.write_text(render_doc(report, rows), encoding="utf-8")
        tmp.replace(DOC)
        say(f"wrote {DOC.relative_to(ROOT)}")
    say(f"finished in {report.seconds:.0f} s")
    return 1 if report.failures else 0


def main(argv: list[str] | None = None) -> int:
    return run(parse_options(argv))


if __name__ == "__main__":
    sys.exit(main())
