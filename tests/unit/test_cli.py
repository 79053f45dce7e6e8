"""How `onestop history` sums up intake's events for a reader."""

from services.cli import _summary


def test_intake_decisions_and_repeats_read_as_sentences():
    decided = {
        "decision": "divert",
        "reason": "已进入执行程序",
        "diverted_to": "court",
        "notice_required": False,
    }
    assert _summary({"data": decided}) == "divert → court — 已进入执行程序 (no written notice owed)"
    accepted = {"decision": "accept", "reason": None, "diverted_to": None, "notice_required": True}
    assert _summary({"data": accepted}) == "accept"
    classified = {
        "legal_class": "accusation",
        "litigation_related": False,
        "accused": "某城管中队",
        "classified_at": "2026-11-21T13:00:00Z",
    }
    assert _summary({"data": classified}) == "accusation · accused: 某城管中队"
    repeated = {"outcome": "linked", "channel": "phone", "repeat_count": 2}
    assert _summary({"data": repeated}) == "repeat #2 by phone: linked"


def test_routing_hand_offs_read_as_sentences():
    hrss = {"code": "ninghe-hrss", "name": "宁河区人社局"}
    objected = {"department": hrss, "role": "lead", "answer": "objected", "reason": "越权"}
    assert _summary({"data": objected}) == "宁河区人社局 (lead) objected — 越权"
    meeting = {"chair": "张伟", "departments": ["a", "b"], "minutes": "m", "decisions": ["a leads"]}
    assert _summary({"data": meeting}) == "joint meeting chaired by 张伟 with a, b: a leads"
    leader = {"level": "leader", "trigger": "leader", "reason": "包案", "leader": "lin"}
    assert _summary({"data": leader}) == "escalated to leader (leader) — taken by lin: 包案"
