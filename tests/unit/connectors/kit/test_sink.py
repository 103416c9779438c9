"""The signed batch sink's framing and signature: what every recipient checks, byte for byte."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json

from casehub.ports import OutboundBatch
from connectors.city_brain.transport import CityBrainSink, ndjson
from connectors.health_commission.transport import HealthCommissionSink
from connectors.kit.sink import Destination, signature

BATCH = OutboundBatch(
    recipient="city_brain",
    batch_id="d4fe225d-0dbf-5a21-b1bc-0138efecd04b",
    records=[{"case_id": "a", "category": "080009"}, {"case_id": "b", "status": "已办结"}],
)
DESTINATION = Destination(url="http://127.0.0.1:9", login="casehub", secret="brain-demo-secret")


def test_the_signature_is_hmac_sha256_over_batch_id_timestamp_and_body() -> None:
    expected = hmac.new(b"s3cret", b"b-1.1764583200.{}", hashlib.sha256).hexdigest()
    assert signature("s3cret", "b-1", "1764583200", b"{}") == f"sha256={expected}"


def test_the_city_brain_frame_is_gzip_of_one_json_line_per_record_the_same_on_every_attempt() -> None:
    with CityBrainSink(DESTINATION) as sink:
        body, headers = sink.frame(BATCH)
        assert sink.frame(BATCH)[0] == body
    assert headers == {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    assert gzip.decompress(body) == (
        b'{"case_id":"a","category":"080009"}\n' + '{"case_id":"b","status":"已办结"}\n'.encode()
    )
    assert ndjson([]) == b""


def test_the_health_commission_frame_is_one_json_document_naming_its_batch() -> None:
    with HealthCommissionSink(DESTINATION) as sink:
        body, headers = sink.frame(BATCH)
    assert headers == {"Content-Type": "application/json; charset=utf-8"}
    assert json.loads(body) == {"batchId": BATCH.batch_id, "records": [dict(r) for r in BATCH.records]}


def test_the_secret_never_shows_in_a_repr() -> None:
    assert "brain-demo-secret" not in repr(DESTINATION)
