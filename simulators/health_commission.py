"""The health commission (卫健委) simulator: a signed upload of health-related cases as JSON.

POST /api/v1/health-cases takes one batch, `{"batchId": <the X-Batch-Id>, "records": [...]}`
(`Content-Type: application/json`), signed as `simulators.receiver` checks. A batch id is
applied once; a repeated one is acknowledged with `duplicate: true`. Records may carry only the
fields of the commission's allow-list (schemas/recipients/health_commission.json).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from simulators.receiver import Refused, json_object, receiver_app

PARTNER = "health_commission"
PATH = "/api/v1/health-cases"
DEMO_SECRET = "health-demo-secret"  # noqa: S105 - the documented demo credential, not a secret


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


def create_app(*, var_dir: str | Path = "var", username: str = "casehub", password: str = DEMO_SECRET,
               hang_seconds: float = 30.0, retry_after: int = 1, **_: Any) -> FastAPI:
    """A health commission taking batches; the data options other simulators take are accepted
    and unused."""
    return receiver_app(partner=PARTNER, title="health commission simulator", path=PATH,
                        login=username, secret=password, decode=decode, var_dir=var_dir,
                        hang_seconds=hang_seconds, retry_after=retry_after)
