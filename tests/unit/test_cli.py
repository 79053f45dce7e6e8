"""How `onestop history` sums up the services' events for a reader."""

from services.cli import event_summary


def test_intake_decisions_and_repeats_read_as_sentences():
    decided = {
        "decision": "divert",
        "reason": "已进入执行程序",
        "diverted_to": "court",
        "notice_required": False,
    }
    assert (
        event_summary({"data": decided})
        == "divert → court — 已进入执行程序 (no written notice owed)"
    )
    accepted = {"decision": "accept", "reason": None, "diverted_to": None, "notice_required": True}
    assert event_summary({"data": accepted}) == "accept"
    classified = {
        "legal_class": "accusation",
        "litigation_related": False,
        "accused": "某城管中队",
        "classified_at": "2026-11-21T13:00:00Z",
    }
    assert event_summary({"data": classified}) == "accusation · accused: 某城管中队"
    repeated = {"outcome": "linked", "channel": "phone", "repeat_count": 2}
    assert event_summary({"data": repeated}) == "repeat #2 by phone: linked"


def test_routing_hand_offs_read_as_sentences():
    hrss = {"code": "ninghe-hrss", "name": "宁河区人社局"}
    objected = {"department": hrss, "role": "lead", "answer": "objected", "reason": "越权"}
    assert event_summary({"data": objected}) == "宁河区人社局 (lead) objected — 越权"
    meeting = {"chair": "张伟", "departments": ["a", "b"], "minutes": "m", "decisions": ["a leads"]}
    assert event_summary({"data": meeting}) == "joint meeting chaired by 张伟 with a, b: a leads"
    leader = {"level": "leader", "trigger": "leader", "reason": "包案", "leader": "lin"}
    assert event_summary({"data": leader}) == "escalated to leader (leader) — taken by lin: 包案"


def test_a_visit_after_the_case_reads_as_who_went_when_and_what_was_said():
    visited = {
        "kind": "visit",
        "visited_by": "芦台街道 王主任",
        "visited_at": "2027-03-02T02:00:00Z",
        "summary": "已复工，无新诉求",
        "recorded_at": "2027-03-02T08:00:00Z",
    }
    event = {"type": "onestop.followup.case.visit-recorded.v1", "data": visited}
    assert event_summary(event) == "visit by 芦台街道 王主任 on 2027-03-02 10:00: 已复工，无新诉求"
    called = {**visited, "kind": "return-call"}
    assert event_summary({**event, "data": called}).startswith("call back by 芦台街道 王主任 on ")
