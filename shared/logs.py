"""Logs as JSON lines: each with the service, the trace and span it was written in, and the
case it is about — so a log line leads to the trace, and a case's lines can be found."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.tracing import case_of_log, current_ids


class JsonLines(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ids = current_ids()
        if ids:
            line["trace_id"], line["span_id"] = ids
        case = case_of_log.get()
        if case:
            line["case_id"] = case
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure(service: str, form: str) -> None:
    """The process's logging: JSON lines (or plain text for a person at a terminal)."""
    handler = logging.StreamHandler()
    if form == "json":
        handler.setFormatter(JsonLines(service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # kafka-python warns at every connection that SASL on a plaintext listener crosses the
    # wire unencrypted; the managed broker listens on the loopback only, and a cluster
    # across a network is reached with SASL_SSL (README, "A secured Kafka cluster").
    logging.getLogger("kafka.net.sasl").setLevel(logging.ERROR)
