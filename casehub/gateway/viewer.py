"""Who may see the pages for people, decided by a guard the host supplies; none means nobody.

The pages (`routers/pages.py`) are for people logged into the Airflow UI. The core never
imports Airflow, so it cannot check an Airflow login itself: the host that mounts the gateway
passes a guard, a FastAPI dependency returning a `Viewer` or raising `NotSignedIn` /
`Forbidden` (the Airflow plugin passes one built on Airflow's auth manager). Without a guard —
`casehub serve` on its own — every page answers 403 and shows nothing.

A browser proves itself with a cookie, which it also sends on a request another site makes it
send; so a state-changing form (replay) is accepted only with a token derived from that cookie
(`Viewer.form_token`) and, when the browser names one, an `Origin` of the page's own. A caller
that sends its credential in the `Authorization` header needs neither: no browser adds that
header by itself.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import Request

from casehub.gateway.problems import Problem

LOGIN_HINT = "log in to the Airflow UI and open this page from its casehub menu"


class PageRefusal(Problem):
    """A refusal on a page: HTML for a browser, problem+json for a client (`routers/pages.py`)."""


def not_signed_in(detail: str = LOGIN_HINT) -> PageRefusal:
    return PageRefusal(401, "login-required", "Login required", detail)


def forbidden(detail: str = "your Airflow role may not do this") -> PageRefusal:
    return PageRefusal(403, "forbidden", "Forbidden", detail)


@dataclass(frozen=True)
class Viewer:
    """A person (or tool) let in by the guard.

    `may_replay` is whether they may run quarantined records through the pipeline again.
    `session` is the cookie credential they came with, None when they sent an `Authorization`
    header: the secret a form token is derived from.
    """

    name: str
    may_replay: bool
    session: str | None = None

    def form_token(self) -> str:
        """The anti-forgery token of this session's forms ('' for a header-authenticated caller)."""
        if self.session is None:
            return ""
        return hmac.new(self.session.encode(), b"casehub pages form", hashlib.sha256).hexdigest()

    def check_form(self, request: Request, token: str | None) -> None:
        """Refuse a cookie-authenticated POST from another origin or without this session's token."""
        if self.session is None:
            return
        origin = request.headers.get("origin")
        if origin is not None and not _same_origin(origin, request):
            raise forbidden("this form was sent from another site")
        if not token or not hmac.compare_digest(token, self.form_token()):
            raise forbidden("the form's token is missing or stale: reload the page and try again")


Guard = Callable[..., Viewer | Awaitable[Viewer]]
"""A FastAPI dependency that lets a request in as a `Viewer` or raises a `PageRefusal`."""


def no_guard() -> Viewer:
    """The guard of a gateway served without a host's login: it lets nobody in."""
    raise forbidden("the casehub pages are served only inside the Airflow UI, behind its login")


def _same_origin(origin: str, request: Request) -> bool:
    sent = urlsplit(origin)
    host = request.headers.get("host", "")
    forwarded = request.headers.get("x-forwarded-host")
    return sent.netloc != "" and sent.netloc in {host, forwarded}


def wants_html(request: Request) -> bool:
    """Whether the caller is a browser asking for a page (`Accept: text/html` before JSON)."""
    accept = request.headers.get("accept", "").lower()
    if "text/html" not in accept:
        return False
    json_at = accept.find("application/json")
    return json_at < 0 or accept.find("text/html") < json_at
