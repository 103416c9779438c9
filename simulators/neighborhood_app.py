"""The community app (武汉微邻里) simulator: a webhook sender, and the receiver of the hub's callbacks.

The app is not polled; it pushes every change of a resident's report to the hub as a signed
webhook (Standard Webhooks, https://www.standardwebhooks.com): `POST {target}/webhooks/
neighborhood_app` with `webhook-id`, `webhook-timestamp` and `webhook-signature` headers and the
body `{"type", "timestamp", "data"}`. A message that is not answered 2xx, or not answered at all,
is sent again with the same id and a fresh timestamp and signature on the specification's
back-off schedule, until it is delivered or the schedule is spent. On demand the sender also
misbehaves as a gateway must survive: replays, bad signatures, stale or future timestamps,
missing headers, oversized bodies.

Reports come from `simulators.reports`, seeded and reproducible; a webhook's id is derived from
its body, so the same seed sends the same ids and a rerun against the same hub is a replay.

The other way round, the app listens (`create_app`) for the hub's status callbacks, Standard
Webhooks too: `POST /api/open/v1/callbacks` signed with the callback secret, the body
`{"type": "report.status", "timestamp", "data"}` of `schemas/partners/neighborhood_app_callback.json`.
It refuses what a real receiver refuses (a missing header, a bad signature, a stale timestamp,
a malformed body, a report it does not have), applies each webhook id once — a repeat is
answered 200 with `"duplicate": true` and no second effect (`/_admin/effects`) — and knows the
reports a sender of the same seed, records, defect rate, days and anchor sends. Faults
(`/_admin/faults`) come before any check, as on the other simulators.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import logging
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import requests
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from standardwebhooks import Webhook, WebhookVerificationError

from simulators import reports
from simulators.controls import (
    FaultPlan,
    FaultResponses,
    Injection,
    ReceivedLog,
    SimulatorState,
    admin_router,
    received_path,
    repeated,
)
from simulators.effects import Effects
from simulators.manifest import stand_ins
from simulators.receiver import Refused
from simulators.records import Options, Record, Version, parse_anchor
from simulators.store import RecordStore

PARTNER = "neighborhood_app"
WEBHOOK_PATH = "/webhooks/neighborhood_app"
DEFAULT_TARGET = "http://127.0.0.1:8000"
DEFAULT_RECORDS = 200
# The documented demo credential: base64 of "casehub-neighborhood-app-demo-secret".
DEMO_SECRET = "whsec_Y2FzZWh1Yi1uZWlnaGJvcmhvb2QtYXBwLWRlbW8tc2VjcmV0"  # noqa: S105 - not a secret
CREATED, UPDATED = "report.created", "report.updated"

# Standard Webhooks' schedule: the first attempt at once, then each retry this long after the
# previous failure; the message is given up once the last one fails.
RETRY_SCHEDULE_SECONDS: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
TOLERANCE_SECONDS = 300  # how far a webhook-timestamp may be from the receiver's clock
OVERSIZE_BYTES = 2 * 1024 * 1024  # an oversized body is longer than this
HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
FAULTS: tuple[str, ...] = (
    "replay",
    "bad_signature",
    "stale_timestamp",
    "future_timestamp",
    "missing_header",
    "oversized",
)
REPORT = "report"  # the kind of an ordinary delivery
DELIVERED, GAVE_UP, REFUSED, STOPPED, PENDING = "delivered", "gave_up", "refused", "stopped", "pending"
_USER_AGENT = "weilinli-webhooks/2.3"
_WRONG_SECRET = "whsec_bm90LXRoZS1zZWNyZXQtdGhlLWh1Yi13YXMtZ2l2ZW4="  # noqa: S105 - signs bad_signature sends

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """One webhook: its id, event type and body bytes, as every attempt sends them."""

    webhook_id: str
    event_type: str
    report_id: str
    body: bytes


@dataclass(frozen=True)
class Attempt:
    """One HTTP request of a delivery and what came of it: a status, or the error instead."""

    number: int  # 1 for the first attempt
    sent_at: float  # unix time the request started
    timestamp: int  # the webhook-timestamp it carried
    status: int | None
    error: str | None = None


@dataclass
class Delivery:
    """A message sent in one way (`kind`: "report", or the fault it demonstrates) and its fate.

    `outcome` is "delivered" (answered 2xx), "gave_up" (a report whose whole retry schedule
    failed), "refused" (an on-demand send answered otherwise: sent once, never retried),
    "stopped" (the sender was stopped first) or, while under way, "pending".
    """

    webhook_id: str
    event_type: str
    report_id: str
    kind: str
    detail: str = ""  # which header a missing_header send left out
    attempts: list[Attempt] = field(default_factory=list)
    outcome: str = PENDING

    @property
    def status(self) -> int | None:
        """The answer to the last attempt; None if it got none or none was made."""
        return self.attempts[-1].status if self.attempts else None


@dataclass(frozen=True)
class Summary:
    """What a run sent and how each delivery ended, with the defects of the reports it sent."""

    url: str
    deliveries: tuple[Delivery, ...]
    truth: Mapping[str, Mapping[str, Any]]  # reportId → {"defects": [...], "versions": sent}
    seconds: float

    def count(self, kind: str | None = None, outcome: str | None = None) -> int:
        return sum(
            1
            for d in self.deliveries
            if (kind is None or d.kind == kind) and (outcome is None or d.outcome == outcome)
        )

    @property
    def delivered(self) -> int:
        """Reports answered 2xx (on-demand sends not counted)."""
        return self.count(REPORT, DELIVERED)

    @property
    def gave_up(self) -> int:
        return self.count(REPORT, GAVE_UP)

    @property
    def attempts(self) -> int:
        return sum(len(d.attempts) for d in self.deliveries)

    @property
    def ok(self) -> bool:
        """Every report delivered."""
        return self.delivered == self.count(REPORT)

    def line(self) -> str:
        """One line for a person: reports delivered, given up and stopped, and each fault's answers."""
        text = (
            f"{PARTNER} sent {self.count(REPORT)} webhooks to {self.url} in {self.seconds:.1f} s: "
            f"{self.delivered} delivered, {self.gave_up} gave up, "
            f"{self.count(REPORT, STOPPED)} stopped, {self.attempts} attempts"
        )
        faults = Counter((d.kind, d.status) for d in self.deliveries if d.kind != REPORT)
        if faults:
            text += "; " + ", ".join(
                f"{kind} → {status or 'no answer'} ×{n}"
                for (kind, status), n in sorted(faults.items(), key=str)
            )
        return text


def body(event_type: str, occurred_ms: int, data: Mapping[str, Any]) -> bytes:
    """The envelope: `type`, `timestamp` (RFC 3339, UTC, when the change happened) and the report."""
    occurred = datetime.fromtimestamp(occurred_ms / 1000, UTC).isoformat(timespec="milliseconds")
    envelope = {"type": event_type, "timestamp": occurred.replace("+00:00", "Z"), "data": dict(data)}
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def webhook_id(payload: bytes) -> str:
    """`msg_` and a digest of the body: the same event always has the same id."""
    return "msg_" + hashlib.sha256(payload).hexdigest()[:32]


def messages(records: Iterable[Record]) -> list[Message]:
    """Every version of every report as a webhook, in the order the app pushed them."""
    timeline = sorted(
        (
            (version.updated_ms, record.order, index, record)
            for record in records
            for index, version in enumerate(record.versions)
        ),
        key=lambda entry: entry[:3],
    )
    sent = []
    for updated_ms, _, index, record in timeline:
        event_type = CREATED if index == 0 else UPDATED
        payload = body(event_type, updated_ms, record.versions[index].payload)
        sent.append(Message(webhook_id(payload), event_type, record.source_id, payload))
    return sent


def signature(secrets: Sequence[str], webhook: str, timestamp: int, payload: bytes) -> str:
    """`v1,<base64>` for each secret, space-separated: several while a rotation is under way."""
    moment = datetime.fromtimestamp(timestamp, UTC)  # the library reads the time as UTC
    return " ".join(Webhook(secret).sign(webhook, moment, payload.decode("utf-8")) for secret in secrets)


def oversized(message: Message, size: int) -> Message:
    """The message with its report's content repeated until the body is longer than `size`."""
    document = json.loads(message.body)
    content = document["data"].get("content") or "补充说明。"
    repeats = size // max(1, len(content.encode("utf-8"))) + 1
    document["data"]["content"] = content * repeats
    payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Message(webhook_id(payload), message.event_type, message.report_id, payload)


@dataclass
class _Job:
    delivery: Delivery
    message: Message
    offset: int = 0  # seconds a stale or future timestamp is off by
    replays: int = 0  # replays to send once this report is delivered: the same id and body again


def plan(
    sent: Sequence[Message], faults: Mapping[str, int] | None, seed: int, oversize_bytes: int = OVERSIZE_BYTES
) -> list[_Job]:
    """The sends of a run in order: each message, with the on-demand faults placed among them.

    A fault send copies a message at a seeded position and goes just before it (an oversized one
    gets its own id, its body being another); a replay goes as soon as its message is delivered.
    """
    rng = random.Random(seed)
    jobs = [_Job(Delivery(m.webhook_id, m.event_type, m.report_id, REPORT), m) for m in sent]
    before: dict[int, list[_Job]] = {}
    for kind, number in sorted((faults or {}).items()):
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(FAULTS)}")
        if number and not sent:
            raise ValueError("faults need at least one message to copy")
        for n in range(number):
            position = rng.randrange(len(sent))
            if kind == "replay":
                jobs[position].replays += 1
                continue
            message = oversized(sent[position], oversize_bytes) if kind == "oversized" else sent[position]
            delivery = Delivery(message.webhook_id, message.event_type, message.report_id, kind)
            job = _Job(delivery, message)
            if kind in ("stale_timestamp", "future_timestamp"):
                job.offset = TOLERANCE_SECONDS + rng.randint(60, 3600)
            elif kind == "missing_header":
                delivery.detail = HEADERS[n % len(HEADERS)]
            before.setdefault(position, []).append(job)
    return [job for position, own in enumerate(jobs) for job in (*before.get(position, ()), own)]


class Sender:
    """Delivers webhooks to `{target}{path}` over HTTP, signed with `secrets` (the current one
    first; two or more during a rotation, each adding a signature).

    `rate` paces sends (per second; None or 0 for as fast as possible); a failed report is sent
    again after `RETRY_SCHEDULE_SECONDS` × `retry_scale`, no sooner, while other sends go on.
    `stop` ends a run early; what was not finished is reported "stopped".
    """

    def __init__(
        self,
        target: str,
        secrets: str | Sequence[str],
        *,
        path: str = WEBHOOK_PATH,
        rate: float | None = None,
        retry_scale: float = 1.0,
        timeout: float = 15.0,
        oversize_bytes: int = OVERSIZE_BYTES,
        stop: threading.Event | None = None,
        on_delivery: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.url = target.rstrip("/") + path
        self.secrets = (secrets,) if isinstance(secrets, str) else tuple(secrets)
        if not self.secrets:
            raise ValueError("at least one secret is needed to sign")
        for secret in self.secrets:
            Webhook(secret)  # refuses an empty or malformed secret now, not at the first send
        self.rate = rate if rate and rate > 0 else None
        self.retry_scale = retry_scale
        self.timeout = timeout
        self.oversize_bytes = oversize_bytes
        self._stop = stop or threading.Event()
        self._on_delivery = on_delivery

    def stop(self) -> None:
        self._stop.set()

    def send(
        self, sent: Sequence[Message], *, faults: Mapping[str, int] | None = None, seed: int = 42
    ) -> tuple[Delivery, ...]:
        """Send `sent` (and the faults asked for) and return every delivery once each has ended."""
        jobs = plan(sent, faults, seed, self.oversize_bytes)
        start = time.monotonic()
        queue: list[tuple[float, int, _Job]] = [
            (start + (slot / self.rate if self.rate else 0), slot, job) for slot, job in enumerate(jobs)
        ]
        heapq.heapify(queue)
        deliveries = [job.delivery for job in jobs]
        sequence = len(queue)
        with requests.Session() as session:
            while queue and not self._stop.is_set():
                wait = queue[0][0] - time.monotonic()
                if wait > 0:
                    self._stop.wait(wait)
                    continue
                _, _, job = heapq.heappop(queue)
                for due, follow in self._attempt(session, job):
                    if follow is not job:
                        deliveries.append(follow.delivery)
                    sequence += 1
                    heapq.heappush(queue, (due, sequence, follow))
        for _, _, job in queue:
            self._finish(job.delivery, STOPPED)
        return tuple(sorted(deliveries, key=lambda d: d.attempts[0].sent_at if d.attempts else math.inf))

    def _attempt(self, session: requests.Session, job: _Job) -> list[tuple[float, _Job]]:
        """One request for `job`; returns the sends it leads to (a retry, or replays)."""
        delivery, message = job.delivery, job.message
        now = time.time()
        stamp = int(now) - job.offset if delivery.kind == "stale_timestamp" else int(now) + job.offset
        secrets = (_WRONG_SECRET,) if delivery.kind == "bad_signature" else self.secrets
        headers = {
            "webhook-id": message.webhook_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature(secrets, message.webhook_id, stamp, message.body),
            "content-type": "application/json",
            "user-agent": _USER_AGENT,
        }
        if delivery.kind == "missing_header":
            del headers[delivery.detail]
        status, error = None, None
        try:
            with session.post(
                self.url, data=message.body, headers=headers, timeout=self.timeout, allow_redirects=False
            ) as response:
                status = response.status_code
                response.content  # noqa: B018 - read to the end, so the connection is reused
        except requests.RequestException as failure:
            error = type(failure).__name__
        delivery.attempts.append(Attempt(len(delivery.attempts) + 1, now, stamp, status, error))
        if status is not None and 200 <= status < 300:
            self._finish(delivery, DELIVERED)
            return [
                (
                    time.monotonic(),
                    _Job(
                        Delivery(message.webhook_id, message.event_type, message.report_id, "replay"), message
                    ),
                )
                for _ in range(job.replays)
            ]
        if delivery.kind != REPORT:
            self._finish(delivery, REFUSED)
            return []
        if len(delivery.attempts) >= len(RETRY_SCHEDULE_SECONDS):
            log.warning(
                "gave up on %s (%s) after %d attempts, last %s",
                message.webhook_id,
                message.report_id,
                len(delivery.attempts),
                status or error,
            )
            self._finish(delivery, GAVE_UP)
            return []
        delay = RETRY_SCHEDULE_SECONDS[len(delivery.attempts)] * self.retry_scale
        return [(time.monotonic() + delay, job)]

    def _finish(self, delivery: Delivery, outcome: str) -> None:
        delivery.outcome = outcome
        if self._on_delivery is not None:
            self._on_delivery(delivery)


def run(
    target: str = DEFAULT_TARGET,
    secret: str | Sequence[str] = DEMO_SECRET,
    *,
    rate: float | None = None,
    count: int | None = None,
    records: int | None = None,
    seed: int = 42,
    defect_rate: float = 0.05,
    days: int = 7,
    anchor: datetime | None = None,
    retry_scale: float = 1.0,
    timeout: float = 15.0,
    faults: Mapping[str, int] | None = None,
    path: str = WEBHOOK_PATH,
    oversize_bytes: int = OVERSIZE_BYTES,
    stop: threading.Event | None = None,
    on_delivery: Callable[[Delivery], None] | None = None,
) -> Summary:
    """Generate the reports and push the first `count` of their webhooks (all when None).

    `records` reports are generated (default 200, or `count` if that is more, so a larger count
    still finds enough), over the `days` before `anchor`, from `seed`, `defect_rate` of them
    defective; the same options send the same bodies and ids, and a smaller count sends a prefix.
    """
    started = time.monotonic()
    wanted = records if records is not None else max(DEFAULT_RECORDS, count or 0)
    generated = reports.generate(Options(seed, wanted, defect_rate, days, anchor))
    sent = messages(generated)[:count]
    sender = Sender(
        target,
        secret,
        path=path,
        rate=rate,
        retry_scale=retry_scale,
        timeout=timeout,
        oversize_bytes=oversize_bytes,
        stop=stop,
        on_delivery=on_delivery,
    )
    deliveries = sender.send(sent, faults=faults, seed=seed)
    versions = Counter(message.report_id for message in sent)
    truth = {
        record.source_id: {
            "defects": list(record.defects),
            "versions": versions[record.source_id],
            **({"incident": record.incident} if record.incident else {}),
        }
        for record in generated
        if record.source_id in versions
    }
    return Summary(sender.url, deliveries, truth, time.monotonic() - started)


def _fault(text: str) -> tuple[str, int]:
    kind, _, number = text.partition("=")
    if kind not in FAULTS or not (number or "1").isdigit():
        raise argparse.ArgumentTypeError(f"expected KIND or KIND=N, KIND one of {', '.join(FAULTS)}")
    return kind, int(number or "1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `python -m simulators neighborhood_app`; one the caller already defines
    (a shared --seed, say) is left as the caller made it."""
    options: list[tuple[tuple[str, ...], dict[str, Any]]] = [
        (
            ("--target",),
            {"default": DEFAULT_TARGET, "help": f"the hub's base URL (default {DEFAULT_TARGET})"},
        ),
        (("--path",), {"default": WEBHOOK_PATH, "help": f"appended to the target (default {WEBHOOK_PATH})"}),
        (
            ("--secret",),
            {
                "action": "append",
                "metavar": "WHSEC",
                "help": "signing secret, whsec_…; give it twice to sign with two during a "
                "rotation, the current one first (default: the demo secret)",
            },
        ),
        (
            ("--rate",),
            {
                "type": float,
                "default": None,
                "help": "deliveries per second (default: as fast as the hub answers)",
            },
        ),
        (("--count",), {"type": int, "default": None, "help": "webhooks to send (default: all)"}),
        (
            ("--records",),
            {
                "type": int,
                "default": None,
                "help": f"reports to generate (default {DEFAULT_RECORDS}, or --count if more)",
            },
        ),
        (("--seed",), {"type": int, "default": 42}),
        (("--defect-rate",), {"type": float, "default": 0.05}),
        (("--days",), {"type": int, "default": 7}),
        (
            ("--anchor",),
            {
                "type": parse_anchor,
                "default": None,
                "help": "end of the data span, ISO date or time (default: today 00:00 Asia/Shanghai)",
            },
        ),
        (
            ("--retry-scale",),
            {
                "type": float,
                "default": 1.0,
                "help": "multiplies the retry schedule (5 s … 10 h); 0.001 for a demo",
            },
        ),
        (("--timeout",), {"type": float, "default": 15.0, "help": "seconds to wait for each answer"}),
        (
            ("--fault",),
            {
                "type": _fault,
                "action": "append",
                "metavar": "KIND[=N]",
                "help": f"also send N (default 1) of: {', '.join(FAULTS)}",
            },
        ),
        (
            ("--oversize-bytes",),
            {"type": int, "default": OVERSIZE_BYTES, "help": "an oversized body is longer than this"},
        ),
    ]
    for flags, settings in options:
        try:
            parser.add_argument(*flags, **settings)
        except argparse.ArgumentError:
            continue


def main_from_args(args: argparse.Namespace) -> int:
    """Send as the options say, print a summary line; 0 if every report was delivered."""
    faults: Counter[str] = Counter()
    for kind, number in args.fault or ():
        faults[kind] += number
    print(f"{PARTNER} sending to {args.target.rstrip('/')}{args.path}", flush=True)
    summary = run(
        args.target,
        args.secret or DEMO_SECRET,
        rate=args.rate,
        count=args.count,
        records=args.records,
        seed=args.seed,
        defect_rate=args.defect_rate,
        days=args.days,
        anchor=args.anchor,
        retry_scale=args.retry_scale,
        timeout=args.timeout,
        faults=faults,
        path=args.path,
        oversize_bytes=args.oversize_bytes,
    )
    print(summary.line(), flush=True)
    return 0 if summary.ok else 1


# The receiver of the hub's status callbacks.

CALLBACK_PATH = "/api/open/v1/callbacks"
CALLBACK_SCHEMA = (
    Path(__file__).resolve().parents[1] / "schemas" / "partners" / "neighborhood_app_callback.json"
)
DEMO_CALLBACK_SECRET: str = stand_ins()[PARTNER]["callback_secret"]
"""What the hub signs its callbacks with: the manifest's documented demo credential."""
MAX_CALLBACK_BYTES = 64 * 1024
MAX_WEBHOOK_ID = 255
_RULES = {
    "type": "has the wrong type",
    "enum": "is not one of the allowed values",
    "const": "is not the allowed value",
    "pattern": "does not have the required form",
    "format": "does not have the required form",
    "minLength": "is empty",
    "maxLength": "is too long",
}


@cache
def _callback_check() -> Callable[[Any], Any]:
    """The contract compiled (fastjsonschema): the cheap check every callback passes through;
    only one that fails it is run through jsonschema, for the error naming its field."""
    return fastjsonschema.compile(json.loads(CALLBACK_SCHEMA.read_text(encoding="utf-8")))


@cache
def _callback_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(CALLBACK_SCHEMA.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator: jsonschema.protocols.Validator = validator_class(
        schema, format_checker=validator_class.FORMAT_CHECKER
    )
    return validator


def _violation(error: jsonschema.ValidationError) -> Refused:
    """A schema error as a refusal naming the field (a JSON pointer) and the rule, never the value."""
    pointer = "".join(f"/{part}" for part in error.absolute_path) or "/"
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = next(name for name in error.validator_value if name not in error.instance)
        return Refused(422, "INVALID_FIELD", f"{pointer.rstrip('/')}/{missing} is required")
    if error.validator == "additionalProperties":
        return Refused(422, "INVALID_FIELD", f"{pointer} holds a field the contract does not define")
    rule = _RULES.get(str(error.validator), f"breaks the contract's {error.validator} rule")
    return Refused(422, "INVALID_FIELD", f"{pointer} {rule}")


def _refused(error: Refused) -> JSONResponse:
    return JSONResponse({"code": error.code, "message": error.message}, status_code=error.status)


def _refuse_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _still(version: Version, at_ms: int, rng: Any) -> Version:
    return version


def _nothing_to_inject(record: Any) -> Any:
    raise ValueError("the community app serves no records; it takes callbacks")


class CallbackReceiver:
    """Checks one callback the way the app does, in the order a receiver must: the headers, the
    timestamp's age, the signature (`standardwebhooks`), then the body against the contract and
    the report it names."""

    def __init__(self, secret: str, known: Iterable[str]) -> None:
        self.webhook = Webhook(secret)
        self.known = frozenset(known)

    def check(self, body: bytes, headers: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
        """The webhook id and the envelope; raises `Refused` with the status and the field at fault."""
        if len(body) > MAX_CALLBACK_BYTES:
            raise Refused(413, "BODY_TOO_LARGE", f"body is larger than {MAX_CALLBACK_BYTES} bytes")
        webhook_id = headers.get("webhook-id", "")
        if not 0 < len(webhook_id) <= MAX_WEBHOOK_ID or not (
            webhook_id.isascii() and webhook_id.isprintable()
        ):
            raise Refused(400, "BAD_HEADER", f"webhook-id must be 1 to {MAX_WEBHOOK_ID} printable characters")
        stamp = headers.get("webhook-timestamp", "")
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
            raise Refused(400, "BAD_HEADER", "webhook-timestamp must be Unix seconds")
        if not headers.get("webhook-signature"):
            raise Refused(401, "MISSING_SIGNATURE", "webhook-signature is required")
        if abs(time.time() - int(stamp)) > TOLERANCE_SECONDS:
            raise Refused(
                401,
                "STALE_TIMESTAMP",
                f"webhook-timestamp is more than {TOLERANCE_SECONDS} s from the app's clock",
            )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "BAD_JSON", "body is not UTF-8") from None
        try:
            self.webhook.verify(text, dict(headers), json_parse=False)
        except (WebhookVerificationError, ValueError):
            raise Refused(401, "BAD_SIGNATURE", "webhook-signature does not match the body") from None
        try:
            envelope = json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RecursionError):
            raise Refused(400, "BAD_JSON", "body is not JSON") from None
        if not isinstance(envelope, dict):
            raise Refused(400, "BAD_JSON", "body is not a JSON object")
        try:
            _callback_check()(envelope)
        except fastjsonschema.JsonSchemaException:
            error = jsonschema.exceptions.best_match(_callback_validator().iter_errors(envelope))
            if error is not None:
                raise _violation(error) from None
        if envelope["data"]["reportId"] not in self.known:
            raise Refused(404, "UNKNOWN_REPORT", "/data/reportId names no report of the app")
        return webhook_id, envelope


def create_app(
    *,
    seed: int = 42,
    records: int = DEFAULT_RECORDS,
    defect_rate: float = 0.05,
    days: int = 7,
    anchor: datetime | None = None,
    var_dir: str | Path = "var",
    callback_secret: str = DEMO_CALLBACK_SECRET,
    hang_seconds: float = 30.0,
    retry_after: int = 1,
) -> FastAPI:
    """The app's callback receiver, knowing the `records` reports generated from these options
    (the ones `run` sends with the same options)."""
    generated = reports.generate(Options(seed, records, defect_rate, days, anchor))
    receiver = CallbackReceiver(callback_secret, (record.source_id for record in generated))
    effects = Effects()
    state = SimulatorState(
        partner=PARTNER,
        store=RecordStore(generated, resolution_ms=1000, seed=seed),
        faults=FaultPlan(hang_seconds=hang_seconds, retry_after=retry_after),
        received=ReceivedLog(received_path(var_dir, PARTNER)),
        responses=FaultResponses(
            fault=lambda: JSONResponse(
                {"code": "INTERNAL", "message": "内部错误 internal error"}, status_code=500
            ),
            throttled=lambda seconds: JSONResponse(
                {"code": "TOO_MANY_REQUESTS", "message": "请求过于频繁 too many requests"},
                status_code=429,
                headers={"Retry-After": str(seconds)},
            ),
            oversized=lambda count, declare_length: repeated(
                b'{"padding":[',
                b'"0000000000"',
                count,
                b"]}",
                separator=b",",
                media_type="application/json",
                declare_length=declare_length,
            ),
            bad_total=lambda response: response,  # a receipt has no total to break
        ),
        injection=Injection(accept=_nothing_to_inject, listing=dict),
        step=_still,
        busy=lambda version: False,
    )
    state.on_reset.append(effects.reset)
    app = FastAPI(title="community app simulator", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(admin_router(state))
    app.include_router(effects.router())

    @app.post(CALLBACK_PATH)
    async def callback(request: Request) -> Response:
        body = await request.body()
        headers = {name.lower(): value for name, value in request.headers.items()}

        async def answer() -> Response:
            webhook_id = headers.get("webhook-id")
            try:
                webhook_id, envelope = receiver.check(body, headers)
            except Refused as error:
                state.received.record(
                    "callback", {"webhook_id": webhook_id}, {"status": error.status, "code": error.code}
                )
                return _refused(error)
            first = effects.apply(webhook_id)
            report = envelope["data"]["reportId"]
            state.received.record(
                "callback", {"webhook_id": webhook_id, **envelope}, {"status": 200, "duplicate": not first}
            )
            return JSONResponse({"code": "OK", "reportId": report, "duplicate": not first})

        return await state.serve(answer)

    return app
