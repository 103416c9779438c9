"""The city brain (城市大脑) simulator: a signed batch upload of NDJSON in gzip.

POST /api/v1/batches takes one batch: the body is gzip (`Content-Encoding: gzip`) of NDJSON
(`Content-Type: application/x-ndjson`), one JSON object a line, each line ended by a newline,
signed as `simulators.receiver` checks. A batch id is applied once; a repeated one is
acknowledged with `duplicate: true`. Records may carry only the fields of the city brain's
allow-list (schemas/recipients/city_brain.json).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from simulators.receiver import Refused, json_object, receiver_app

PARTNER = "city_brain"
PATH = "/api/v1/batches"
DEMO_SECRET = "brain-demo-secret"  # noqa: S105 - the documented demo credential, not a secret
MAX_UNCOMPRESSED_BYTES = 64 * 1024 * 1024


def decode(body: bytes, headers: Mapping[str, str], batch_id: str) -> list[dict[str, Any]]:
    """The records of a gzip NDJSON body; wrong framing is refused with what is wrong."""
    if headers.get("Content-Encoding", "").lower() != "gzip":
        raise Refused(415, "NOT_GZIP", "需要 gzip 压缩 Content-Encoding must be gzip")
    if headers.get("Content-Type", "").partition(";")[0].strip().lower() != "application/x-ndjson":
        raise Refused(415, "NOT_NDJSON", "需要 NDJSON Content-Type must be application/x-ndjson")
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        text = inflater.decompress(body, MAX_UNCOMPRESSED_BYTES)
        complete = inflater.eof and not inflater.unconsumed_tail
    except zlib.error:
        raise Refused(400, "BAD_GZIP", "解压失败 body is not gzip") from None
    if not complete:
        raise Refused(400, "BAD_GZIP", "解压失败 body is truncated or too large")
    if text and not text.endswith(b"\n"):
        raise Refused(400, "BAD_NDJSON", "格式错误 every NDJSON line ends with a newline")
    return [json_object(line, f"line {number}")
            for number, line in enumerate(text.split(b"\n")[:-1], start=1)]


def create_app(*, var_dir: str | Path = "var", username: str = "casehub", password: str = DEMO_SECRET,
               hang_seconds: float = 30.0, retry_after: int = 1, **_: Any) -> FastAPI:
    """A city brain taking batches; the data options other simulators take are accepted and unused."""
    return receiver_app(partner=PARTNER, title="city brain simulator", path=PATH, login=username,
                        secret=password, decode=decode, var_dir=var_dir, hang_seconds=hang_seconds,
                        retry_after=retry_after)

