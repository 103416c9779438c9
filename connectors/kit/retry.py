"""How a failed call to a partner is retried: the one place that decides "ask again" or "give up".

429 and 503 wait for the partner's Retry-After (an ask beyond the cap ends the call at once),
other 5xx, timeouts and dropped connections back off exponentially with jitter; after the last
attempt the call fails with `TransientPartnerError`, so that Airflow retries the task later.
Permanent errors (401, 403 and every other 4xx, a reply that breaks the contract) fail at once.
What one HTTP exchange's failure means is decided in `connectors.kit.transport`; all attempts
of a call share the request id sent as `X-Request-ID`.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from casehub.errors import TransientPartnerError

logger = logging.getLogger(__name__)

T = TypeVar("T")

_jitter = random.SystemRandom()


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a call to a partner is repeated."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait after failed `attempt` (from 1), or None to stop retrying now.

        The partner's Retry-After is obeyed as asked; one that exceeds `max_retry_after` ends
        the call, carrying the ask to the scheduler rather than holding a worker that long.
        Otherwise the back-off doubles per attempt, with "equal jitter" (half fixed, half
        random) so that parallel tasks do not return to a recovering partner in step.
        """
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + _jitter.uniform(0, ceiling / 2)


def new_request_id() -> str:
    """A correlation id for one call, sent as `X-Request-ID` and kept on its errors."""
    return uuid.uuid4().hex


def with_retries(
    attempt: Callable[[str], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `attempt(request_id)` until it succeeds, fails permanently or the policy gives up.

    `attempt` raises `TransientPartnerError` for what may pass and `PermanentPartnerError`
    for what will not. All attempts of one call share a request id, so the partner's logs
    show them as one call.
    """
    request_id = new_request_id()
    number = 1
    while True:
        try:
            return attempt(request_id)
        except TransientPartnerError as error:
            wait = policy.delay(number, error.retry_after) if number < policy.attempts else None
            if wait is None:
                raise
            logger.warning(
                "%s; attempt %d of %d, retrying in %.1f s (request id %s)",
                error,
                number,
                policy.attempts,
                wait,
                request_id,
            )
            sleep(wait)
            number += 1
