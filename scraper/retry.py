"""Retrying: how long to wait before the next try, and the one line that says so. fetch (and
through it backfill) and notify use it, so every retry backs off and is announced the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


def backoff_s(
    attempt: int,
    *,
    base_s: float,
    max_s: float,
    retry_after_s: float | None = None,
    jitter: Callable[[], float] | None = None,
) -> float:
    """The wait after the `attempt`-th failed try (1, 2, …): the server's Retry-After when it sent
    one, else `base_s` doubling per try, times 0.5 + jitter() (jitter() == 0.5: the nominal wait);
    both capped at `max_s`."""
    if retry_after_s is not None:
        return min(retry_after_s, max_s)
    nominal = base_s * 2.0 ** min(attempt - 1, 60)
    if jitter is not None:
        nominal *= 0.5 + jitter()
    return min(nominal, max_s)


def announce_retry(what: str, reason: str, *, wait_s: float, attempt: int, attempts: int) -> None:
    """Log `what: reason; retrying in 2.0 s (attempt 1 of 4)` as a notice: the CLI shows notices
    on a terminal even without -v, so a person watching a wait knows it is not a hang."""
    log.info(
        "%s: %s; retrying in %.1f s (attempt %d of %d)",
        what,
        reason,
        wait_s,
        attempt,
        attempts,
        extra={"notice": True},
    )
