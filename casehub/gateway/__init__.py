"""The hub's gateway: health, store statistics, the quarantine, masked case reads, webhook intake.

It runs on its own (`casehub serve`) and mounted in the Airflow API server (`plugins/`). Airflow
does not authenticate plugin apps, so the gateway guards itself: the read routes need
`Authorization: Bearer <CASEHUB_GATEWAY_TOKEN>` (503 with none configured), and webhooks their
Standard Webhooks signature. Errors are problem details (RFC 9457) that never carry personal
data: a reporter is decrypted only in memory, and leaves masked; a webhook body is never echoed.

    app.py        create_app, serve: the routers behind one error surface
    context.py    the store, key ring, partners and token, resolved on first use
    problems.py   Problem and the handlers answering every error as problem+json
    auth.py       the read routes' bearer token
    signatures.py Standard Webhooks headers, timestamp and signature
    routers/      one module per concern: health, read, webhooks

Creating the app does no I/O and imports only FastAPI, SQLAlchemy and pydantic, which every
Airflow process has loaded already, so the plugin stays cheap; the store, the key ring and the
partner manifest are reached on first use.
"""

from casehub.gateway.app import create_app, serve

__all__ = ["create_app", "serve"]
