"""How `onestop history` sums up the services' events for a reader, and that nothing a service
sends (a history, a refusal, a territory) reaches the terminal with its control characters."""

import json
import re

import pytest
import yaml

from services import cli
from services.cli import LOCAL, event_summary, render_timeline
from shared.settings import Settings


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


ESC = "\x1b[2J\x1b[31m"
"""What a hostile text would do to a terminal: clear the screen, turn the rest red."""
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
"""Control characters (a carriage return too) that must not reach the terminal."""
HISTORY = {
    "case_id": "c-1",
    "as_of": None,
    "case": {"status": "in-progress"},
    "integrity": {"verified": True, "entries": 1, "head_hash": "ab12", "broken_at": None},
    "events": [
        {
            "event_id": "e-1",
            "time": "2026-11-21T01:00:00+00:00",
            "service": "followup",
            "type": "onestop.followup.case.outcome-recorded.v1",
            "actor": {"user": f"li{ESC}", "role": "handler", "department": "ninghe-hrss"},
            "causation_id": None,
            "correlation_id": "corr",
            "data": {
                "round": 1,
                "form": "opinion",
                "opinion": "support",
                "summary": f"已解决{ESC}\rhash chain verified\x00",
            },
        }
    ],
}


class Answer:
    """What httpx.get returns, as much as the CLI reads of it."""

    def __init__(self, status: int, body: object, kind: str = "application/json") -> None:
        self.status_code = status
        self.text = json.dumps(body, ensure_ascii=False)
        self.headers = {"content-type": kind}
        self._body = body

    def json(self) -> object:
        return self._body


@pytest.fixture
def answering(monkeypatch):
    """The CLI's HTTP calls answered with `answer`; its settings without a secrets file."""
    monkeypatch.setattr(cli.Settings, "load", lambda: Settings(jwt_secret="s" * 40))

    def use(answer: Answer) -> None:
        monkeypatch.setattr(cli.httpx, "get", lambda *args, **kwargs: answer)

    return use


def test_a_timeline_shows_control_characters_as_escapes_never_raw():
    shown = render_timeline(HISTORY, LOCAL)
    assert not RAW.search(shown)
    assert "by li\\u001b[2J\\u001b[31m (handler, ninghe-hrss)" in shown
    assert "support — 已解决\\u001b[2J\\u001b[31m\\u000dhash chain verified\\u0000" in shown


def test_history_prints_nothing_raw_and_its_json_is_still_the_same_json(answering, capsys):
    answering(Answer(200, HISTORY))
    assert cli.main(["history", "c-1", "--token", "t"]) == 0
    assert not RAW.search(capsys.readouterr().out)
    assert cli.main(["history", "c-1", "--token", "t", "--json"]) == 0
    printed = capsys.readouterr().out
    assert not RAW.search(printed)
    assert json.loads(printed) == HISTORY


def test_a_refusal_from_a_service_is_printed_escaped(answering, capsys):
    problem = {"detail": f"no case{ESC}", "errors": [{"field": f"x{ESC}", "message": "m"}]}
    answering(Answer(404, problem, "application/problem+json"))
    assert cli.main(["history", "c-1", "--token", "t"]) == 1
    printed = capsys.readouterr().err
    assert not RAW.search(printed)
    assert "onestop: 404 no case\\u001b[2J" in printed


@pytest.mark.parametrize("form", ["json", "yaml"])
def test_an_exported_territory_prints_nothing_raw_and_reads_back_the_same(answering, capsys, form):
    territory = {"places": [{"code": "lutai", "name": f"芦台{ESC}\u2028\x85"}], "categories": []}
    answering(Answer(200, territory))
    assert cli.main(["territory", "export", "--format", form, "--token", "t"]) == 0
    printed = capsys.readouterr().out
    assert not RAW.search(printed)
    assert (json.loads(printed) if form == "json" else yaml.safe_load(printed)) == territory


def test_an_import_waits_until_intake_knows_every_place_of_the_tree_and_every_category(
    monkeypatch, tmp_path, capsys
):
    """Intake hears the territory from routing's events, places and categories apart: an
    import that came back once intake listed the top places (all it looked at) let the next
    registration be refused for an unknown category."""
    monkeypatch.setattr(cli.Settings, "load", lambda: Settings(jwt_secret="s" * 40))
    registered = {
        "places": [
            {"code": "ninghe", "places": [{"code": "lutai"}, {"code": "old", "active": False}]}
        ],
        "categories": [{"code": "labour-wages"}, {"code": "retired", "active": False}],
    }
    heard = {"places": [["ninghe"], ["ninghe", "lutai"]], "categories": [[], [], ["labour-wages"]]}
    asked = []

    def get(url: str, **_: object) -> Answer:
        if url.endswith("/v1/territory"):
            return Answer(200, registered)
        part = url.rsplit("/", 1)[1]
        asked.append(part)
        codes = heard[part][0] if len(heard[part]) == 1 else heard[part].pop(0)
        return Answer(200, [{"code": c} for c in codes])

    changed = {"changed": 3, "catalogue_version": "v1", "catalogue_changed": False}
    monkeypatch.setattr(cli.httpx, "get", get)
    monkeypatch.setattr(cli.httpx, "put", lambda *args, **kwargs: Answer(200, changed))
    monkeypatch.setattr(cli.time, "sleep", lambda _: None)
    (tmp_path / "t.yaml").write_text("places: []\n", encoding="utf-8")

    assert cli.main(["territory", "import", str(tmp_path / "t.yaml"), "--token", "t"]) == 0
    assert "intake knows the territory now" in capsys.readouterr().err
    # the places were heard at the second look, the category at the third (and the inactive
    # place and category were never waited for)
    assert heard == {"places": [["ninghe", "lutai"]], "categories": [["labour-wages"]]}
    assert asked.count("categories") == 3
