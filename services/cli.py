"""`onestop` — run a service, mint a token, manage Open311 keys, read a case's history,
import and export the territory, rotate keys, provision Kafka, rebuild the read models,
verify a case's dossier offline.

Whatever it prints that came from a service or a store (a history, a refusal, a territory,
a key's name) goes through `shared.guard.escaped`: a control character stored in a text
shows as its `\\uXXXX` escape, and never reaches the terminal to recolour, move or erase
what the reader sees."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx

from shared.auth import CALLER_ROLES, issue_token
from shared.calendar import local_minute
from shared.guard import escaped
from shared.projection import Projector
from shared.settings import SERVICES, ServiceName, Settings
from shared.territory import Location


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="onestop", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve", help="run one service (HTTP API, relay and consumer), or the console"
    )
    serve.add_argument("service", choices=(*SERVICES, "console"))

    token = commands.add_parser("token", help="print a development bearer token")
    token.add_argument("--user", required=True)
    token.add_argument("--role", required=True, choices=CALLER_ROLES)
    token.add_argument("--department")
    token.add_argument("--hours", type=float, default=12.0)

    history = commands.add_parser("history", help="print a case's history as a timeline")
    history.add_argument("case_id")
    history.add_argument("--as-of", help="ISO-8601 time with offset: the case as it stood then")
    history.add_argument("--token", help="bearer token (default: a fresh auditor token)")
    history.add_argument("--json", action="store_true", help="print the raw JSON")

    verify = commands.add_parser(
        "verify",
        help="check a case's dossier offline (no database, no network): its hash chain, its "
        "seal, and the inclusion proof against follow-up's signed checkpoint",
    )
    verify.add_argument("dossier", help="the dossier's JSON, as GET /v1/cases/{id}/dossier gave it")
    verify.add_argument(
        "--fingerprint",
        help="the fingerprint of follow-up's published key (GET /v1/evidence/public-key) the "
        "dossier must be signed with",
    )
    verify.add_argument(
        "--checkpoints",
        metavar="DIR",
        help="the folder of checkpoints you archived as follow-up published them (its "
        "<sequence>.json files, or records of its checkpoint topic saved one per file): each "
        "must be signed by the dossier's key and name the one before, and the dossier's "
        "checkpoint must be the one archived under its number",
    )

    keys = commands.add_parser("api-key", help="issue, revoke or list Open311 API keys")
    key_commands = keys.add_subparsers(dest="key_command", required=True)
    create = key_commands.add_parser("create", help="issue a key (printed once, stored hashed)")
    create.add_argument("--name", required=True, help="who the key is for, e.g. city-app")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its name")
    revoke.add_argument("name")
    key_commands.add_parser("list", help="list keys and whether they are live")

    territory = commands.add_parser(
        "territory",
        help="import or export the centre's territory: places, tiers, departments, queue lines "
        "and windows, categories, statistics definitions and dispatch rules",
    )
    territory_commands = territory.add_subparsers(dest="territory_command", required=True)
    load = territory_commands.add_parser(
        "import", help="check a territory file (YAML or JSON) in full, then apply it at once"
    )
    load.add_argument("file")
    load.add_argument("--dry-run", action="store_true", help="check only; change nothing")
    load.add_argument(
        "--if-empty",
        action="store_true",
        help="only if no place or no category is registered yet (first start, or an upgrade "
        "from a release that kept them in code)",
    )
    load.add_argument("--token", help="bearer token (default: a fresh admin token)")
    dump = territory_commands.add_parser("export", help="print the territory as a file")
    dump.add_argument("--format", choices=("yaml", "json"), default="yaml")
    dump.add_argument("--token", help="bearer token (default: a fresh auditor token)")

    keys = commands.add_parser("keys", help="the keys personal data is sealed with")
    key_actions = keys.add_subparsers(dest="keys_command", required=True)
    key_actions.add_parser(
        "reencrypt",
        help="rewrite what older keys of the data keyring sealed under the newest "
        "(after deploy/scripts/secrets.sh rotate-data-key and a restart)",
    )

    kafka = commands.add_parser("kafka", help="the Kafka cluster the services use")
    kafka_actions = kafka.add_subparsers(dest="kafka_command", required=True)
    provision = kafka_actions.add_parser(
        "provision",
        help="as the operator (ONESTOP_KAFKA_ADMIN_*): the services' SCRAM users, every "
        "topic, and the ACLs that let each service write only its own topics (idempotent)",
    )
    provision.add_argument(
        "--no-users",
        action="store_true",
        help="the cluster's users are managed elsewhere: only topics and ACLs",
    )

    projections = commands.add_parser("projections", help="the read models kept from the logs")
    projection_actions = projections.add_subparsers(dest="projections_command", required=True)
    rebuild = projection_actions.add_parser(
        "rebuild",
        help="throw a service's read models away and make them again from its log (intake's "
        "case index, routing's inboxes, follow-up's ledger and chain heads); safe while the "
        "services run, though their listings are partial until it ends",
    )
    rebuild.add_argument("service", choices=(*SERVICES, "all"))

    args = parser.parse_args(argv)
    if args.command == "verify":
        return _verify(args.dossier, args.fingerprint, args.checkpoints)
    settings = Settings.load()
    if args.command == "projections":
        return _rebuild(settings, args.service)
    if args.command == "kafka":
        return _provision(settings, users=not args.no_users)
    if args.command == "keys":
        return _reencrypt(settings)
    if args.command == "api-key":
        return _api_key(settings, args)
    if args.command == "territory":
        return _territory(settings, args)
    if args.command == "serve":
        return _serve(settings, args.service)
    if args.command == "token":
        from datetime import timedelta

        print(
            issue_token(
                settings, args.user, args.role, args.department, ttl=timedelta(hours=args.hours)
            )
        )
        return 0
    return _history(settings, args)


def _verify(path: str, trusted: str | None, archived: str | None) -> int:
    """Exit 0 only if every check holds; each failure is printed with where it is."""
    import json
    from pathlib import Path

    from shared.evidence import verify_dossier

    archive: list[dict[str, Any]] | None = None
    reading = Path(path)
    try:
        raw = reading.read_bytes()
        if archived is not None:
            archive = []
            for reading in sorted(Path(archived).glob("*.json")):
                if reading.stem.isdigit():
                    archive.append(json.loads(reading.read_bytes()))
    except (OSError, ValueError) as error:
        print(f"onestop: cannot read {reading}: {error}", file=sys.stderr)
        return 2
    check = verify_dossier(raw, trusted, archive)
    print(f"dossier of case {check.case_id or '?'}")
    print(f"  signed with key {check.fingerprint or '?'}")
    if not trusted:
        print("  (compare it with the key follow-up publishes, or pass --fingerprint)")
    for note in check.notes:
        print(f"  note: {note}")
    for failure in check.failures:
        print(f"  FAILED: {failure}")
    print("VERIFIED" if check.verified else f"NOT VERIFIED: {len(check.failures)} problem(s)")
    return 0 if check.verified else 1


def _rebuild(settings: Settings, which: str) -> int:
    for service in SERVICES if which == "all" else (which,):
        for projector in _projectors(settings, service):
            started = time.monotonic()
            label = f"{service} ({projector.name})"

            def progress(position: int, last: int, label: str = label) -> None:
                print(f"\r{label}: {position:,} of {last:,} notifications", end="", file=sys.stderr)

            position = projector.rebuild(progress)
            print(
                f"\r{label}: rebuilt to notification {position:,} "
                f"in {time.monotonic() - started:.1f} s",
                file=sys.stderr,
            )
    return 0


def _projectors(settings: Settings, service: str) -> list[Projector]:
    """A service's application on its store, for its projections only (no Kafka, no HTTP)."""
    from shared.migrations import migrate
    from shared.store import eventsourcing_env

    if service == "intake":
        from services.intake.bootstrap import build_application

        return [build_application(settings).index.projector]
    if service == "routing":
        from services.routing.application import RoutingApplication
        from services.routing.bootstrap import MIGRATIONS as ROUTING
        from services.routing.inbox import PostgresInbox

        migrate(settings, "routing", *ROUTING)
        routing = RoutingApplication(
            eventsourcing_env(settings, "routing"), inbox=PostgresInbox(settings)
        )
        return [routing.inbox.projector]
    from services.followup.application import FollowUpApplication
    from services.followup.bootstrap import MIGRATIONS as FOLLOWUP
    from services.followup.checkpoints import PostgresHeads, chain_heads
    from services.followup.ledger import PostgresLedger

    migrate(settings, "followup", *FOLLOWUP)
    followup = FollowUpApplication(
        eventsourcing_env(settings, "followup"), ledger=PostgresLedger(settings)
    )
    return [followup.ledger.projector, chain_heads(followup, PostgresHeads(settings))]


def _provision(settings: Settings, *, users: bool) -> int:
    from shared.kafka_access import provision

    done = provision(settings, users=users)
    print(
        f"users: {', '.join(done.users) or 'left as they are'}; "
        f"topics created: {', '.join(done.topics_created) or 'none (all there)'}; "
        f"ACLs in place: {done.acls}"
    )
    return 0


def _serve(settings: Settings, service: ServiceName | Literal["console"]) -> int:
    import uvicorn

    from shared.logs import configure

    configure(service, settings.log_format)
    import shared.service

    shared.service.SETTLE_HEAP = True
    console = service == "console"
    uvicorn.run(
        "services.console.app:create_app"
        if console
        else f"services.{service}.bootstrap:create_app",
        factory=True,
        host=settings.http_host,
        port=settings.console_port if console else settings.port_of(service),  # type: ignore[arg-type]
        log_level="info",
        log_config=None,  # the process's logging (JSON lines), not uvicorn's own
        access_log=False,
    )
    return 0


def _api_key(settings: Settings, args: argparse.Namespace) -> int:
    """Keys live in intake's event store, so this works whether or not intake is running."""
    import getpass

    from services.intake.bootstrap import build_application
    from services.intake.commands import IssueApiKey, RevokeApiKey
    from shared.domain import DomainError

    app = build_application(settings)
    operator = f"cli:{getpass.getuser()}"
    try:
        if args.key_command == "create":
            secret = app.issue_api_key(IssueApiKey(args.name), operator)
            print(secret)
            print(
                f"issued key {args.name!r}; it is shown only now — send it as the Open311 "
                "api_key form field",
                file=sys.stderr,
            )
        elif args.key_command == "revoke":
            app.revoke_api_key(RevokeApiKey(args.name), operator)
            print(f"revoked key {args.name!r}", file=sys.stderr)
        else:
            for name, key in sorted(app.api_keys().items()):
                state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "live"
                issued = f"issued {key.issued_at:%Y-%m-%d %H:%M} by {key.issued_by}"
                print(escaped(f"{name:<30} {issued:<45} {state}"))
    except DomainError as error:
        print(escaped(f"onestop: {error}"), file=sys.stderr)
        return 1
    finally:
        app.close()
    return 0


def _territory(settings: Settings, args: argparse.Namespace) -> int:
    """Through routing's API, which owns the registry; intake and follow-up hear the changes
    from routing's events, so an import waits until intake knows the places it registered."""
    import json
    import time

    import yaml

    role = "admin" if args.territory_command == "import" else "auditor"
    headers = {"Authorization": f"Bearer {args.token or issue_token(settings, 'cli', role)}"}
    url = f"{settings.url_of('routing')}/v1/territory"
    try:
        if args.territory_command == "export":
            response = httpx.get(url, headers=headers, timeout=30)
            if response.status_code != 200:
                return _failed(response)
            data = response.json()
            if args.format == "json":
                print(escaped(json.dumps(data, ensure_ascii=False, indent=2)))
            else:
                print(escaped(yaml.safe_dump(data, allow_unicode=True, sort_keys=False)), end="")
            return 0
        try:
            with open(args.file, encoding="utf-8") as file:
                document = yaml.safe_load(file)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            print(f"onestop: cannot read {args.file}: {error}", file=sys.stderr)
            return 1
        if args.if_empty:
            current = httpx.get(url, headers=headers, timeout=30)
            if current.status_code == 200 and all(
                current.json()[part] for part in ("places", "categories")
            ):
                print("a territory is registered already; not importing", file=sys.stderr)
                return 0
        response = httpx.put(
            url,
            json=document,
            params={"dry_run": str(args.dry_run).lower()},
            headers=headers,
            timeout=120,
        )
        if response.status_code != 200:
            return _failed(response)
        result = response.json()
        verb = "would change" if args.dry_run else "changed"
        catalogue = result["catalogue_version"]
        if result["catalogue_changed"]:
            catalogue += " (published now)" if not args.dry_run else " (would be published)"
        changed = f"{verb} {result['changed']} entries; dispatch catalogue {catalogue}"
        print(escaped(f"{args.file}: {changed}"))
        if args.dry_run:
            return 0
        registered = httpx.get(url, headers=headers, timeout=30).json()
        wanted = {
            "places": _active_codes(registered["places"]),
            "categories": _active_codes(registered["categories"]),
        }
        intake = settings.url_of("intake")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(
                codes <= _codes_heard(f"{intake}/v1/{part}", headers)
                for part, codes in wanted.items()
            ):
                print("intake knows the territory now", file=sys.stderr)
                return 0
            time.sleep(0.2)
        print("onestop: intake has not heard the territory yet (is it running?)", file=sys.stderr)
        return 1
    except httpx.HTTPError as error:
        print(f"onestop: cannot reach {error.request.url}: {error}", file=sys.stderr)
        return 2


def _active_codes(entries: list[dict[str, Any]]) -> set[str]:
    """The codes of a territory export's places (a tree: each with its `places`) or
    categories that are in use."""
    codes: set[str] = set()
    for entry in entries:
        if entry.get("active", True):
            codes.add(entry["code"])
        codes |= _active_codes(entry.get("places", []))
    return codes


def _codes_heard(url: str, headers: dict[str, str]) -> set[str]:
    """The codes intake lists at `url` (its places or categories); none while it cannot say."""
    heard = httpx.get(url, headers=headers, timeout=10)
    return {entry["code"] for entry in heard.json()} if heard.status_code == 200 else set()


def _reencrypt(settings: Settings) -> int:
    """Every stored event of intake (the one service that seals personal data) read with the
    keyring and, if an older key sealed it, written again under the newest; in batches, each
    its own transaction, safe while the services run (a stored event's body is all that
    changes, and it decrypts to the same bytes). Then each petitioner's own key, wrapped by
    the keyring, is wrapped again under the newest."""
    from eventsourcing.utils import Environment

    from shared.cipher import FastAESCipher
    from shared.keys import Keys
    from shared.store import connect

    cipher = FastAESCipher(Environment(env={"CIPHER_KEY": Keys.of(settings).data_keyring}))
    table = "intake.intake_events"
    rewritten = seen = 0
    last = 0
    with connect(settings, autocommit=False) as conn:
        while True:
            rows = conn.execute(
                f"SELECT notification_id, state FROM {table} WHERE notification_id > %s "
                "ORDER BY notification_id LIMIT 1000",
                (last,),
            ).fetchall()
            if not rows:
                break
            for notification_id, state in rows:
                again = cipher.reencrypt(bytes(state))
                if again is not None:
                    conn.execute(
                        f"UPDATE {table} SET state = %s WHERE notification_id = %s",
                        (again, notification_id),
                    )
                    rewritten += 1
            conn.commit()
            seen += len(rows)
            last = rows[-1][0]
            print(f"\r{seen} events read, {rewritten} sealed again", end="", file=sys.stderr)
    from services.intake.erasure import PostgresPersonKeys

    person_keys = PostgresPersonKeys(settings, cipher)
    try:
        rewrapped, keys = person_keys.rewrap()
    finally:
        person_keys.close()
    print(
        f"\n{table}: {rewritten} of {seen} events now sealed with key {cipher.current}; "
        f"intake.person_keys: {rewrapped} of {keys} petitioners' keys wrapped again with it; "
        "keys older than it can be dropped from ONESTOP_DATA_KEYS",
        file=sys.stderr,
    )
    return 0


def _failed(response: httpx.Response) -> int:
    """Print a refusal the way a person reads it: every problem with its field."""
    body = response.json() if "json" in response.headers.get("content-type", "") else {}
    detail = escaped(str(body.get("detail", response.text)))
    print(f"onestop: {response.status_code} {detail}", file=sys.stderr)
    for problem in body.get("errors", []):
        print(escaped(f"  {problem.get('field')}: {problem.get('message')}"), file=sys.stderr)
    return 1


def _history(settings: Settings, args: argparse.Namespace) -> int:
    token = args.token or issue_token(settings, "cli-auditor", "auditor")
    params = {"as_of": args.as_of} if args.as_of else {}
    url = f"{settings.url_of('followup')}/v1/cases/{args.case_id}/history"
    try:
        response = httpx.get(
            url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
    except httpx.HTTPError as error:
        print(f"onestop: cannot reach follow-up at {url}: {error}", file=sys.stderr)
        return 2
    if response.status_code != 200:
        return _failed(response)
    if args.json:
        print(escaped(response.text))  # inside JSON strings, still the same JSON
        return 0
    print(render_timeline(response.json(), ZoneInfo(settings.timezone)))
    return 0


def render_timeline(history: dict[str, Any], zone: ZoneInfo) -> str:
    """A history as a human reads it: one block per event, oldest first; its texts escaped
    (see the module docstring)."""
    integrity = history["integrity"]
    check = (
        "hash chain verified"
        if integrity["verified"]
        else f"HASH CHAIN BROKEN at entry {integrity['broken_at']}: {integrity['problem']}"
    )
    case = history.get("case") or {}
    lines = [
        f"Case {history['case_id']}" + (f" as of {history['as_of']}" if history["as_of"] else ""),
        f"  status: {case.get('status', '?')}   events: {integrity['entries']}   {check}",
        f"  head hash: {integrity['head_hash']}",
    ]
    signed = integrity.get("checkpoint")
    if signed:
        lines.append(
            f"  checkpoint {signed['sequence']} ({signed['signed_at']}): entries "
            f"1–{signed['entries']} "
            + ("as signed" if signed["matches"] else f"DO NOT MATCH: {signed['problem']}")
        )
    lines.append("")
    numbers = {e["event_id"]: i for i, e in enumerate(history["events"], 1)}
    for i, event in enumerate(history["events"], 1):
        when = (
            datetime.fromisoformat(event["time"])
            .astimezone(zone)
            .strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        )
        actor = event["actor"]
        who = (
            actor["user"]
            + f" ({actor['role']}"
            + (f", {actor['department']})" if actor.get("department") else ")")
        )
        cause = event.get("causation_id")
        by_clock = str(event.get("correlation_id", "")).startswith("clock:")
        because = (
            f"#{numbers[cause]}"
            if cause in numbers
            else (cause or ("the clock" if by_clock else "a request"))
        )
        lines.append(f"#{i:<3} {when}  {event['service']:<9} {_short_type(event['type'])}")
        lines.append(f"      by {who}; caused by {because}")
        lines.append(f"      {event_summary(event, zone)}")
    return escaped("\n".join(lines))


def _short_type(type_: str) -> str:
    parts = type_.split(".")
    return ".".join(parts[2:]) if len(parts) > 3 else type_


def _followup_sentence(name: str, d: dict[str, Any], zone: ZoneInfo) -> str | None:
    """Follow-up's events as sentences (times in the centre's local time)."""
    at = lambda key: local_minute(d[key], zone)  # noqa: E731
    unit = d.get("department") or "?"
    if name == "deadlines.scheduled":
        return "; ".join(
            f"{x['kind']} due {local_minute(x['due_at'], zone)}"
            + (f" ({x['department']})" if x.get("department") else "")
            for x in d["deadlines"]
        )
    sentences: dict[str, Any] = {
        "deadlines.met": lambda: f"met: {', '.join(d['deadlines'])}",
        "deadlines.superseded": lambda: (
            f"no longer running: {', '.join(d['deadlines'])} — {d['reason']}"
        ),
        "deadline.reminder": lambda: (
            f"reminder to {d.get('responsible') or unit}: {d['kind']} due {at('due_at')}"
        ),
        "case.overdue": lambda: (
            f"OVERDUE: {d['deadline']} was due {at('due_at')} ({unit})"
            + (" — escalate" if d.get("escalate", True) else "")
        ),
        "case.supervision-notice": lambda: (
            f"supervision notice no. {d['number']} to {unit}"
            + (" (automatic)" if d["automatic"] else "")
            + f": {d['text']}"
        ),
        "clocks.paused": lambda: f"clocks paused ({d['reason']}): {', '.join(d['deadlines'])}",
        "clocks.resumed": lambda: (
            f"clocks resumed after {d['paused_seconds'] / 3600:.1f} h; "
            + "; ".join(
                f"{x['kind']} now due {local_minute(x['due_at'], zone)}" for x in d["deadlines"]
            )
        ),
        "deadline.extended": lambda: (
            f"{d['deadline']} extended ({d['period']}) to {at('due_at')}, approved by "
            f"{d['approved_by']}: {d['reason']}"
        ),
        "case.handling-reported": lambda: (
            f"{d['kind']}{' (major matter)' if d.get('major') else ''}: {d['summary']}"
            + (f" — by {at('target')}" if d.get("target") else "")
        ),
        "case.outcome-recorded": lambda: (
            f"outcome, round {d['round']}: "
            + (d["opinion"] if d["form"] == "opinion" else "mediation/settlement agreement")
            + f" — {d['summary']}"
        ),
        "case.satisfaction-recorded": lambda: (
            f"{d['source']}: {d['satisfaction']} (round {d['round']})"
            + (f" — {d['notes']}" if d["notes"] else "")
        ),
        "case.reopened": lambda: f"reopened for round {d['round']}: {d['reason']}",
        "case.cease-commitment-recorded": lambda: f"cease-petition commitment: {d['note']}",
        "case.closed-out": lambda: f"closed out — {d['basis']}",
        "case.review-requested": lambda: f"{d['level']} requested of {d['organ']}: {d['reason']}",
        "case.review-decided": lambda: f"{d['level']} decided: {d['decision']} — {d['summary']}",
        "case.final": lambda: f"final: {d['summary']}",
        "case.visit-recorded": lambda: (
            f"{'visit' if d['kind'] == 'visit' else 'call back'} by {d['visited_by']} on "
            f"{at('visited_at')}: {d['summary']}"
        ),
    }
    describe = sentences.get(name)
    return describe() if describe else None


LOCAL = ZoneInfo("Asia/Shanghai")


def event_summary(event: dict[str, Any], zone: ZoneInfo = LOCAL) -> str:
    data = event["data"]
    if event.get("type", "").startswith("onestop.followup."):
        name = ".".join(event["type"].split(".")[2:-1])
        sentence = _followup_sentence(name, data, zone)
        if sentence:
            return sentence
    if "subject" in data and "channel" in data:
        place = "/".join(Location.of(data["location"]).path)
        return f"{data['channel']} · {data['category']} · {place} · “{data['subject']}”"
    if "lead" in data:
        co = ", ".join(d["name"] for d in data.get("co_handlers", []))
        at = data.get("handled_at")
        grid = f" [{at['name']}, {at['grid']}]" if at and at.get("grid") else ""
        return (
            f"lead {data['lead']['name']}"
            + (f"; co-handling {co}" if co else "")
            + f"{grid} — {data['reason']}"
        )
    if "deadlines" in data:
        return "; ".join(f"{d['kind']} due {d['due_at'][:16]}" for d in data["deadlines"])
    if "decision" in data:
        told = f" → {data['diverted_to']}" if data.get("diverted_to") else ""
        reason = f" — {data['reason']}" if data.get("reason") else ""
        notice = "" if data["notice_required"] else " (no written notice owed)"
        return f"{data['decision']}{told}{reason}{notice}"
    if "legal_class" in data and "classified_at" in data:
        extras = [
            "litigation-related" if data["litigation_related"] else "",
            f"accused: {data['accused']}" if data.get("accused") else "",
        ]
        return " · ".join([data["legal_class"], *[e for e in extras if e]])
    if "repeat_count" in data:
        return f"repeat #{data['repeat_count']} by {data['channel']}: {data['outcome']}"
    if "answer" in data:
        who = f" by {data['handler']}" if data.get("handler") else ""
        why = f" — {data['reason']}" if data.get("reason") else ""
        return f"{data['department']['name']} ({data['role']}) {data['answer']}{who}{why}"
    if "minutes" in data:
        met = ", ".join(data["departments"])
        return (
            f"joint meeting chaired by {data['chair']} with {met}: {'; '.join(data['decisions'])}"
        )
    if "level" in data:
        taken = f" — taken by {data['leader']}" if data.get("leader") else ""
        return f"escalated to {data['level']} ({data['trigger']}){taken}: {data['reason']}"
    if "summary" in data and "department" in data:
        return f"{data['department']['name']} reports its part: {data['summary']}"
    if "reason" in data:
        return data["reason"]
    return ", ".join(f"{k}={v}" for k, v in data.items() if k != "case_id")


if __name__ == "__main__":
    sys.exit(main())
