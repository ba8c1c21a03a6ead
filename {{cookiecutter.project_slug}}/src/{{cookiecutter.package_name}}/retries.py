"""Trying a failed upstream call again: which faults, how long to wait, when to stop.

stamina does the waiting (exponential backoff with jitter); its testing mode, which the
tests switch on, turns every wait into none.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import TypeVar

import stamina
from fastapi import status

from .errors import UpstreamError

T = TypeVar("T")

# Methods that leave the upstream in the same state however often they are sent; POST and
# PATCH are retried only when the caller says so (an idempotency key upstream, say).
IDEMPOTENT = frozenset({"GET", "PUT", "DELETE"})
# Answers that say "not now" rather than "no": the upstream or a proxy in front of it.
RETRIED_STATUSES = frozenset(
    {
        status.HTTP_502_BAD_GATEWAY,
        status.HTTP_503_SERVICE_UNAVAILABLE,
        status.HTTP_504_GATEWAY_TIMEOUT,
    }
)
# Backoff: 0.1 s, 0.2 s, 0.4 s... up to 2 s, each plus up to 0.1 s of jitter.
WAIT_INITIAL = 0.1
WAIT_MAX = 2.0
WAIT_JITTER = 0.1


def seconds_to_wait(retry_after: str | None) -> float | None:
    """A `Retry-After` header in seconds from now: a number of seconds or an HTTP date.
    None when it is missing or cannot be read."""
    if retry_after is None:
        return None
    value = retry_after.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except ValueError:
        return None
    return max(0.0, when.timestamp() - time.time())


async def retried(
    attempt: Callable[[], Awaitable[T]],
    first: UpstreamError,
    *,
    attempts: int,
    seconds_left: float,
    retry_after_max: float,
) -> T:
    """What `attempt` returns once it succeeds, after `first` failed: at most `attempts` in
    all, within `seconds_left`. Raises the last fault, or a 504 when the time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds_left
    faults = [first]
    made = 1

    def wait_for(exc: Exception) -> bool | float:
        # stamina asks after each failed attempt: False stops, True backs off exponentially,
        # a number waits that long (the upstream's Retry-After, up to retry_after_max).
        left = deadline - loop.time()
        # Checked here as well as by the timeout below: an attempt timing out at the deadline
        # can turn the deadline's cancellation into a fault of its own (aiohttp's timeout).
        if not isinstance(exc, UpstreamError) or not exc.retryable or left <= 0:
            return False
        if exc.retry_after is None:
            return True
        wait = min(exc.retry_after, retry_after_max)
        # A wait that would end past the deadline is no retry: answer the fault now.
        return wait if wait < left else False

    try:
        async with asyncio.timeout_at(deadline):
            async for trying in stamina.retry_context(
                on=wait_for,
                attempts=attempts,
                timeout=None,  # the deadline above bounds waits and attempts alike
                wait_initial=WAIT_INITIAL,
                wait_max=WAIT_MAX,
                wait_jitter=WAIT_JITTER,
            ):
                with trying:
                    if trying.num == 1:
                        # Replayed, not sent again: stamina then waits before the second.
                        raise first
                    made = trying.num
                    try:
                        return await attempt()
                    except UpstreamError as fault:
                        faults.append(fault)
                        fault.attempts = made
                        raise
    except TimeoutError as exc:
        raise UpstreamError(
            status.HTTP_504_GATEWAY_TIMEOUT,
            "upstream timed out",
            upstream_status=faults[-1].upstream_status,
            attempts=made,
        ) from exc
    raise AssertionError("stamina ends with a result or the last fault")  # pragma: no cover
