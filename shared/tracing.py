"""Traces: one registration is one trace, across intake → routing → follow-up.

OpenTelemetry spans, exported over OTLP when `ONESTOP_OTLP_ENDPOINT` is set (off by default:
then no span is recorded, but each still has its ids, which tag the logs and the records).
A trace crosses the services inside the events, in W3C trace context (`traceparent`) on
each Kafka record.

The ids are derived, not remembered: a conversation's trace id comes from its correlation id
(which every event of it carries), and each span's id from what it is about — the request,
the publication of an event, a service's handling of an event. So the relay, which publishes
an event long after the request that caused it and in another thread, still names the
request's (or the handling's) span as its parent, and a consumer names the publication's:
every hand-off of a case is a parent and a child in one trace.
"""

from __future__ import annotations

import contextvars
import hashlib
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import (
    INVALID_SPAN,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
)

_next_ids: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "onestop_next_span_ids", default=None
)
_current: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "onestop_current_span_ids", default=None
)
"""The trace and span id of the work going on, when spans are not recorded."""
case_of_log: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "onestop_case_id", default=None
)
"""The case the current work is about, for the logs."""

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_HEX32 = re.compile(r"[0-9a-f]{32}")


def trace_id_of(correlation_id: str) -> int:
    """The trace of a conversation: its correlation id, when it is a trace id already (32 hex
    digits, as the API makes them), or derived from it."""
    if _HEX32.fullmatch(correlation_id) and int(correlation_id, 16):
        return int(correlation_id, 16)
    return int(hashlib.sha256(correlation_id.encode()).hexdigest()[:32], 16) or 1


def span_id_of(*what: str) -> int:
    return int(hashlib.sha256(":".join(what).encode()).hexdigest()[:16], 16) or 1


def new_correlation_id() -> str:
    """A new conversation's id, usable as its trace id (not a secret: no system call)."""
    return f"{random.getrandbits(128) or 1:032x}"


def traceparent(trace_id: int, span_id: int) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-01"


def parse_traceparent(value: str) -> tuple[int, int] | None:
    found = _TRACEPARENT.fullmatch(value.strip().lower())
    if not found or not int(found[1], 16) or not int(found[2], 16):
        return None
    return int(found[1], 16), int(found[2], 16)


class _DerivedIds(IdGenerator):
    """The ids the next span gets, when the caller derived them; random ones otherwise."""

    def generate_trace_id(self) -> int:
        chosen = _next_ids.get()
        return chosen[0] if chosen else random.getrandbits(128) or 1

    def generate_span_id(self) -> int:
        chosen = _next_ids.get()
        return chosen[1] if chosen else random.getrandbits(64) or 1


def _remote(trace_id: int, span_id: int) -> Context:
    parent = SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
    )
    return trace.set_span_in_context(NonRecordingSpan(parent))


class Tracing:
    """A service's tracer (one per running service)."""

    def __init__(self, service: str, otlp_endpoint: str | None = None) -> None:
        self.service = service
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": f"onestop-{service}"}),
            id_generator=_DerivedIds(),
        )
        self.tracer = self.provider.get_tracer("onestop")
        self.recording = False
        """Whether spans are recorded (something exports them); when not, each span is only
        its derived ids, which is all the logs and the Kafka headers need."""
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            exporter = OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces")
            self.export(BatchSpanProcessor(exporter))

    def export(self, processor: SpanProcessor) -> None:
        """Record spans from now on and hand each, when it ends, to `processor`."""
        self.provider.add_span_processor(processor)
        self.recording = True

    def shutdown(self) -> None:
        self.provider.shutdown()

    @contextmanager
    def _span(
        self,
        name: str,
        kind: SpanKind,
        trace_id: int,
        span_id: int,
        parent: tuple[int, int] | None,
        attributes: dict[str, Any],
    ) -> Iterator[Span]:
        """A span with these ids, the child of the span `parent` names (another process's)."""
        if not self.recording:
            # Exported nowhere: only the ids, for the logs and the Kafka headers, in a context
            # variable of our own — the SDK's span was ~6 % of routing, and OpenTelemetry's
            # context switch around a span that records nothing another ~6 % of intake.
            token = _current.set((trace_id, span_id))
            try:
                yield INVALID_SPAN
            finally:
                _current.reset(token)
            return
        token = _next_ids.set((trace_id, span_id))
        try:
            context = _remote(*parent) if parent else None
            span = self.tracer.start_span(name, context, kind, attributes=attributes)
        finally:
            _next_ids.reset(token)
        with trace.use_span(span, end_on_exit=True) as current:
            yield current

    def request(self, correlation_id: str, name: str, incoming: str | None) -> Any:
        """The span of an HTTP request: the root of its conversation's trace, or the child
        of the caller's span when it sent a `traceparent`."""
        trace_id = trace_id_of(correlation_id)
        parent = None
        if incoming and (found := parse_traceparent(incoming)) and found[0] == trace_id:
            parent = found
        return self._span(
            name,
            SpanKind.SERVER,
            trace_id,
            span_id_of("request", correlation_id),
            parent,
            {"onestop.correlation_id": correlation_id},
        )

    def parent_of_event(self, correlation_id: str, causation_id: str | None) -> tuple[int, int]:
        """The span an event was raised in: its cause's handling by this service, or the
        request that began the conversation."""
        if causation_id:
            return trace_id_of(correlation_id), span_id_of("handle", self.service, causation_id)
        return trace_id_of(correlation_id), span_id_of("request", correlation_id)

    def publish(
        self,
        event_id: str,
        type_: str,
        case_id: str,
        correlation_id: str,
        causation_id: str | None,
    ) -> tuple[Any, str]:
        """The span of putting one event on the topic, and the `traceparent` its record
        carries (naming this span)."""
        trace_id, parent = self.parent_of_event(correlation_id, causation_id)
        span_id = span_id_of("publish", event_id)
        span = self._span(
            f"publish {type_}",
            SpanKind.PRODUCER,
            trace_id,
            span_id,
            (trace_id, parent),
            {"onestop.case_id": case_id, "onestop.event_id": event_id},
        )
        return span, traceparent(trace_id, span_id)

    def handle(
        self, event_id: str, type_: str, case_id: str, correlation_id: str, header: str | None
    ) -> Any:
        """The span of this service applying one consumed event: the child of its
        publication (from the record's `traceparent`, or derived when a record has none)."""
        trace_id = trace_id_of(correlation_id)
        found = parse_traceparent(header) if header else None
        if not found or found[0] != trace_id:
            found = (trace_id, span_id_of("publish", event_id))
        return self._span(
            f"handle {type_}",
            SpanKind.CONSUMER,
            trace_id,
            span_id_of("handle", self.service, event_id),
            found,
            {"onestop.case_id": case_id, "onestop.event_id": event_id},
        )


def current_ids() -> tuple[str, str] | None:
    """The current span's trace and span id, in hex, for the logs."""
    ids = _current.get()
    if ids is not None:
        return f"{ids[0]:032x}", f"{ids[1]:016x}"
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
