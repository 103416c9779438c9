"""The read routes' guard: `Authorization: Bearer <CASEHUB_GATEWAY_TOKEN>`.

Airflow does not authenticate plugin apps, so the gateway guards itself; with no token
configured the guarded routes answer 503 rather than open up. Webhooks are not behind it: a
partner proves itself by its Standard Webhooks signature instead.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from casehub.gateway.context import TOKEN_ENV, context_of
from casehub.gateway.problems import Problem

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="gatewayToken",
    description=f"the gateway's token, `{TOKEN_ENV}`",
)


def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> None:
    """Let the request through only with the configured token; 503 when none is configured."""
    expected = context_of(request).token()
    if expected is None:
        raise Problem(
            503,
            "not-configured",
            "Gateway not configured",
            f"the gateway has no token configured: set {TOKEN_ENV}",
        )
    given = "" if credentials is None else credentials.credentials.strip()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Problem(
            401,
            "unauthorized",
            "Unauthorized",
            "send Authorization: Bearer <gateway token>",
            headers={"WWW-Authenticate": 'Bearer realm="casehub"'},
        )
