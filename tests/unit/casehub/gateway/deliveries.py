"""Signed deliveries as the community app sends them, and a manifest with it as a pushing partner.

Shared by the gateway's unit tests and the webhook intake integration tests, which import it as
`tests.unit.casehub.gateway.deliveries`.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from casehub.partners import Partner, load_partners

PARTNER = "neighborhood_app"
SECRET_ENV = "CASEHUB_TEST_WEBHOOK_SECRET"
PATH = f"/webhooks/{PARTNER}"
MAX_BODY_BYTES = 4096
TOLERANCE_SECONDS = 300

MANIFEST = f"""
[[partner]]
code = "{PARTNER}"
title = "武汉微邻里 community app"
protocol = "webhooks"
connector = "connectors.neighborhood_app"
connection = "casehub_neighborhood_app"
pool = "partner_neighborhood_app"

[partner.push_in]
path = "{PATH}"
secret_env = "{SECRET_ENV}"
event_types = ["report.created", "report.updated"]
id_field = "reportId"
updated_field = "updatedAt"
max_body_bytes = {MAX_BODY_BYTES}
tolerance_seconds = {TOLERANCE_SECONDS}
schedule = "*/5 * * * *"
batch_size = 500
"""


def manifest(directory: Path) -> Path:
    path = directory / "partners.toml"
    path.write_text(MANIFEST, encoding="utf-8")
    return path


def partners(directory: Path) -> tuple[Partner, ...]:
    return load_partners(manifest(directory))


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def report(report_id: str = "WL202612010001", **data: Any) -> dict[str, Any]:
    """A report event; the reporter fields stand for what the real app sends."""
    return {
        "type": "report.created",
        "timestamp": "2026-12-01T08:00:00+08:00",
        "data": {
            "reportId": report_id,
            "updatedAt": "2026-12-01T08:00:00+08:00",
            "title": "小区门口路灯不亮",
            "reporterName": "张明",
            "reporterPhone": "13800138000",
            **data,
        },
    }


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


def signed(
    body: bytes,
    *signing_secrets: str,
    webhook_id: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, str]:
    """The headers of `body` signed with each of `signing_secrets` (a sender mid-rotation signs twice)."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp = timestamp or datetime.now(UTC)
    text = body.decode()
    signatures = " ".join(Webhook(secret).sign(webhook_id, timestamp, text) for secret in signing_secrets)
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signatures,
    }
