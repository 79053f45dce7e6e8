import gc
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.followup.domain import (
    CaseHistory,
    Deadline,
    FollowUpCase,
    HistoryEntry,
    Rules,
    Unit,
    causal_order,
)
from services.followup.domain.vocabulary import DeadlineKind
from services.followup.policy import STANDARD
from shared.calendar import CHINA
from shared.domain import Actor, Trace
from shared.territory import Location

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LEAD = Unit("ninghe-hrss", "人社局")
RULES = Rules(STANDARD, CHINA)


def registered(case):
    case.note_registration(
        subject="欠薪",
        category="labour-wages",
        location=Location("lutai", ("ninghe", "lutai")),
        registered_at=T0,
        first_receiver="alice",
        trace=Trace("c", "i:1"),
        rules=RULES,
    )


def assigned(case):
    case.note_assignment(
        lead=LEAD,
        co_handlers=[],
        assigned_at=T0 + timedelta(seconds=2),
        trace=Trace("c", "r:1"),
        rules=RULES,
    )


def test_registration_starts_the_15_day_notice_and_assignment_the_13710_clocks():
    case = FollowUpCase.open(uuid4())
    registered(case)
    assigned(case)
    due = {d.kind: d.due_at for d in case.deadlines}
    assert due["acceptance-notice"] == T0 + timedelta(days=15)
    assert due["handling-plan"] == T0 + timedelta(days=1, seconds=2)
    assert due["first-report"] == T0 + timedelta(days=3, seconds=2)
    assert case.status == "assigned"


def test_status_does_not_depend_on_which_topic_arrived_first():
    first, second = FollowUpCase.open(uuid4()), FollowUpCase.open(uuid4())
    registered(first)
    assigned(first)
    assigned(second)
    assert second.status == "assigned"
    registered(second)
    assert first.status == second.status == "assigned"
    assert len(first.deadlines) == len(second.deadlines) == 4


def test_deadlines_turn_overdue_when_their_time_passes():
    case = FollowUpCase.open(uuid4())
    assigned(case)
    states = {d.kind: d.state_at(T0 + timedelta(days=2)) for d in case.deadlines}
    assert states == {"handling-plan": "overdue", "first-report": "open", "resolution": "open"}


def entry(event_id, seconds, cause=None):
    return HistoryEntry(
        event_id=event_id,
        service="s",
        type="t",
        time=T0 + timedelta(seconds=seconds),
        actor=Actor("u", "clerk"),
        correlation_id="c",
        causation_id=cause,
        data={"n": seconds},
    )


def test_a_history_verifies_and_ignores_an_event_delivered_twice():
    history = CaseHistory.start(uuid4())
    assert history.record(entry("a", 0))
    assert history.record(entry("b", 1, "a"))
    assert not history.record(entry("a", 0))
    result = history.verify()
    assert result.verified and result.entries == 2


def test_an_altered_entry_breaks_the_hash_chain_at_that_entry():
    history = CaseHistory.start(uuid4())
    for i in range(3):
        history.record(entry(str(i), i))
    altered = history.entries[1]
    history.entries[1] = replace(altered, entry=replace(altered.entry, data={"n": 99}))
    result = history.verify()
    assert not result.verified
    assert result.broken_at == 1


@pytest.mark.parametrize(
    "data",
    [
        {"n": 1e16, "small": 5e-324, "ok": 0.5},  # floats orjson writes otherwise ("1e16")
        {"big": 2**70},  # beyond orjson's integers
        {"at": T0, "not json": {1, 2}},  # values hashed by their str()
        {"nul": "a\x00b\u2028c", "控制": "\x1f", "emoji": "😀"},
    ],
)
def test_entries_whatever_their_data_verify_as_recorded_and_fail_when_altered(data):
    """A history read checks each entry's hash over orjson's text first (fast) and over
    the definition's when that differs: either way it verifies an entry as recorded, and
    an altered one fails at that entry."""
    history = CaseHistory.start(uuid4())
    history.record(entry("a", 0))
    history.record(replace(entry("b", 1), data=data))
    history.record(entry("c", 2))
    assert history.verify().verified
    b = history.entries[1]
    history.entries[1] = replace(b, entry=replace(b.entry, data={**data, "x": 1}))
    result = history.verify()
    assert (result.verified, result.broken_at) == (False, 1)


def test_nothing_comes_before_its_cause_even_with_a_skewed_clock():
    history = CaseHistory.start(uuid4())
    for recorded in (entry("effect", 0, cause="cause"), entry("cause", 5), entry("later", 9)):
        history.record(recorded)
    ordered = causal_order(history.entries)
    assert [e.entry.event_id for e in ordered] == ["cause", "effect", "later"]


def test_causes_come_first_through_long_chains_and_loops_and_leave_no_reference_cycle():
    """A chain of 3,000 causes (deeper than Python's recursion allows), a loop of two
    events naming each other, one naming itself: each placed once, causes first; and the
    ordering leaves nothing that only the garbage collector could free (a recursive closure
    did: every link of the history, after every read)."""
    history = CaseHistory.start(uuid4())
    chain = [entry(f"e{i}", 3000 - i, cause=f"e{i - 1}" if i else None) for i in range(3000)]
    loop = [entry("x", 1, cause="y"), entry("y", 2, cause="x"), entry("self", 0, cause="self")]
    for recorded in chain + loop:
        history.record(recorded)
    gc.collect()
    gc.disable()
    try:
        ordered = [link.entry.event_id for link in causal_order(history.entries)]
        assert gc.collect() == 0
    finally:
        gc.enable()
    # by time: "self" (0), then e2999 (1), whose causes reach back to e0, then x (1),
    # whose cause y (2) comes first — and y's cause, x, closes the loop
    assert ordered == ["self", *(f"e{i}" for i in range(3000)), "y", "x"]


def test_deadlines_stored_before_they_had_ids_still_fire():
    """Data of the walking skeleton: deadlines without id, reminder or department."""
    case = FollowUpCase.open(uuid4())
    case.trigger_event(
        FollowUpCase.DeadlinesScheduled,
        deadlines=[
            Deadline(
                kind=DeadlineKind.HANDLING_PLAN,
                starts_at=T0,
                due_at=T0 + timedelta(days=1),
                rule="13710",
                legal_basis="13710 工作法",
            )
        ],
        actor={"user": "service:followup", "role": "system", "department": None},
        correlation_id="c",
        causation_id=None,
    )
    assert case.next_alarm() == T0 + timedelta(days=1)
    assert case.fire(T0 + timedelta(days=2), Trace("c")) == 1
    assert case.fire(T0 + timedelta(days=3), Trace("c")) == 0
    [deadline] = case.deadlines
    assert (deadline.id, deadline.state_at(T0 + timedelta(days=3))) == (
        "handling-plan#1",
        "overdue",
    )
