"""Send cases to the health commission (卫健委): `POST /api/v1/health-cases`.

The body is one JSON document, `{"batchId": <id>, "records": [...]}` (UTF-8); the signature
covers it as sent. A batch id the commission already holds is acknowledged again without a
second effect. Signing, bounds, retries and the receipt are the kit's (`connectors.kit.sink`).
"""

from __future__ import annotations

import json

from casehub.ports import OutboundBatch
from connectors.kit.sink import SignedBatchSink

HEALTH_CASES = "/api/v1/health-cases"


class HealthCommissionSink(SignedBatchSink):
    partner = "health_commission"
    path = HEALTH_CASES

    def frame(self, batch: OutboundBatch) -> tuple[bytes, dict[str, str]]:
        document = {"batchId": batch.batch_id, "records": [dict(record) for record in batch.records]}
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return body, {"Content-Type": "application/json; charset=utf-8"}
