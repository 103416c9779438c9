"""Upload batches to the city brain (城市大脑): `POST /api/v1/batches`.

The body is the batch's records as NDJSON (one JSON object a line, UTF-8), compressed with
gzip (`Content-Encoding: gzip`); the signature covers the compressed bytes, as sent. A batch
id the city brain already holds is acknowledged again without a second effect. Signing,
bounds, retries and the receipt are the kit's (`connectors.kit.sink`).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from typing import Any

from casehub.ports import OutboundBatch
from connectors.kit.sink import SignedBatchSink

BATCHES = "/api/v1/batches"


def ndjson(records: Iterable[Mapping[str, Any]]) -> bytes:
    """One compact JSON object a line, each line ended by a newline."""
    return b"".join(
        json.dumps(dict(record), ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        for record in records
    )


class CityBrainSink(SignedBatchSink):
    partner = "city_brain"
    path = BATCHES

    def frame(self, batch: OutboundBatch) -> tuple[bytes, dict[str, str]]:
        # mtime 0: the same batch compresses to the same bytes on every attempt.
        body = gzip.compress(ndjson(batch.records), mtime=0)
        return body, {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
