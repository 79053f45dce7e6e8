"""A and B: raw PostgreSQL and raw Kafka, measured on the same machine as the services, so
that every OneStop figure stands beside what the engines under it can do."""

from __future__ import annotations

import glob
import os
import random
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from typing import Any

import orjson
import psycopg
from kafka import KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from bench.common import (
    PAYLOAD_BYTES,
    RAW_TOPIC,
    SCRATCH_SCHEMA,
    SINGLE_CLIENT_SECONDS,
    Options,
    kafka_options,
    say,
    summary_ms,
)
from bench.host import cpu_window
from bench.topics import Watcher, admin_client, partitions_of, plain_consumer
from shared.settings import Settings
from shared.store import conninfo


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
        settings.pg_address(),  # the way the services connect
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


def kafka_baseline(settings: Settings, opts: Options) -> dict[str, Any]:
    result: dict[str, Any] = {"records": opts.kafka_records, "bytes": PAYLOAD_BYTES}
    partitions = settings.topic_partitions
    admin = admin_client(settings)
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
        **kafka_options(settings),
        client_id="bench-raw",
        acks="all",
        linger_ms=2,
        max_in_flight_requests_per_connection=5,
        retries=5,
        request_timeout_ms=30_000,
    )


def _kafka_throughput(settings: Settings, opts: Options) -> dict[str, Any]:
    consumer = plain_consumer(settings, "bench-raw-reader")
    producer = _raw_producer(settings)
    try:
        parts = partitions_of(consumer, RAW_TOPIC)
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
