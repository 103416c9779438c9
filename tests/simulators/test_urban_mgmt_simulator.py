"""The digital urban management simulator answers a zeep client built from the vendored WSDL,
over real HTTP: paging, windows, credentials, faults, and case files whose codes, places and
progress logs a connector can rely on, except where the truth says they are broken."""

from __future__ import annotations

import itertools
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from pyproj import Transformer
from zeep.settings import Settings
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from simulators import testing
from simulators.casefiles import categories, sources, statuses
from simulators.generator import generate
from simulators.grids import region_codes
from simulators.records import SHANGHAI, Options, parse_local
from tests.simulators.soap_requests import signed_envelope

ANCHOR = datetime(2025, 3, 10, tzinfo=SHANGHAI)
WINDOW = ("2025-03-03 00:00:00", "2025-03-10 00:00:00")  # the 7 days before the tests' anchor
ROOT = Path(__file__).resolve().parents[2]
WSDL = ROOT / "schemas" / "wsdl" / "urban_mgmt.wsdl"
BINDING = "{urn:wuhan:szcg:casefile:v1}CaseFileBinding"
TNS = "urn:wuhan:szcg:casefile:v1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PASSWORD = "urban-demo-secret"
CITY = (113.68, 29.97, 115.08, 31.37)  # Wuhan's bounding box, west, south, east, north
TO_WGS84 = Transformer.from_crs("EPSG:4547", "EPSG:4326", always_xy=True)
ServiceFactory = Callable[..., zeep.proxy.ServiceProxy]
CaseFile = dict[str, Any]


@pytest.fixture(scope="module")
def urban_session(var_dir: Path) -> Iterator[testing.RunningSimulator]:
    with testing.start("urban_mgmt", anchor=ANCHOR, var_dir=var_dir) as simulator:
        yield simulator


@pytest.fixture
def urban(urban_session: testing.RunningSimulator) -> Iterator[testing.RunningSimulator]:
    yield urban_session
    urban_session.reset()


@pytest.fixture(scope="module")
def defective(var_dir: Path) -> Iterator[testing.RunningSimulator]:
    """A partner with many broken case files, so that every kind of defect is served."""
    with testing.start("urban_mgmt", anchor=ANCHOR, var_dir=var_dir, defect_rate=0.3) as simulator:
        yield simulator


@pytest.fixture
def case_files(urban: testing.RunningSimulator, http: requests.Session) -> ServiceFactory:
    """Build a zeep service from the vendored WSDL, signed as asked, of `urban` or another."""

    def build(password: str = PASSWORD, raw_response: bool = False, timeout: float = 5,
              simulator: testing.RunningSimulator | None = None,
              **token: object) -> zeep.proxy.ServiceProxy:
        client = zeep.Client(
            str(WSDL),
            wsse=UsernameToken("casehub", password, use_digest=True, **token),
            transport=Transport(session=http, operation_timeout=timeout),
            settings=Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True,
                              raw_response=raw_response),
        )
        return client.create_service(BINDING, (simulator or urban).url + "/ws/casefile")

    return build


def _listed(page: Any) -> list[Any]:
    """The case files of a page; zeep reads an empty CaseFiles element as None."""
    return list(page.CaseFiles.CaseFile) if page.CaseFiles is not None else []


def _all_pages(service: zeep.proxy.ServiceProxy, size: int,
               window: tuple[str, str] = WINDOW) -> tuple[int, list[CaseFile]]:
    """Every CaseFile of the window, page by page, with the total the first page announced."""
    first = service.QueryCaseFiles(StartTime=window[0], EndTime=window[1], PageNo=1, PageSize=size)
    found = _listed(first)
    for page in range(2, -(-first.Total // size) + 1):
        found += _listed(service.QueryCaseFiles(StartTime=window[0], EndTime=window[1], PageNo=page,
                                                PageSize=size))
    return first.Total, [zeep.helpers.serialize_object(case, dict) for case in found]


def _served(service: zeep.proxy.ServiceProxy, urban: testing.RunningSimulator) -> dict[str, CaseFile]:
    """The current case file of every record by its true CaseNo, with its truth beside it."""
    truth = urban.truth()
    _, found = _all_pages(service, 500)
    current = found[: len(truth)]
    lost = sorted(number for number, facts in truth.items() if "missing_id" in facts["defects"])
    by_number = {case["CaseNo"]: case for case in current if case["CaseNo"]}
    unnamed = [case for case in current if not case["CaseNo"]]
    assert len(unnamed) == len(lost)
    for number in lost:  # a lost id is the one thing GetCaseFile can still tell apart
        by_number[number] = zeep.helpers.serialize_object(
            service.GetCaseFile(CaseNo=number), dict)
    return {number: {**by_number[number], "_defects": truth[number]["defects"]} for number in truth}


def _steps(case: CaseFile) -> list[dict[str, str]]:
    progress = case["Progress"]
    return list(progress["Step"]) if progress else []


def _signed_envelope(body: str, password: str = PASSWORD) -> bytes:
    """A raw SOAP 1.1 request with a fresh UsernameToken, for payloads zeep would not send."""
    return signed_envelope(body, prefix="cg", namespace=TNS, password=password)


def _post(http: requests.Session, urban: testing.RunningSimulator, payload: bytes,
          timeout: float = 5) -> requests.Response:
    return http.post(urban.url + "/ws/casefile", data=payload,
                     headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=timeout)


def _query(page: int = 1, size: int = 3) -> bytes:
    return _signed_envelope(
        f"<cg:QueryCaseFiles><cg:StartTime>{WINDOW[0]}</cg:StartTime><cg:EndTime>{WINDOW[1]}"
        f"</cg:EndTime><cg:PageNo>{page}</cg:PageNo><cg:PageSize>{size}</cg:PageSize></cg:QueryCaseFiles>"
    )


def _fault_of(answer: requests.Response) -> tuple[str, str, str]:
    fault = etree.fromstring(answer.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None, answer.text
    error = fault.findtext(f"detail/{{{TNS}}}ServiceFault/{{{TNS}}}ErrorCode") or ""
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or "", error


def _key(case: CaseFile) -> str:
    """The crosswalk key a connector computes (docs/partners.md)."""
    code = case["CategoryCode"]
    return f"{case['CaseType']}:{code[6:10] if case['CaseType'] == '部件' else code}"


def _inside_city(lng: float, lat: float) -> bool:
    return CITY[0] <= lng <= CITY[2] and CITY[1] <= lat <= CITY[3]


# --- the protocol ---------------------------------------------------------------------------


def test_zeep_client_reads_case_files(case_files: ServiceFactory) -> None:
    service = case_files()
    page = service.QueryCaseFiles(StartTime=WINDOW[0], EndTime=WINDOW[1], PageNo=1, PageSize=5)
    assert (page.PageNo, page.PageSize, len(page.CaseFiles.CaseFile)) == (1, 5, 5)
    times = [case.UpdateTime for case in page.CaseFiles.CaseFile]
    assert times == sorted(times)
    first = next(case for case in page.CaseFiles.CaseFile if case.CaseNo)
    assert re.fullmatch(r"CG2503\d{8}", first.CaseNo)
    again = service.GetCaseFile(CaseNo=first.CaseNo)
    assert zeep.helpers.serialize_object(again, dict) == zeep.helpers.serialize_object(first, dict)


def test_a_window_pages_completely(case_files: ServiceFactory, urban: testing.RunningSimulator) -> None:
    total, found = _all_pages(case_files(), size=37)
    truth = urban.truth()
    resent = [number for number, facts in truth.items() if "stale_resend" in facts["defects"]]
    assert len(found) == total == len(truth) + len(resent) == urban.health()["records"] + len(resent)
    in_order = found[: len(truth)]
    named = {case["CaseNo"] for case in in_order if case["CaseNo"]}
    lost = {number for number, facts in truth.items() if "missing_id" in facts["defects"]}
    assert named == set(truth) - lost
    assert len(in_order) - len(named) == len(lost)
    on_time = [case["UpdateTime"] for case in in_order
               if case["CaseNo"] and "future_update" not in truth[case["CaseNo"]]["defects"]]
    assert on_time == sorted(on_time)


def test_stale_resends_come_after_the_current_version(
    case_files: ServiceFactory, urban: testing.RunningSimulator
) -> None:
    _, found = _all_pages(case_files(), size=500)
    truth = urban.truth()
    current = {case["CaseNo"]: case for case in found[: len(truth)] if case["CaseNo"]}
    resent = found[len(truth):]
    assert resent
    for stale in resent:
        if stale["CaseNo"]:
            fresh = current[stale["CaseNo"]]
            assert len(_steps(stale)) < len(_steps(fresh))
            assert _steps(fresh)[: len(_steps(stale))] == _steps(stale)


def test_windows_are_half_open_and_tile_the_span(case_files: ServiceFactory) -> None:
    service = case_files()
    days = [f"2025-03-{day:02d} 00:00:00" for day in range(3, 11)]
    tiles = [_all_pages(service, 500, (start, end))[1] for start, end in itertools.pairwise(days)]
    _, whole = _all_pages(service, 500)
    assert sum(len(tile) for tile in tiles) == len(whole)
    for (start, end), tile in zip(itertools.pairwise(days), tiles, strict=True):
        on_time = [case["UpdateTime"] for case in tile if case["UpdateTime"] < WINDOW[1]]  # not mistyped
        assert all(start <= at < end for at in on_time)
    empty = service.QueryCaseFiles(StartTime=WINDOW[1], EndTime=WINDOW[1], PageNo=1, PageSize=10)
    assert (empty.Total, _listed(empty)) == (0, [])
    past = service.QueryCaseFiles(StartTime=WINDOW[0], EndTime=WINDOW[1], PageNo=999, PageSize=10)
    assert (past.Total, _listed(past)) == (len(whole), [])


def test_touched_cases_move_to_a_later_window_with_a_new_step(
    case_files: ServiceFactory, urban: testing.RunningSimulator
) -> None:
    service = case_files()
    before = service.QueryCaseFiles(StartTime=WINDOW[0], EndTime=WINDOW[1], PageNo=1, PageSize=1).Total
    touched = urban.touch(3)
    after = service.QueryCaseFiles(StartTime=WINDOW[0], EndTime=WINDOW[1], PageNo=1, PageSize=1).Total
    assert before - after >= 3
    _, later = _all_pages(service, 10, (WINDOW[1], "2999-01-01 00:00:00"))
    resent = [n for n in touched if "stale_resend" in urban.truth()[n]["defects"]]
    assert len(later) == 3 + len(resent)
    assert {case["CaseNo"] for case in later if case["CaseNo"]} <= set(touched)
    for number in touched:
        case = zeep.helpers.serialize_object(service.GetCaseFile(CaseNo=number), dict)
        last = _steps(case)[-1]
        assert last["StatusCode"] == case["StatusCode"]
        assert WINDOW[1] < last["StepTime"] <= case["UpdateTime"]


def test_a_wrong_password_is_refused_with_a_soap_fault(case_files: ServiceFactory) -> None:
    with pytest.raises(zeep.exceptions.Fault) as refused:
        case_files(password="hotline-demo-secret").GetCaseFile(CaseNo="CG250303000001")
    assert refused.value.code == "wsse:FailedAuthentication"


def test_a_replayed_nonce_and_an_old_created_time_are_refused(case_files: ServiceFactory) -> None:
    replaying = case_files(nonce="the-same-nonce-every-time")
    replaying.QueryCaseFiles(StartTime=WINDOW[0], EndTime=WINDOW[1], PageNo=1, PageSize=1)
    with pytest.raises(zeep.exceptions.Fault) as replayed:
        replaying.QueryCaseFiles(StartTime=WINDOW[0], EndTime=WINDOW[1], PageNo=1, PageSize=1)
    assert replayed.value.code == "wsse:FailedAuthentication"
    assert "already been used" in replayed.value.message
    late = datetime.now(UTC) - timedelta(seconds=301)
    with pytest.raises(zeep.exceptions.Fault) as stale:
        case_files(created=late).QueryCaseFiles(StartTime=WINDOW[0], EndTime=WINDOW[1], PageNo=1, PageSize=1)
    assert stale.value.code == "wsse:FailedAuthentication"


def test_an_unsigned_request_is_refused(urban: testing.RunningSimulator, http: requests.Session) -> None:
    unsigned = (f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:cg="{TNS}"><soap:Body><cg:GetCaseFile>'
                "<cg:CaseNo>x</cg:CaseNo></cg:GetCaseFile></soap:Body></soap:Envelope>").encode()
    answer = _post(http, urban, unsigned)
    assert answer.status_code == 500
    assert _fault_of(answer)[::2] == ("wsse:FailedAuthentication", "FailedAuthentication")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<cg:QueryCaseFiles><cg:EndTime>2025-03-10 00:00:00</cg:EndTime><cg:PageNo>1</cg:PageNo>"
         "<cg:PageSize>10</cg:PageSize></cg:QueryCaseFiles>", "missing element StartTime"),
        ("<cg:QueryCaseFiles><cg:StartTime>2025-03-03T00:00:00</cg:StartTime><cg:EndTime>2025-03-10 00:00:00"
         "</cg:EndTime><cg:PageNo>1</cg:PageNo><cg:PageSize>10</cg:PageSize></cg:QueryCaseFiles>",
         "StartTime must be"),
        ("<cg:QueryCaseFiles><cg:StartTime>2025-03-10 00:00:00</cg:StartTime><cg:EndTime>2025-03-03 00:00:00"
         "</cg:EndTime><cg:PageNo>1</cg:PageNo><cg:PageSize>10</cg:PageSize></cg:QueryCaseFiles>",
         "StartTime must not be later"),
        ("<cg:QueryCaseFiles><cg:StartTime>2025-03-03 00:00:00</cg:StartTime><cg:EndTime>2025-03-10 00:00:00"
         "</cg:EndTime><cg:PageNo>0</cg:PageNo><cg:PageSize>10</cg:PageSize></cg:QueryCaseFiles>",
         "PageNo must be"),
        ("<cg:QueryCaseFiles><cg:StartTime>2025-03-03 00:00:00</cg:StartTime><cg:EndTime>2025-03-10 00:00:00"
         "</cg:EndTime><cg:PageNo>1</cg:PageNo><cg:PageSize>501</cg:PageSize></cg:QueryCaseFiles>",
         "PageSize must be"),
        ("<cg:DeleteCaseFile><cg:CaseNo>x</cg:CaseNo></cg:DeleteCaseFile>", "unknown operation"),
    ],
    ids=["missing-start", "bad-time", "reversed", "page-zero", "page-too-large", "unknown-operation"],
)
def test_malformed_requests_get_a_precise_client_fault(
    urban: testing.RunningSimulator, http: requests.Session, body: str, expected: str
) -> None:
    answer = _post(http, urban, _signed_envelope(body))
    code, reason, error = _fault_of(answer)
    assert (answer.status_code, code, error) == (500, "soap:Client", "BadRequest")
    assert expected in reason


def test_a_doctype_is_refused(urban: testing.RunningSimulator, http: requests.Session) -> None:
    payload = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
               b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
               b'<cg:GetCaseFile xmlns:cg="urn:wuhan:szcg:casefile:v1"><cg:CaseNo>&xxe;</cg:CaseNo>'
               b"</cg:GetCaseFile></soap:Body></soap:Envelope>")
    answer = _post(http, urban, payload)
    code, reason, _ = _fault_of(answer)
    assert (answer.status_code, code) == (500, "soap:Client")
    assert "DOCTYPE" in reason
    assert "root:" not in answer.text


def test_an_unknown_case_file_is_not_found(case_files: ServiceFactory) -> None:
    with pytest.raises(zeep.exceptions.Fault) as missing:
        case_files().GetCaseFile(CaseNo="CG990101000001")
    assert missing.value.code == "soap:Client"
    assert missing.value.message.startswith("NotFound")


def test_the_wsdl_names_the_address_the_caller_used(
    urban: testing.RunningSimulator, http: requests.Session
) -> None:
    answer = http.get(urban.url + "/ws/casefile?wsdl", timeout=5)
    address = etree.fromstring(answer.content).find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None
    assert address.get("location") == urban.url + "/ws/casefile"


def test_injected_case_files_are_served_as_given(
    case_files: ServiceFactory, urban: testing.RunningSimulator, http: requests.Session
) -> None:
    service = case_files()
    total = service.QueryCaseFiles(StartTime=WINDOW[0], EndTime=WINDOW[1], PageNo=1, PageSize=1).Total
    injected = {"CaseNo": "CG250309999999", "Description": "<b>&描述</b>",
                "Progress": [{"StepTime": "2025-03-09 10:00:00", "StatusCode": "01"}]}
    assert urban.inject([injected]) == 1
    page = service.QueryCaseFiles(StartTime=WINDOW[0], EndTime=WINDOW[1], PageNo=total + 1, PageSize=1)
    assert page.Total == total + 1
    [served] = page.CaseFiles.CaseFile
    assert (served.CaseNo, served.Description, served.Address) == ("CG250309999999", "<b>&描述</b>", None)
    assert served.Progress.Step[0].StatusCode == "01"
    assert urban.injected() == [injected]
    refused = http.post(urban.url + "/_admin/inject", json={"records": [{"CaseNo": 1}]}, timeout=5)
    assert refused.status_code == 422


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status", "content_type"),
    [("5xx", 503, "text/plain"), ("429", 429, "text/plain"), ("fault", 500, "text/xml"),
     ("error_body", 200, "text/html")],
)
def test_a_fault_answers_the_next_request_only(
    urban: testing.RunningSimulator, http: requests.Session, mode: str, status: int, content_type: str
) -> None:
    urban.faults(mode, count=1, after=1, retry_after=7)
    answers = [_post(http, urban, _query()) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, status, 200]
    assert answers[1].headers["Content-Type"].startswith(content_type)
    if mode == "429":
        assert answers[1].headers["Retry-After"] == "7"
    if mode == "fault":
        assert _fault_of(answers[1])[::2] == ("soap:Server", "ServiceUnavailable")


def test_zeep_sees_a_soap_fault_and_a_throttle(
    urban: testing.RunningSimulator, case_files: ServiceFactory
) -> None:
    service = case_files()
    urban.faults("fault")
    with pytest.raises(zeep.exceptions.Fault) as fault:
        service.GetCaseFile(CaseNo="CG250303000001")
    assert fault.value.code == "soap:Server"
    urban.faults("429")
    with pytest.raises(zeep.exceptions.TransportError) as throttled:
        service.GetCaseFile(CaseNo="CG250303000001")
    assert throttled.value.status_code == 429


def test_a_hang_times_out_the_client_while_health_answers(urban: testing.RunningSimulator) -> None:
    urban.faults("hang", hang_seconds=10)
    outcome: list[BaseException] = []

    def call() -> None:
        with requests.Session() as session:
            try:
                _post(session, urban, _query(), timeout=1)
            except requests.Timeout as timeout:
                outcome.append(timeout)

    caller = threading.Thread(target=call)
    caller.start()
    while urban.armed()["hanging"] == 0 and caller.is_alive():
        pass
    assert urban.health()["partner"] == "urban_mgmt"
    caller.join()
    assert outcome
    urban.faults("none")


def test_a_trickle_sends_the_real_answer_piece_by_piece(
    urban: testing.RunningSimulator, http: requests.Session
) -> None:
    expected = _post(http, urban, _query(size=1)).content
    urban.faults("trickle", trickle_seconds=0.001)
    with http.post(urban.url + "/ws/casefile", data=_query(size=1), timeout=5, stream=True) as answer:
        pieces = list(iter(lambda: answer.raw.read1(65536), b""))
    assert b"".join(pieces) == expected
    assert len(pieces) > 10


@pytest.mark.parametrize("declare_length", [True, False])
def test_an_oversized_answer_repeats_one_case_file(
    urban: testing.RunningSimulator, http: requests.Session, declare_length: bool
) -> None:
    urban.faults("oversized", records=500, declare_length=declare_length)
    answer = _post(http, urban, _query())
    assert ("Content-Length" in answer.headers) == declare_length
    assert answer.content.count(b"<cg:CaseFile>") == 500
    assert b"<cg:Total>500</cg:Total>" in answer.content
    etree.fromstring(answer.content)


def test_a_default_oversized_answer_is_far_over_any_reply_cap(urban: testing.RunningSimulator) -> None:
    urban.faults("oversized")
    with requests.post(urban.url + "/ws/casefile", data=b"", timeout=5, stream=True) as answer:
        assert int(answer.headers["Content-Length"]) > 100 * 1024 * 1024
        assert b"<cg:Total>150001</cg:Total>" in answer.raw.read(2048)


def test_bad_total_and_hostile_xml(urban: testing.RunningSimulator, case_files: ServiceFactory,
                                   http: requests.Session) -> None:
    urban.faults("bad_total")
    raw = case_files(raw_response=True).QueryCaseFiles(StartTime=WINDOW[0], EndTime=WINDOW[1], PageNo=1,
                                                        PageSize=3)
    assert raw.status_code == 200
    assert re.search(r"<cg:Total>\d+条</cg:Total>", raw.content.decode())
    assert raw.content.count(b"<cg:CaseFile>") == 3
    urban.faults("hostile_xml")
    hostile = _post(http, urban, _query())
    assert hostile.status_code == 200
    assert hostile.content.count(b"<!ENTITY") == 10
    assert b"&lol9;" in hostile.content


# --- the data -------------------------------------------------------------------------------


def test_the_same_seed_serves_the_same_bytes(
    urban: testing.RunningSimulator, http: requests.Session, tmp_path: Path
) -> None:
    page = _post(http, urban, _query(page=2, size=50)).content
    with testing.start("urban_mgmt", anchor=ANCHOR, var_dir=tmp_path) as twin:
        assert _post(http, twin, _query(page=2, size=50)).content == page
    with testing.start("urban_mgmt", anchor=ANCHOR, seed=43, var_dir=tmp_path) as other:
        assert _post(http, other, _query(page=2, size=50)).content != page


def test_clean_codes_are_well_formed(case_files: ServiceFactory, urban: testing.RunningSimulator) -> None:
    published = {f"{c.case_type}:{c.code}": c for c in categories()}
    grids = region_codes()
    clean = [case for case in _served(case_files(), urban).values() if not case["_defects"]]
    assert len(clean) > 250
    assert {case["CaseType"] for case in clean} == {"部件", "事件"}
    for case in clean:
        assert re.fullmatch(r"CG\d{12}", case["CaseNo"]), case
        assert re.fullmatch(r"\d{14}", case["GridCode"]) and case["GridCode"] in grids, case
        code = case["CategoryCode"]
        if case["CaseType"] == "部件":
            assert re.fullmatch(r"\d{16}", code), case
            assert code[:6] == case["GridCode"][:6], case
        else:
            assert re.fullmatch(r"\d{4}", code), case
        category = published[_key(case)]
        assert (case["MajorName"], case["MinorName"]) == (category.major_name, category.minor_name)
        assert case["SourceName"] == sources()[case["SourceCode"]]
        assert case["StatusName"] == statuses()[case["StatusCode"]]
        assert case["TimeLimitUnit"] in ("小时", "工作日")
        public = case["SourceCode"] in ("02", "03")
        assert bool(case["SupervisorId"]) == (case["SourceCode"] == "01"), case
        assert not case["ReporterPhone"] or public, case


@pytest.mark.parametrize("partner", ["urban", "defective"])
def test_coordinates_project_back_inside_the_city(
    case_files: ServiceFactory, request: pytest.FixtureRequest, partner: str
) -> None:
    simulator: testing.RunningSimulator = request.getfixturevalue(partner)
    pinned = 0
    for case in _served(case_files(simulator=simulator), simulator).values():
        defects = case["_defects"]
        if not case["CoordX"]:
            assert "outside_city" not in defects and "swapped_coordinates" not in defects
            continue
        pinned += 1
        easting, northing = float(case["CoordX"]), float(case["CoordY"])
        if "swapped_coordinates" in defects:
            assert easting > northing
            easting, northing = northing, easting
        lng, lat = TO_WGS84.transform(easting, northing)
        assert _inside_city(lng, lat) != ("outside_city" in defects), case
        assert 300_000 < easting < 700_000 or "outside_city" in defects
    assert pinned > 200


def test_clean_points_lie_in_their_grid(case_files: ServiceFactory, urban: testing.RunningSimulator) -> None:
    centres = {}
    with (ROOT / "schemas" / "reference" / "regions.csv").open(encoding="utf-8") as regions:
        for line in regions.read().splitlines()[1:]:
            code, _, level, _, _, lng, lat = line.split(",")
            if level == "grid":
                centres[code] = (float(lng), float(lat))
    for case in _served(case_files(), urban).values():
        if case["_defects"] or not case["CoordX"]:
            continue
        lng, lat = TO_WGS84.transform(float(case["CoordX"]), float(case["CoordY"]))
        centre = centres[case["GridCode"]]
        assert abs(lng - centre[0]) < 0.002 and abs(lat - centre[1]) < 0.002, case


@pytest.mark.parametrize("partner", ["urban", "defective"])
def test_progress_logs_are_ordered_and_agree_with_the_status(
    case_files: ServiceFactory, request: pytest.FixtureRequest, partner: str
) -> None:
    simulator: testing.RunningSimulator = request.getfixturevalue(partner)
    seen: Counter[str] = Counter()
    for case in _served(case_files(simulator=simulator), simulator).values():
        steps = _steps(case)
        times = [step["StepTime"] for step in steps]
        assert times == sorted(times), case
        assert times[0] == case["ReportTime"]
        assert steps[0]["StatusCode"] == "01"
        assert steps[-1]["StatusCode"] == case["StatusCode"]
        codes = [step["StatusCode"] for step in steps]
        seen.update(codes)
        if "future_update" in case["_defects"]:
            assert case["UpdateTime"] > "2030"
        else:
            assert times[-1] == case["UpdateTime"]
        if "unknown_status" in case["_defects"]:
            assert case["StatusCode"] not in statuses()
            continue
        assert set(codes) <= set(statuses())
        assert bool(case["CloseTime"]) == (case["StatusCode"] == "08")
        assert not case["CloseTime"] or case["CloseTime"] == times[-1]
        registered = [step["StepTime"] for step in steps if step["StatusCode"] == "02"]
        assert case["RegisterTime"] == (registered[0] if registered else None)
        assert bool(case["Department"]) == (case["StatusCode"] not in ("01", "02", "11", "99")), case
        assert bool(case["Result"]) == (case["StatusCode"] in ("06", "07", "08", "99")), case
        for earlier, later in itertools.pairwise(codes):
            assert (earlier, later) in _ALLOWED, codes
    assert {"03", "04", "05", "06", "07", "08"} <= set(seen)


_ALLOWED = {
    ("01", "02"), ("02", "03"), ("03", "04"), ("04", "05"), ("05", "06"), ("06", "07"), ("07", "08"),
    ("03", "11"), ("11", "03"), ("06", "12"), ("12", "05"), ("01", "99"), ("02", "99"),
}


def test_each_defect_is_served_as_the_truth_says(
    case_files: ServiceFactory, defective: testing.RunningSimulator
) -> None:
    published = {f"{c.case_type}:{c.code}" for c in categories()}
    grids = region_codes()
    served = _served(case_files(simulator=defective), defective)
    assert len({kind for case in served.values() for kind in case["_defects"]}) == 10
    for number, case in served.items():
        defects = case["_defects"]
        code = case["CategoryCode"]
        assert (not case["CaseNo"]) == ("missing_id" in defects), number
        assert (not case["Description"] or not case["Address"]) == ("missing_field" in defects), number
        assert (case["GridCode"] not in grids) == ("unknown_grid" in defects), number
        assert re.fullmatch(r"\d{14}", case["GridCode"]), number
        malformed = case["CaseType"] == "部件" and not (
            len(code) == 16 and code.isdigit() and code[:6] == case["GridCode"][:6])
        assert malformed == ("bad_component_code" in defects), number
        assert (_key(case) not in published) == ("unknown_category" in defects), number
        assert (case["StatusCode"] not in statuses()) == ("unknown_status" in defects), number
        future = parse_local(case["UpdateTime"]) > parse_local(WINDOW[1])
        assert future == ("future_update" in defects), number


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_defects_come_at_about_the_configured_rate(rate: float) -> None:
    records = generate("urban_mgmt", Options(seed=11, records=2000, defect_rate=rate, anchor=ANCHOR))
    share = sum(1 for record in records if record.defects) / len(records)
    assert abs(share - rate) < 4 * (rate * (1 - rate) / len(records)) ** 0.5 + 0.005
    kinds = Counter(kind for record in records for kind in record.defects)
    if rate > 0.1:
        assert len(kinds) == 10
        assert min(kinds.values()) > 0.5 * max(kinds.values())
