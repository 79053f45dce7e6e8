"""One registration is one trace: the request's span, the relay's publication of each event
(whose `traceparent` rides on the Kafka record), each service's handling of it, and the
events that handling raises — parent and child all the way, in one trace id that is the
conversation's correlation id. Logs carry the trace and the case."""

from __future__ import annotations

import io
import json
import logging

from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.intake import api as intake_api
from services.intake import wire as intake_wire
from services.intake.application import IntakeApplication
from services.routing import wire as routing_wire
from services.routing.application import RoutingApplication
from shared.auth import issue_token
from shared.envelope import CloudEvent
from shared.logs import JsonLines
from shared.service import Runtime, create_api
from shared.settings import Settings
from shared.tracing import Tracing, case_of_log, parse_traceparent
from tests.territory import seeded
from tests.unit.test_api import EXAMPLE

SETTINGS = Settings(jwt_secret="s" * 40)


def recording(tracing: Tracing) -> InMemorySpanExporter:
    spans = InMemorySpanExporter()
    tracing.export(SimpleSpanProcessor(spans))
    return spans


def published(app, wire, after: int = 0) -> list[CloudEvent]:
    found = []
    for n in app.recorder.select_notifications(start=after, limit=1000, inclusive_of_start=False):
        event = wire.to_cloudevent(app.mapper.to_domain_event(n))
        if event is not None and event.type.startswith(("onestop.intake", "onestop.routing.case")):
            found.append(event)
    return found


def test_a_registration_is_one_trace_from_the_request_through_routing():
    intake = seeded(IntakeApplication())
    before = intake.recorder.max_notification_id() or 0
    api = create_api(
        lambda: Runtime("intake", SETTINGS, intake),
        SETTINGS,
        title="t",
        description="d",
        routers=[intake_api.router],
    )
    token = issue_token(SETTINGS, "alice", "clerk")
    with TestClient(api) as client:
        request_spans = recording(client.app.state.tracing)
        answer = client.post(
            "/v1/cases", json=EXAMPLE, headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 201
    correlation = answer.headers["x-correlation-id"]
    trace_id = int(correlation, 16)  # the conversation's id is its trace's
    [request] = request_spans.get_finished_spans()
    assert (request.name, request.kind) == ("POST /v1/cases", SpanKind.SERVER)
    assert request.context.trace_id == trace_id and request.parent is None

    # intake's relay publishes the registration in a span whose parent is the request's
    intake_tracing = Tracing("intake")
    publications = recording(intake_tracing)
    [registered] = published(intake, intake_wire, before)
    span, header = intake_tracing.publish(
        registered.id, registered.type, registered.subject, registered.correlation_id, None
    )
    with span:
        pass
    [publication] = publications.get_finished_spans()
    assert publication.parent.span_id == request.context.span_id
    assert parse_traceparent(header) == (trace_id, publication.context.span_id)

    # routing handles the record as the child of that publication, and what it raises is
    # published as the child of its handling
    routing = seeded(RoutingApplication())
    before = routing.recorder.max_notification_id() or 0
    routing_tracing = Tracing("routing")
    routing_spans = recording(routing_tracing)
    with routing_tracing.handle(
        registered.id, registered.type, registered.subject, registered.correlation_id, header
    ):
        routing.handle(CloudEvent.from_json(registered.to_json()), Tracking("kafka:t:0", 1))
    [assigned] = published(routing, routing_wire, before)
    span, _ = routing_tracing.publish(
        assigned.id, assigned.type, assigned.subject, assigned.correlation_id, assigned.causation_id
    )
    with span:
        pass
    handling, republication = routing_spans.get_finished_spans()
    assert handling.kind == SpanKind.CONSUMER
    assert handling.parent.span_id == publication.context.span_id
    assert republication.parent.span_id == handling.context.span_id
    assert {s.context.trace_id for s in (handling, republication)} == {trace_id}
    assert handling.attributes["onestop.case_id"] == registered.subject


def test_a_caller_s_trace_context_is_continued_and_its_trace_id_becomes_the_correlation_id():
    intake = seeded(IntakeApplication())
    api = create_api(
        lambda: Runtime("intake", SETTINGS, intake),
        SETTINGS,
        title="t",
        description="d",
        routers=[intake_api.router],
    )
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with TestClient(api) as client:
        spans = recording(client.app.state.tracing)
        answer = client.get("/v1/categories", headers={"traceparent": parent, "Authorization": "x"})
        bad = client.get("/health/live", headers={"traceparent": "00-zz-\x01"})
    assert answer.headers["x-correlation-id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert bad.status_code == 200 and len(bad.headers["x-correlation-id"]) == 32
    first = spans.get_finished_spans()[0]
    assert first.parent.span_id == 0x00F067AA0BA902B7


def test_a_log_line_is_json_with_the_service_the_trace_and_the_case():
    tracing = Tracing("routing")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines("routing"))
    log = logging.getLogger("onestop.test.logs")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    token = case_of_log.set("0b7d3f7e-5a52-4c1e-9d55-4a3f1f6a0c11")
    try:
        with tracing.handle("intake:x:1", "onestop.intake.case.registered.v2", "c", "a" * 32, None):
            log.info("routed %s", "a case")
    finally:
        case_of_log.reset(token)
        log.removeHandler(handler)
    line = json.loads(out.getvalue())
    assert line["message"] == "routed a case" and line["service"] == "routing"
    assert line["trace_id"] == "a" * 32 and len(line["span_id"]) == 16
    assert line["case_id"] == "0b7d3f7e-5a52-4c1e-9d55-4a3f1f6a0c11"


def test_with_no_exporter_no_span_is_recorded_but_the_ids_still_reach_logs_and_records():
    """Off by default: the SDK's spans cost a sixteenth of a consumer's time and go nowhere;
    the derived ids are what the logs and the next service read."""
    from shared.tracing import current_ids, span_id_of, trace_id_of

    tracing = Tracing("routing")
    correlation = "ab" * 16
    with tracing.request(correlation, "POST /v1/cases", None) as span:
        assert not span.is_recording()
        assert current_ids() == (correlation, f"{span_id_of('request', correlation):016x}")
    span, header = tracing.publish("intake:c:1", "case.registered", "c", correlation, None)
    with span:
        assert parse_traceparent(header) == (
            trace_id_of(correlation),
            span_id_of("publish", "intake:c:1"),
        )
    assert current_ids() is None  # nothing left current after the span
