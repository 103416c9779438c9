"""Standard Webhooks verification: each header's fault its own problem, one valid signature and one
valid secret enough, the manifest's tolerance both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casehub.errors import ConfigurationError
from casehub.gateway.problems import Problem
from casehub.gateway.signatures import check_timestamp, parse_headers, verifiers, verify
from tests.unit.casehub.gateway.deliveries import body_of, new_secret, report, signed

SECRET, OTHER = new_secret(), new_secret()
BODY = body_of(report())
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
TOLERANCE = timedelta(seconds=300)


def refusal(call, *args) -> Problem:
    with pytest.raises(Problem) as caught:
        call(*args)
    return caught.value


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
@pytest.mark.parametrize("value", [None, ""], ids=["absent", "empty"])
def test_a_missing_header_is_named(header: str, value: str | None) -> None:
    headers = signed(BODY, SECRET)
    if value is None:
        del headers[header]
    else:
        headers[header] = value
    problem = refusal(parse_headers, headers)
    assert (problem.status, problem.slug, problem.extensions) == (400, "missing-header", {"header": header})
    assert header in problem.detail


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("webhook-id", "msg with spaces"),
        ("webhook-id", "msg_" + "x" * 200),
        ("webhook-id", "消息1"),
        ("webhook-timestamp", "yesterday"),
        ("webhook-timestamp", "1764547200.5"),
        ("webhook-timestamp", "-1764547200"),
        ("webhook-timestamp", "１７６４５４７２００"),
        ("webhook-timestamp", "123456789012"),
        ("webhook-signature", "v1a,c2lnbmF0dXJl"),
        ("webhook-signature", "v1,not*base64"),
        ("webhook-signature", "sig-without-version"),
    ],
)
def test_a_malformed_header_is_named_and_not_echoed(header: str, value: str) -> None:
    headers = {**signed(BODY, SECRET), header: value}
    problem = refusal(parse_headers, headers)
    assert (problem.status, problem.slug, problem.extensions) == (400, "malformed-header", {"header": header})
    assert value not in problem.detail


def test_signatures_of_other_schemes_and_noise_are_skipped() -> None:
    headers = signed(BODY, SECRET)
    headers["webhook-signature"] = "v1a,c2lnbmF0dXJl v1,%%% " + headers["webhook-signature"]
    verify(parse_headers(headers), BODY.decode(), verifiers(SECRET, "SECRET"))


def test_one_valid_signature_among_several_is_enough() -> None:
    headers = signed(BODY, OTHER, SECRET)
    assert len(headers["webhook-signature"].split()) == 2
    verify(parse_headers(headers), BODY.decode(), verifiers(SECRET, "SECRET"))


def test_one_valid_secret_among_several_is_enough() -> None:
    verify(parse_headers(signed(BODY, SECRET)), BODY.decode(), verifiers(f"{OTHER} {SECRET}", "SECRET"))
    verify(parse_headers(signed(BODY, OTHER)), BODY.decode(), verifiers(f"{OTHER} {SECRET}", "SECRET"))


@pytest.mark.parametrize("tampered", ["body", "webhook-id", "webhook-timestamp", "secret"])
def test_any_change_to_what_was_signed_is_a_bad_signature(tampered: str) -> None:
    headers = signed(BODY, SECRET, timestamp=NOW)
    text = BODY.decode()
    ring = verifiers(SECRET, "SECRET")
    if tampered == "body":
        text = text.replace("路灯", "水管")
    elif tampered == "secret":
        ring = verifiers(OTHER, "SECRET")
    elif tampered == "webhook-id":
        headers["webhook-id"] += "x"
    else:
        headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + 1)
    problem = refusal(verify, parse_headers(headers), text, ring)
    assert (problem.status, problem.slug) == (401, "bad-signature")


@pytest.mark.parametrize(
    ("offset", "slug"),
    [(-301, "stale-timestamp"), (301, "future-timestamp"), (-300, None), (300, None), (0, None)],
)
def test_the_timestamp_must_lie_within_the_tolerance_either_way(offset: int, slug: str | None) -> None:
    parsed = parse_headers(signed(BODY, SECRET, timestamp=NOW + timedelta(seconds=offset)))
    if slug is None:
        check_timestamp(parsed, NOW, TOLERANCE)
        return
    problem = refusal(check_timestamp, parsed, NOW, TOLERANCE)
    assert (problem.status, problem.slug, problem.extensions) == (401, slug, {"header": "webhook-timestamp"})


@pytest.mark.parametrize("value", ["", "   ", "whsec_", "whsec_!!!!", "c2VjcmV0", f"{new_secret()} whsec_%%"])
def test_a_malformed_secret_is_a_configuration_error_that_does_not_quote_it(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        verifiers(value, "APP_SECRET")
    message = str(caught.value)
    assert "APP_SECRET" in message
    assert all(len(part) < 8 or part not in message for part in value.split())


@given(st.dictionaries(st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature"]), st.text()))
def test_whatever_the_headers_hold_the_answer_is_a_problem_or_a_parse(headers: dict[str, str]) -> None:
    try:
        parsed = parse_headers(headers)
    except Problem as problem:
        status = problem.status
    else:
        assert parsed.signatures
        status = 200
    assert status in (200, 400)
