"""The health commission (卫健委) simulator: a signed upload of health-related cases as JSON, and
the commission's handling feedback (处置反馈) on the cases it received, read back by the hub.

POST /api/v1/health-cases takes one batch, `{"batchId": <the X-Batch-Id>, "records": [...]}`
(`Content-Type: application/json`), signed as `simulators.receiver` checks. A batch id is
applied once; a repeated one is acknowledged with `duplicate: true`. Records may carry only the
fields of the commission's allow-list (schemas/recipients/health_commission.json).

GET /api/v1/feedback?since=<RFC 3339>&until=<RFC 3339>&page=<n>&pageSize=<m> answers
`{"total", "page", "pageSize", "items"}`, each item `{"feedbackId", "caseId", "code", "note",
"handledBy", "feedbackAt"}` (`code` one of verified, intervened, referred, no_action;
`feedbackAt` RFC 3339 with +08:00), ordered by feedbackAt then feedbackId, the window on
feedbackAt from `since` (inclusive) to `until` (exclusive); page from 1, pageSize 1–200
(default 50). The hub signs in as it does for an upload — X-App-Key its key id, X-Timestamp
Unix seconds within 300 s, X-Signature `sha256=<hex HMAC-SHA256 under the shared secret over
"GET <path>?<query>.<timestamp>.">`: the upload's string with the request target as sent in
place of the batch id, and no body. Refusals are `{code, message}`: 401 UNKNOWN_APP_KEY,
STALE_TIMESTAMP or BAD_SIGNATURE, 400 BAD_PARAMETER (a missing or unreadable time — the `+` of
an offset must be sent as %2B —, since after until, a page out of range).

The commission feeds back once on a case, the first time it receives it in a batch applied: from
the seed and the case id it decides whether it does (`feedback_share`), how long after (half to
one and a half `feedback_delay_seconds`), with which code, note and office; an entry is served
from its feedbackAt on, as the commission's clock reaches it. Entries posted to `/_admin/inject`
(any JSON value) are served verbatim after every window's own, for the hub's tests of hostile
feedback. Faults (`/_admin/faults`) come before any check, as for the upload.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from simulators.controls import Injection, SimulatorState
from simulators.gazetteer import DISTRICTS
from simulators.receiver import TOLERANCE_SECONDS, Refused, json_object, receiver_app, signature
from simulators.records import SHANGHAI

PARTNER = "health_commission"
PATH = "/api/v1/health-cases"
FEEDBACK = "/api/v1/feedback"
DEMO_SECRET = "health-demo-secret"  # noqa: S105 - the documented demo credential, not a secret
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50
FEEDBACK_SHARE = 0.9
FEEDBACK_DELAY_SECONDS = 20.0
"""By default nine cases in ten get a feedback, 10 to 30 s after they arrive: a demo run of a
minute sees most of them fed back."""
CODES: tuple[tuple[str, float], ...] = (
    ("verified", 0.4),  # 已核实
    ("intervened", 0.3),  # 已介入处置
    ("referred", 0.15),  # 已转交疾控或医疗机构
    ("no_action", 0.15),  # 无需处置
)
NOTES: dict[str, tuple[str, ...]] = {
    "verified": (
        "经{office}工作人员电话回访及现场核实，反映情况属实，已督促相关单位限期整改。",
        "已核实来电反映的情况，涉事诊所已责令停业整顿，后续将加强日常监督检查。",
        "经核查，反映的医疗服务问题属实，已约谈医院负责人并要求整改，结果已告知来电人。",
    ),
    "intervened": (
        "{district}疾病预防控制中心已派员到场开展流行病学调查，并指导小区落实环境消杀。",
        "已协调社区卫生服务中心上门排查，对相关人员开展健康监测，目前未发现异常。",
        "卫生监督执法人员已现场检查，对违规行为立案调查，将依法依规处理。",
    ),
    "referred": (
        "经研判，该诉求涉及医保报销政策，已转交市医疗保障局办理。",
        "相关症状需进一步诊治，已转交{district}疾病预防控制中心跟进处置。",
        "涉及食品安全问题，已转交{district}市场监督管理局依职责处理。",
    ),
    "no_action": (
        "经电话联系来电人，所反映问题已自行解决，无需进一步处置。",
        "该诉求为政策咨询，已向来电人解释相关规定，无需处置。",
        "经核实，反映情况与现场不符，无需处置，已向来电人说明。",
    ),
}
CITY = "武汉市"
CITY_OFFICE = "武汉市卫生健康委员会"


@dataclass(frozen=True)
class Feedback:
    """One feedback entry and when it is written."""

    at: datetime
    item: dict[str, str]


class FeedbackBook:
    """The cases received, by case id, each with the feedback the commission will give, if any."""

    def __init__(self, seed: int, share: float, delay_seconds: float, clock: Callable[[], float]) -> None:
        if not 0 <= share <= 1:
            raise ValueError("the feedback share must lie from 0 to 1")
        if delay_seconds < 0:
            raise ValueError("the feedback delay must not be negative")
        self.seed = seed
        self.share = share
        self.delay_seconds = delay_seconds
        self.clock = clock
        self.clear()

    def clear(self) -> None:
        """Nothing received: the reset hook."""
        self._by_case: dict[str, Feedback | None] = {}

    def __len__(self) -> int:
        return len(self._by_case)

    def receive(self, records: list[dict[str, Any]]) -> None:
        """Take note of the cases of a batch just applied; a case seen before keeps its plan."""
        now = self.clock()
        for record in records:
            case_id = record.get("case_id")
            if isinstance(case_id, str) and case_id not in self._by_case:
                self._by_case[case_id] = self._plan(case_id, record.get("district_code"), now)

    def _plan(self, case_id: str, district_code: Any, received: float) -> Feedback | None:
        rng = random.Random(f"{self.seed}:feedback:{case_id}")
        if rng.random() >= self.share:
            return None
        delay = self.delay_seconds * rng.uniform(0.5, 1.5)
        at = datetime.fromtimestamp(int(received + delay), SHANGHAI)
        district = next((d.name for d in DISTRICTS if d.code == district_code), CITY)
        office = CITY_OFFICE if district == CITY or rng.random() < 0.3 else f"{district}卫生健康局"
        code = rng.choices([c for c, _ in CODES], weights=[w for _, w in CODES])[0]
        note = rng.choice(NOTES[code]).format(office=office, district=district)
        digest = hashlib.sha256(f"{self.seed}:{case_id}".encode()).hexdigest()[:10].upper()
        item = {
            "feedbackId": f"FK{at:%Y%m%d}-{digest}",
            "caseId": case_id,
            "code": code,
            "note": note,
            "handledBy": office,
            "feedbackAt": at.isoformat(timespec="seconds"),
        }
        return Feedback(at, item)

    def window(self, since: datetime, until: datetime) -> list[dict[str, str]]:
        """Entries written by now with feedbackAt in [since, until), by feedbackAt, feedbackId."""
        now = datetime.fromtimestamp(self.clock(), SHANGHAI)
        found = [f for f in self._by_case.values() if f is not None and f.at <= now and since <= f.at < until]
        found.sort(key=lambda f: (f.at, f.item["feedbackId"]))
        return [f.item for f in found]


def decode(body: bytes, headers: Mapping[str, str], batch_id: str) -> list[dict[str, Any]]:
    """The records of a JSON batch document whose batchId is the signed one."""
    if headers.get("Content-Type", "").partition(";")[0].strip().lower() != "application/json":
        raise Refused(415, "NOT_JSON", "需要 JSON Content-Type must be application/json")
    document = json_object(body, "the body")
    records = document.get("records")
    if document.get("batchId") != batch_id:
        raise Refused(400, "BATCH_ID_MISMATCH", "批次号不符 batchId differs from X-Batch-Id")
    if not isinstance(records, list) or not all(isinstance(record, dict) for record in records):
        raise Refused(400, "BAD_RECORDS", "格式错误 records must be a list of objects")
    return records


def signed_read(request: Request, login: str, secret: str, now: float) -> None:
    """Refuse a read whose key id, timestamp or signature over its request target does not hold."""
    headers = request.headers
    if not hmac.compare_digest(headers.get("X-App-Key", "").encode(), login.encode()):
        raise Refused(401, "UNKNOWN_APP_KEY", "应用标识无效 unknown X-App-Key")
    timestamp = headers.get("X-Timestamp", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise Refused(401, "STALE_TIMESTAMP", "时间戳无效 X-Timestamp is missing or outside 300 s")
    query = request.scope.get("query_string", b"").decode("latin-1")
    target = request.url.path + (f"?{query}" if query else "")
    expected = signature(secret, f"{request.method} {target}", timestamp, b"")
    if not hmac.compare_digest(headers.get("X-Signature", "").encode(), expected.encode()):
        raise Refused(401, "BAD_SIGNATURE", "签名无效 X-Signature does not match")


def _time(query: Mapping[str, str], name: str) -> datetime:
    value = query.get(name) or ""
    try:
        moment = datetime.fromisoformat(value) if "T" in value else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Refused(400, "BAD_PARAMETER", f"参数错误 {name} must be an RFC 3339 time with an offset")
    return moment


def _number(query: Mapping[str, str], name: str, default: int, high: int) -> int:
    value = query.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or not 1 <= int(value) <= high:
        raise Refused(400, "BAD_PARAMETER", f"参数错误 {name} must be an integer from 1 to {high}")
    return int(value)


def _injectable(entry: Any) -> Any:
    """An entry to serve as posted: any JSON value, checked by nothing (that is the point)."""
    return entry


def create_app(
    *,
    seed: int = 42,
    var_dir: str | Path = "var",
    username: str = "casehub",
    password: str = DEMO_SECRET,
    feedback_share: float = FEEDBACK_SHARE,
    feedback_delay_seconds: float = FEEDBACK_DELAY_SECONDS,
    hang_seconds: float = 30.0,
    retry_after: int = 1,
    clock: Callable[[], float] = time.time,
    **_: Any,
) -> FastAPI:
    """A health commission taking batches and feeding back on the cases in them; the data options
    other simulators take are accepted and unused."""
    book = FeedbackBook(seed, feedback_share, feedback_delay_seconds, clock)
    app = receiver_app(
        partner=PARTNER,
        title="health commission simulator",
        path=PATH,
        login=username,
        secret=password,
        decode=decode,
        var_dir=var_dir,
        hang_seconds=hang_seconds,
        retry_after=retry_after,
        clock=clock,
        injection=Injection(accept=_injectable, listing=_injectable),
        on_batch=book.receive,
    )
    state: SimulatorState = app.state.simulator
    state.on_reset.append(book.clear)

    @app.get(FEEDBACK)
    async def feedback(request: Request) -> Response:
        async def answer() -> Response:
            try:
                signed_read(request, username, password, clock())
                query = request.query_params
                since, until = _time(query, "since"), _time(query, "until")
                page = _number(query, "page", 1, 1_000_000)
                size = _number(query, "pageSize", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
                if since > until:
                    raise Refused(400, "BAD_PARAMETER", "参数错误 since must not be later than until")
            except Refused as error:
                return JSONResponse({"code": error.code, "message": error.message}, status_code=error.status)
            served = [*book.window(since, until), *state.injected]
            items = served[(page - 1) * size : page * size]
            return JSONResponse({"total": len(served), "page": page, "pageSize": size, "items": items})

        return await state.serve(answer)

    return app
