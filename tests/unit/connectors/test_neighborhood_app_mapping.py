"""A community app report becomes a valid unified case, or is quarantined with every defect named."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import prcoords
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from standardwebhooks import Webhook, WebhookVerificationError

from casehub.contract import case_contract
from casehub.enrich import enrich
from casehub.errors import InvalidRecord
from casehub.identity import case_id
from casehub.normalize import SHANGHAI, offset_time
from casehub.reasons import Code
from casehub.reference import Reference, load_reference
from connectors.neighborhood_app import MAPPER
from connectors.neighborhood_app.mapping import PIN_TOLERANCE_METRES, NeighborhoodAppMapper
from simulators import testing
from tests.samples import report

RECEIVED_AT = datetime(2025, 3, 5, 1, 0, tzinfo=UTC)
COMMUNITY, STREET, DISTRICT = "420103002002", "420103002", "420103"  # 团结里社区, 花楼街道, 江汉区
PIN = (114.287857, 30.582375)  # WGS-84 of the sample's GCJ-02 pin, about 120 m from 团结里's centre
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def reference() -> Reference:
    return load_reference()


def gcj(lng: float, lat: float) -> dict[str, float]:
    """A WGS-84 point as the app sends it: GCJ-02, six decimals."""
    point = prcoords.wgs_gcj((lat, lng))
    return {"lng": round(point.lon, 6), "lat": round(point.lat, 6)}


def mapped(raw: Mapping[str, Any], reference: Reference) -> dict[str, Any]:
    return MAPPER.to_case(raw, reference, received_at=RECEIVED_AT)


def reasons(raw: Mapping[str, Any], reference: Reference) -> list[tuple[str, str]]:
    with pytest.raises(InvalidRecord) as caught:
        mapped(raw, reference)
    return [(reason.code, reason.field) for reason in caught.value.reasons]


def outcome(
    raw: Mapping[str, Any], reference: Reference, received_at: datetime = RECEIVED_AT
) -> tuple[dict[str, Any] | None, set[str]]:
    """The case, or None and the reason codes of the quarantine."""
    try:
        return MAPPER.to_case(raw, reference, received_at=received_at), set()
    except InvalidRecord as error:
        return None, {reason.code for reason in error.reasons}


def accepted(case: Mapping[str, Any], reference: Reference) -> list[str]:
    """The enriched case must meet the contract; returns enrichment's warning codes."""
    enriched = enrich(case, reference)
    assert case_contract().problems(enriched.case) == []
    return [warning.code for warning in enriched.warnings]


def test_clean_report_is_a_valid_case_once_enriched(reference: Reference) -> None:
    case = mapped(report(), reference)
    assert accepted(case, reference) == []
    assert case["case_id"] == case_id("neighborhood_app", "WLL20250303000340")
    assert (case["channel"], case["source_id"]) == ("neighborhood_app", "WLL20250303000340")
    assert (case["source_status"], case["status"]) == ("已评价", "closed")
    assert (case["nature"], case["source_category"]) == ("suggestion", "WL0701")
    assert (case["district_code"], case["street_code"], case["community_code"]) == (
        DISTRICT,
        STREET,
        COMMUNITY,
    )
    assert case["reporter"] == {"name": "刘旭", "phone": "+8618045667651", "id_number": None}
    assert (case["lng"], case["lat"], case["source_crs"]) == (*PIN, "GCJ-02")
    assert case["address"] == "江汉区花楼街道团结里社区15栋5单元1403室"
    assert case["result"] == report()["handlingResult"]  # punctuation as the unit wrote it
    assert case["satisfaction"] == "satisfied"
    assert case["reported_at"] == "2025-03-03T17:16:43+08:00"
    assert case["updated_at"] == case["closed_at"] == "2025-03-05T08:42:02+08:00"
    assert case["urgency"] is case["time_limit_days"] is case["grid_code"] is None
    assert case["category"] is case["grade"] is case["assigned_unit"] is None  # enrichment's


def test_enrichment_classifies_by_the_category_crosswalk(reference: Reference) -> None:
    enriched = enrich(mapped(report(), reference), reference).case
    assert enriched["category"] == reference.crosswalk("neighborhood_app", "category")["WL0701"]


def test_unpinned_report_has_no_coordinates(reference: Reference) -> None:
    case = mapped(report(location=None), reference)
    assert (case["lng"], case["lat"], case["source_crs"]) == (None, None, None)
    assert accepted(case, reference) == []


@pytest.mark.parametrize(
    ("source", "status", "closed"),
    [
        ("已提交", "received", False),
        ("已受理", "registered", False),
        ("已派单", "dispatched", False),
        ("处理中", "processing", False),
        ("已办结", "completed", True),
        ("已评价", "closed", True),
        ("已撤回", "cancelled", False),
        ("已退回", "returned", False),
    ],
)
def test_status_crosswalk_and_closing_time(
    reference: Reference, source: str, status: str, closed: bool
) -> None:
    raw = report(status=source, satisfaction=None, handlingResult=None if not closed else "已处理。")
    case = mapped(raw, reference)
    assert (case["source_status"], case["status"]) == (source, status)
    assert case["closed_at"] == ("2025-03-05T08:42:02+08:00" if closed else None)
    assert accepted(case, reference) == []


def test_unknown_category_is_left_to_enrichment(reference: Reference) -> None:
    """A code the crosswalk lacks is classified as the catch-all, with a warning, not quarantined."""
    case = mapped(report(categoryCode="WL9901", categoryName="其他问题"), reference)
    assert case["source_category"] == "WL9901"
    assert accepted(case, reference) == [Code.UNMAPPED_CATEGORY]


def test_written_forms_of_the_phone_are_accepted(reference: Reference) -> None:
    for written in ("+86 180 4566 7651", "180-4566-7651", "１８０４５６６７６５１"):
        assert mapped(report(reporterPhone=written), reference)["reporter"]["phone"] == "+8618045667651"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"reportId": None}, "missing_id", "reportId"),
        ({"reportId": "WLL 20250303"}, "invalid_id", "reportId"),
        ({"title": ""}, "missing_field", "title"),
        ({"content": ""}, "missing_field", "content"),
        ({"categoryCode": ""}, "missing_field", "categoryCode"),
        ({"status": ""}, "missing_field", "status"),
        ({"status": "已删除"}, "unknown_status", "status"),
        ({"reportType": None}, "missing_field", "reportType"),
        ({"reportType": "闲聊"}, "unknown_nature", "reportType"),
        ({"reporterPhone": "1804566765"}, "invalid_phone", "reporterPhone"),
        ({"reporterPhone": "95588"}, "invalid_phone", "reporterPhone"),
        ({"communityCode": ""}, "missing_field", "communityCode"),
        ({"communityCode": "420103002099"}, "unknown_community", "communityCode"),
        ({"communityCode": "110105001001"}, "unknown_community", "communityCode"),
        ({"communityCode": STREET}, "unknown_community", "communityCode"),
        ({"location": gcj(116.397, 39.909)}, "outside_city", "location"),
        ({"location": {"lng": 30.579934, "lat": 114.293281}}, "invalid_coordinates", "location"),
        ({"location": {"lng": "114.293281", "lat": 30.579934}}, "invalid_coordinates", "location"),
        ({"location": {"lng": 114.293281}}, "invalid_coordinates", "location"),
        ({"location": [114.293281, 30.579934]}, "invalid_coordinates", "location"),
        ({"location": gcj(114.40, 30.50)}, "far_from_community", "location"),  # 光谷, 15 km off
        ({"satisfaction": "非常满意"}, "invalid_value", "satisfaction"),
        ({"createdAt": "2025-03-03 17:16:43"}, "invalid_time", "createdAt"),
        ({"createdAt": None}, "missing_field", "createdAt"),
        ({"updatedAt": "2025-02-30T08:42:02+08:00"}, "invalid_time", "updatedAt"),
        ({"updatedAt": 1741135322000}, "invalid_time", "updatedAt"),
    ],
)
def test_each_defect_has_its_reason(
    reference: Reference, changes: dict[str, Any], code: str, field: str
) -> None:
    assert reasons(report(**changes), reference) == [(code, field)]


def test_swapped_coordinates_are_named_as_such(reference: Reference) -> None:
    with pytest.raises(InvalidRecord) as caught:
        mapped(report(location={"lng": 30.579934, "lat": 114.293281}), reference)
    assert caught.value.reasons[0].message == "location: lng and lat are exchanged"


def test_pins_within_the_tolerance_of_the_community_are_accepted(reference: Reference) -> None:
    centre = reference.regions[COMMUNITY]
    inside, beyond = (GEOD.fwd(centre.lng, centre.lat, 90, d)[:2] for d in (2950, 3050))
    assert PIN_TOLERANCE_METRES == 3000
    assert mapped(report(location=gcj(*inside)), reference)["lng"] == pytest.approx(inside[0], abs=1e-5)
    assert reasons(report(location=gcj(*beyond)), reference) == [("far_from_community", "location")]


def test_every_defect_of_a_record_is_reported(reference: Reference) -> None:
    raw = report(
        title="",
        status="已删除",
        reporterPhone="1804566765",
        communityCode="420103002099",
        location=gcj(116.397, 39.909),
        satisfaction="非常满意",
        createdAt="昨天",
    )
    assert sorted(reasons(raw, reference)) == [
        ("invalid_phone", "reporterPhone"),
        ("invalid_time", "createdAt"),
        ("invalid_value", "satisfaction"),
        ("missing_field", "title"),
        ("outside_city", "location"),
        ("unknown_community", "communityCode"),
        ("unknown_status", "status"),
    ]


def test_reasons_never_contain_personal_values(reference: Reference) -> None:
    bad_phone = "1804566765"
    raw = report(
        reporterPhone=bad_phone, communityCode="420103002099", location=gcj(116.397, 39.909), createdAt="x"
    )
    with pytest.raises(InvalidRecord) as caught:
        mapped(raw, reference)
    written = str(caught.value) + json.dumps([r.as_dict() for r in caught.value.reasons], ensure_ascii=False)
    for personal in ("刘旭", bad_phone, raw["address"], "420103002099", "116.", "39."):
        assert personal not in written


communities = sorted(code for code, region in load_reference().regions.items() if region.level == "community")


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(communities),
    st.floats(min_value=0, max_value=360),
    st.floats(min_value=0, max_value=1500),
)
def test_gcj02_pins_convert_back_to_within_half_a_metre(
    reference: Reference, community: str, bearing: float, distance: float
) -> None:
    """A WGS-84 point in Wuhan, obfuscated as the app's map SDK does, maps back to where it was."""
    centre = reference.regions[community]
    lng, lat, _ = GEOD.fwd(centre.lng, centre.lat, bearing, distance)
    case = mapped(report(communityCode=community, location=gcj(lng, lat)), reference)
    _, _, error = GEOD.inv(lng, lat, case["lng"], case["lat"])
    assert error < 0.5
    assert case["source_crs"] == "GCJ-02"


def test_key_is_id_and_update_time() -> None:
    key = MAPPER.key(report())
    assert key.source_id == "WLL20250303000340"
    assert key.updated_at == datetime(2025, 3, 5, 0, 42, 2, tzinfo=UTC)


def test_key_without_id_or_time_is_invalid() -> None:
    with pytest.raises(InvalidRecord) as caught:
        MAPPER.key(report(reportId="", updatedAt="2025-03-05T08:42:02"))
    assert [(r.code, r.field) for r in caught.value.reasons] == [
        ("missing_id", "reportId"),
        ("invalid_time", "updatedAt"),
    ]


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2025-03-05T08:42:02+08:00", datetime(2025, 3, 5, 8, 42, 2, tzinfo=SHANGHAI)),
        ("2025-03-05T00:42:02Z", datetime(2025, 3, 5, 8, 42, 2, tzinfo=SHANGHAI)),
        ("2025-03-04T19:42:02-05:00", datetime(2025, 3, 5, 8, 42, 2, tzinfo=SHANGHAI)),
        ("2025-03-05T08:42:02.125+08:00", datetime(2025, 3, 5, 8, 42, 2, 125000, tzinfo=SHANGHAI)),
        ("2024-02-29T23:59:59+08:00", datetime(2024, 2, 29, 23, 59, 59, tzinfo=SHANGHAI)),
    ],
)
def test_offset_times_are_read_in_shanghai(text: str, moment: datetime) -> None:
    parsed = offset_time(text)
    assert parsed == moment and parsed.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    "text",
    [
        "2025-03-05T08:42:02",  # no offset
        "2025-03-05 08:42:02+08:00",  # a space for T
        "2025/03/05T08:42:02+08:00",
        "2025-03-05T08:42+08:00",
        "2025-03-05T08:42:02+0800",
        "2025-03-05T08:42:02+08",
        "20250305T084202+08:00",
        "2025-W10-3T08:42:02+08:00",
        "2025-02-29T08:42:02+08:00",  # not a leap year
        "2025-03-05T24:00:00+08:00",
        "2025-03-05T08:42:60+08:00",
        "2025-03-05T08:42:02+15:00",
        "2025-03-05T08:42:02+08:60",
        "1989-12-31T23:59:59+08:00",
        "1990-01-01T00:00:00+09:00",  # before EARLIEST, once in Shanghai
        "9000-01-01T00:00:00+08:00",
        "2025-03-05T08:42:02.1234567+08:00",
    ],
)
def test_offset_time_is_strict(text: str) -> None:
    with pytest.raises(ValueError, match="time") as caught:
        offset_time(text)
    assert text not in str(caught.value)


def test_mapping_is_deterministic(reference: Reference) -> None:
    first = NeighborhoodAppMapper().to_case(report(), reference, received_at=RECEIVED_AT)
    assert first == NeighborhoodAppMapper().to_case(report(), reference, received_at=RECEIVED_AT)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["", "2025-03-05T08:42:02+08:00", COMMUNITY, "已办结", "满意", "投诉"]),
    lambda children: (
        st.lists(children, min_size=1, max_size=3)
        | st.dictionaries(
            st.sampled_from(["lng", "lat", "x"]) | st.text(max_size=5), children, min_size=1, max_size=3
        )
    ),
    max_leaves=8,
)


def _answers(raw: dict[str, Any], reference: Reference) -> None:
    """The mapper answers any JSON object with a key and a contract-valid case, or InvalidRecord."""
    try:
        MAPPER.key(raw)
    except InvalidRecord as error:
        key_reasons = error.reasons
    else:
        key_reasons = None
    assert key_reasons is None or key_reasons  # refused, then always with a reason
    case, found = outcome(raw, reference)
    if case is not None:
        accepted(case, reference)
    assert case is not None or found
    assert found <= set(Code)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(report())), json_values))
def test_any_field_values_give_a_valid_case_or_reasons(reference: Reference, changes: dict[str, Any]) -> None:
    _answers(report(**changes), reference)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(report())) | st.text(max_size=10), json_values, max_size=8))
def test_any_object_gives_a_valid_case_or_reasons(reference: Reference, raw: dict[str, Any]) -> None:
    _answers(raw, reference)


# Over real HTTP: the simulator pushes its signed webhooks to a small receiver standing in for
# the gateway, and every report it sent is mapped as the processing step maps the inbox.

ANCHOR = datetime(2025, 3, 10, tzinfo=SHANGHAI)
MAPPER_DEFECTS = {
    "missing_field": "missing_field",
    "bad_phone": "invalid_phone",
    "unknown_community": "unknown_community",
    "outside_city": "outside_city",
    "swapped_coordinates": "invalid_coordinates",
}
"""The simulator's defects the mapper finds, and the reason code of each. The others are found
later: `unknown_category` by enrichment (a warning, the catch-all category), `future_update` by
the pipeline, which compares the update time with its own clock."""


class _Inbox(BaseHTTPRequestHandler):
    """Answers 204 to a webhook whose signature verifies, 401 otherwise, and keeps its body."""

    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            Webhook(testing.NEIGHBORHOOD_APP_SECRET).verify(body, headers)
        except WebhookVerificationError:
            status = HTTPStatus.UNAUTHORIZED
        else:
            status = HTTPStatus.NO_CONTENT
            with self.server.lock:
                self.server.bodies.append(body)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads what arrived, not the access log."""


class _Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Inbox)
        self.lock = threading.Lock()
        self.bodies: list[bytes] = []


@pytest.fixture(scope="module")
def pushed() -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """The defects of each report the simulator sent, and the `data` of every webhook received."""
    receiver = _Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}"
        summary = testing.send(url, records=150, defect_rate=0.3, seed=11, anchor=ANCHOR, retry_scale=0.001)
    finally:
        receiver.shutdown()
        thread.join()
        receiver.server_close()
    assert summary.ok, summary.line()
    truth = {report_id: list(entry["defects"]) for report_id, entry in summary.truth.items()}
    return truth, [json.loads(body)["data"] for body in receiver.bodies]


def test_every_pushed_report_maps_as_the_simulator_says(
    reference: Reference, pushed: tuple[dict[str, list[str]], list[dict[str, Any]]]
) -> None:
    truth, received = pushed
    assert {data["reportId"] for data in received} == set(truth)
    assert len(received) > len(truth)  # a version for each status a report passed through
    kinds: set[str] = set()
    for data in received:
        defects = truth[data["reportId"]]
        kinds.update(defects)
        expected = {MAPPER_DEFECTS[d] for d in defects if d in MAPPER_DEFECTS}
        if "swapped_coordinates" in defects:
            expected.discard("outside_city")  # a swapped pin cannot be placed at all
        key = MAPPER.key(data)
        case, found = outcome(data, reference, ANCHOR)
        assert found == expected, data["reportId"]
        if case is None:
            continue
        warnings = accepted(case, reference)
        assert (Code.UNMAPPED_CATEGORY in warnings) == ("unknown_category" in defects), data["reportId"]
        if "future_update" not in defects:
            assert key.updated_at <= ANCHOR
    assert kinds >= {*MAPPER_DEFECTS, "unknown_category", "future_update"}


def test_a_future_update_time_is_left_for_the_pipeline_to_judge(
    pushed: tuple[dict[str, list[str]], list[dict[str, Any]]],
) -> None:
    """Only the last version carries it; the key reads it as it is, decades ahead of any clock."""
    truth, received = pushed
    future = [data for data in received if MAPPER.key(data).updated_at > ANCHOR + timedelta(days=365)]
    reports_with_it = {report_id for report_id, defects in truth.items() if "future_update" in defects}
    assert sorted(data["reportId"] for data in future) == sorted(reports_with_it)
    assert all(MAPPER.key(data).updated_at.utcoffset() == timedelta(hours=8) for data in future)
