"""Retries: transient faults of idempotent calls are tried again, within one deadline.

stamina's testing mode (conftest.py) keeps the number of attempts and drops every wait, so
these tests never sleep between attempts, but for the one about the waits themselves; the
ones about the deadline wait on timeouts.
"""

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Literal

import httpx
import pytest
import stamina
from pydantic import BaseModel
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from {{ cookiecutter.package_name }}.resources import Resources
from {{ cookiecutter.package_name }}.retries import retried, seconds_to_wait
from {{ cookiecutter.package_name }}.upstream import UpstreamError

from .support import AppFactory, LogLines, Serve, calling_upstream, upstream_client
from .upstream import ITEMS, Trouble, Upstream

# Long enough for a healthy loopback answer on a busy machine, short beside the deadlines.
ATTEMPT_TIMEOUT = 0.5


class _Item(BaseModel):
    id: int
    name: str


class _Note(BaseModel):
    text: str


class _Echo(BaseModel):
    method: str
    body: _Note | None


def _attempts(upstream: Upstream, before: int) -> int:
    return len(upstream.received) - before


@pytest.mark.parametrize("failures", [1, 2])
async def test_a_read_that_fails_then_passes_succeeds(
    resources: Resources, upstream: Upstream, failures: int
) -> None:
    """The caller sees the item; the upstream saw every failed attempt and the good one."""
    before = len(upstream.received)
    with upstream.failing(failures, 503):
        item = await upstream_client(resources, upstream_retry_attempts=3).call(
            "GET", "items/1", _Item
        )
    assert item == _Item.model_validate(ITEMS[1])
    assert _attempts(upstream, before) == failures + 1


@pytest.mark.parametrize("trouble", [502, 503, 504, "drop"])
async def test_transient_faults_are_retried(
    resources: Resources, upstream: Upstream, trouble: int | Literal["drop"]
) -> None:
    """A 502, 503 or 504, or a connection dropped before any answer, is tried again."""
    before = len(upstream.received)
    with upstream.failing(1, trouble):
        await upstream_client(resources).call("GET", "items/1", _Item)
    assert _attempts(upstream, before) == 2


async def test_a_timed_out_attempt_is_retried(
    make_app: AppFactory, serve: Serve, upstream: Upstream
) -> None:
    """An attempt that runs out of time is tried again, and the next one answers."""
    async with serve(make_app(upstream_timeout=ATTEMPT_TIMEOUT)) as client:
        before = len(upstream.received)
        with upstream.failing(1, "hang"):
            item = await upstream_client(client.resources).call("GET", "items/1", _Item)
    assert item.id == 1
    assert _attempts(upstream, before) == 2


async def test_a_read_whose_resend_is_dropped_too_is_retried(
    resources: Resources, upstream: Upstream
) -> None:
    """aiohttp resends an idempotent request once by itself when the connection closes before
    any answer; when the resend is dropped as well, the client's own retry still gets the item."""
    with upstream.failing(2, "drop"):
        item = await upstream_client(resources, upstream_retry_attempts=3).call(
            "GET", "items/1", _Item
        )
    assert item.id == 1


async def test_a_dropped_connection_is_a_transient_fault(
    resources: Resources, upstream: Upstream
) -> None:
    """A POST whose connection closes before any answer (aiohttp never resends a POST) is a
    transient fault: with `retry=True`, a second attempt is made and succeeds."""
    before = len(upstream.received)
    with upstream.failing(1, "drop"):
        await upstream_client(resources).send("POST", "no-content", retry=True)
    assert _attempts(upstream, before) == 2


async def test_a_dropped_write_is_a_502_after_one_attempt(
    resources: Resources, upstream: Upstream
) -> None:
    """A POST not opted into retries whose connection closes before any answer: one attempt,
    and a 502 that says the connection failed."""
    before = len(upstream.received)
    with upstream.failing(1, "drop"), pytest.raises(UpstreamError) as caught:
        await upstream_client(resources).send("POST", "no-content")
    fault = caught.value
    assert (fault.status_code, fault.detail, fault.upstream_status) == (
        502,
        "upstream connection failed",
        None,
    )
    assert (fault.attempts, _attempts(upstream, before)) == (1, 1)


@pytest.mark.parametrize("status_code", [400, 429, 500, 501])
async def test_other_faults_are_not_retried(
    resources: Resources, upstream: Upstream, status_code: int
) -> None:
    """Any other answer is final: one attempt, a 502."""
    before = len(upstream.received)
    with upstream.failing(1, status_code), pytest.raises(UpstreamError) as caught:
        await upstream_client(resources).call("GET", "items/1", _Item)
    assert (caught.value.status_code, _attempts(upstream, before)) == (502, 1)


async def test_retries_stop_at_the_configured_attempts(
    resources: Resources, upstream: Upstream
) -> None:
    """Failing every time: exactly upstream_retry_attempts attempts, then the last fault."""
    before = len(upstream.received)
    with upstream.failing(100, 503), pytest.raises(UpstreamError) as caught:
        await upstream_client(resources, upstream_retry_attempts=4).call("GET", "items/1", _Item)
    assert (caught.value.status_code, caught.value.detail) == (502, "upstream answered 503")
    assert (_attempts(upstream, before), caught.value.attempts) == (4, 4)


async def test_a_final_answer_after_a_transient_one_ends_the_retries(
    resources: Resources, upstream: Upstream
) -> None:
    """A 503 and then a 400: the call stops at the 400, after two attempts, and answers as
    the 400 (the fault the caller can act on), however many more attempts were allowed."""
    client = upstream_client(resources, upstream_retry_attempts=4)
    before = len(upstream.received)
    with upstream.failing(1, 503), pytest.raises(UpstreamError) as caught:
        await client.call("GET", "faults/status-400/items", _Item)
    fault = caught.value
    assert (fault.status_code, fault.detail, fault.upstream_status) == (
        502,
        "upstream answered 400",
        400,
    )
    assert (fault.attempts, _attempts(upstream, before)) == (2, 2)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
async def test_writes_that_are_not_idempotent_are_never_retried(
    resources: Resources, upstream: Upstream, method: Literal["POST", "PATCH"]
) -> None:
    """A POST or PATCH that failed may have taken effect: one attempt unless asked."""
    before = len(upstream.received)
    with upstream.failing(1, 503), pytest.raises(UpstreamError):
        await upstream_client(resources).send(method, "no-content")
    assert _attempts(upstream, before) == 1


async def test_a_caller_can_opt_a_write_in(resources: Resources, upstream: Upstream) -> None:
    """`retry=True` retries a POST the caller knows to be safe (an idempotency key, say)."""
    before = len(upstream.received)
    with upstream.failing(1, 503):
        await upstream_client(resources).send("POST", "no-content", retry=True)
    assert _attempts(upstream, before) == 2


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_idempotent_writes_are_retried(
    resources: Resources, upstream: Upstream, method: Literal["PUT", "DELETE"]
) -> None:
    """PUT and DELETE leave the upstream the same however often sent: retried."""
    before = len(upstream.received)
    with upstream.failing(1, 503):
        await upstream_client(resources).send(method, "no-content")
    assert _attempts(upstream, before) == 2


async def test_a_retry_sends_the_body_again(resources: Resources, upstream: Upstream) -> None:
    """A PUT answered 503 and then tried again: the upstream receives the same body both
    times, and the caller gets the second answer."""
    before = len(upstream.received)
    with upstream.failing(1, 503):
        echo = await upstream_client(resources).call("PUT", "echo", _Echo, body=_Note(text="twice"))
    assert echo == _Echo(method="PUT", body=_Note(text="twice"))
    assert [json.loads(r.body) for r in upstream.received[before:]] == [{"text": "twice"}] * 2


async def test_a_caller_can_opt_a_read_out(resources: Resources, upstream: Upstream) -> None:
    """`retry=False` makes one attempt, whatever the method."""
    before = len(upstream.received)
    with upstream.failing(1, 503), pytest.raises(UpstreamError):
        await upstream_client(resources).call("GET", "items/1", _Item, retry=False)
    assert _attempts(upstream, before) == 1


async def test_retry_after_within_the_cap_is_waited_for(
    resources: Resources, upstream: Upstream
) -> None:
    """A 503 with a Retry-After the deadline leaves time for is retried."""
    before = len(upstream.received)
    with upstream.failing(1, 503, retry_after="2"):
        await upstream_client(resources, upstream_deadline=10.0).call("GET", "items/1", _Item)
    assert _attempts(upstream, before) == 2


async def test_retry_after_is_capped(resources: Resources, upstream: Upstream) -> None:
    """A Retry-After longer than upstream_retry_after_max is cut down to it, so a retry
    still fits in the deadline."""
    client = upstream_client(resources, upstream_deadline=5.0, upstream_retry_after_max=1.0)
    before = len(upstream.received)
    with upstream.failing(1, 503, retry_after="3600"):
        await client.call("GET", "items/1", _Item)
    assert _attempts(upstream, before) == 2


async def test_a_wait_past_the_deadline_is_no_retry(
    resources: Resources, upstream: Upstream
) -> None:
    """When the wait the upstream asks for ends after the deadline, the fault is answered
    at once rather than after a wait that could only end in a 504."""
    client = upstream_client(resources, upstream_deadline=5.0, upstream_retry_after_max=30.0)
    before = len(upstream.received)
    with upstream.failing(1, 503, retry_after="20"), pytest.raises(UpstreamError) as caught:
        await client.call("GET", "items/1", _Item)
    assert (caught.value.detail, _attempts(upstream, before)) == ("upstream answered 503", 1)


def test_retry_after_reads_seconds_and_dates() -> None:
    """Retry-After is a number of seconds or an HTTP date; anything else is no hint."""
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert seconds_to_wait("7") == 7.0
    assert 50.0 < (seconds_to_wait(in_a_minute) or 0.0) <= 60.0
    assert seconds_to_wait("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert seconds_to_wait(None) is None
    assert seconds_to_wait("soon") is None
    assert seconds_to_wait("-5") is None


async def test_the_deadline_stops_the_retries(
    make_app: AppFactory, serve: Serve, upstream: Upstream
) -> None:
    """An upstream that never answers: attempts stop at the deadline, with a 504, however
    many more the settings allow."""
    deadline = 2 * ATTEMPT_TIMEOUT
    app = make_app(
        upstream_timeout=ATTEMPT_TIMEOUT, upstream_deadline=deadline, upstream_retry_attempts=10
    )
    async with serve(app) as client:
        before = len(upstream.received)
        started = time.monotonic()
        with upstream.failing(100, "hang"), pytest.raises(UpstreamError) as caught:
            await upstream_client(client.resources).call("GET", "items/1", _Item)
        elapsed = time.monotonic() - started
    assert (caught.value.status_code, caught.value.detail) == (504, "upstream timed out")
    assert 1 <= _attempts(upstream, before) <= 2
    assert deadline <= elapsed < deadline + 1.0


async def test_a_deadline_shorter_than_the_timeout_ends_the_first_attempt(
    make_app: AppFactory, serve: Serve, upstream: Upstream
) -> None:
    """One attempt never outlives the call's deadline: with upstream_deadline far below
    upstream_timeout, a hanging upstream is a 504 by the deadline, not by the timeout."""
    deadline = ATTEMPT_TIMEOUT
    app = make_app(upstream_timeout=20 * deadline, upstream_deadline=deadline)
    async with serve(app) as client:
        started = time.monotonic()
        with upstream.failing(100, "hang"), pytest.raises(UpstreamError) as caught:
            await upstream_client(client.resources).call("GET", "items/1", _Item)
        elapsed = time.monotonic() - started
    assert (caught.value.status_code, caught.value.detail) == (504, "upstream timed out")
    # The timeout alone would end it at 20 x the deadline.
    assert elapsed < 10 * deadline


async def test_an_attempt_still_running_at_the_deadline_is_cut_off() -> None:
    """The deadline ends a retry that is still running when it comes, whatever the attempt's
    own limits: an attempt that would never end is cancelled there and the call is a 504.
    (Through the session, each attempt's timeout would end it too, a little later.)"""
    seconds_left = 0.2
    cancelled: list[bool] = []

    async def never_answers() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    first = UpstreamError(502, "upstream answered 503", retryable=True, upstream_status=503)
    try:
        # Only a guard, 25 times the deadline: the deadline must end the call long before.
        async with asyncio.timeout(25 * seconds_left):
            with pytest.raises(UpstreamError) as caught:
                await retried(
                    never_answers,
                    first,
                    attempts=3,
                    seconds_left=seconds_left,
                    retry_after_max=1.0,
                )
    except TimeoutError:
        pytest.fail("the attempt running at the deadline was not cut off")
    fault = caught.value
    assert (fault.status_code, fault.detail, fault.upstream_status) == (
        504,
        "upstream timed out",
        503,
    )
    assert (fault.attempts, cancelled) == (2, [True])


async def test_a_deadline_inside_the_first_wait_is_a_504_after_one_attempt() -> None:
    """Out of stamina's testing mode, a deadline that comes during the wait before the second
    attempt (at least 0.1 s; the deadline is half that) ends the call there: a 504 that counts
    the one attempt made, and no second attempt."""
    calls: list[int] = []

    async def second_attempt() -> None:
        calls.append(1)

    first = UpstreamError(502, "upstream answered 503", retryable=True, upstream_status=503)
    with _real_waits() as waits, pytest.raises(UpstreamError) as caught:
        await retried(second_attempt, first, attempts=3, seconds_left=0.05, retry_after_max=1.0)
    fault = caught.value
    assert (fault.status_code, fault.detail, fault.upstream_status) == (
        504,
        "upstream timed out",
        503,
    )
    assert (fault.attempts, calls, len(waits)) == (1, [], 1)


async def test_a_retry_cut_off_by_the_deadline_keeps_the_last_answer(
    resources: Resources, upstream: Upstream
) -> None:
    """A 502, a 503, then an attempt that hangs until the deadline: a 504 that names the last
    status the upstream answered, after three attempts."""
    client = upstream_client(
        resources, upstream_deadline=2 * ATTEMPT_TIMEOUT, upstream_retry_attempts=3
    )
    before = len(upstream.received)
    troubles = (Trouble(1, 502), Trouble(1, 503), Trouble(1, "hang"))
    with upstream.failing_in_turn(*troubles), pytest.raises(UpstreamError) as caught:
        await client.call("GET", "items/1", _Item)
    fault = caught.value
    assert (fault.status_code, fault.detail, fault.upstream_status) == (
        504,
        "upstream timed out",
        503,
    )
    assert (fault.attempts, _attempts(upstream, before)) == (3, 3)


@contextlib.contextmanager
def _real_waits() -> Iterator[list[float]]:
    """Within the block, stamina's testing mode is off, as in production: it waits between
    attempts for real, and each wait it schedules is added to the list yielded."""
    scheduled: list[float] = []

    def record(details: RetryDetails) -> None:
        scheduled.append(details.wait_for)

    hooks = get_on_retry_hooks()
    set_on_retry_hooks([record])
    try:
        with stamina.set_testing(False):
            yield scheduled
    finally:
        set_on_retry_hooks(hooks)


async def test_the_waits_between_attempts_back_off_from_a_tenth_of_a_second(
    resources: Resources, upstream: Upstream
) -> None:
    """Out of stamina's testing mode, three attempts at a 503: 0.1 s before the second and
    0.2 s before the third, each plus up to 0.1 s of jitter, waited for real."""
    before = len(upstream.received)
    started = time.monotonic()
    with _real_waits() as waits, upstream.failing(3, 503), pytest.raises(UpstreamError):
        await upstream_client(resources, upstream_retry_attempts=3).call("GET", "items/1", _Item)
    elapsed = time.monotonic() - started
    assert _attempts(upstream, before) == 3
    [first, second] = waits
    assert 0.1 <= first <= 0.2
    assert 0.2 <= second <= 0.3
    # A bound many times the waits (0.5 s at most) and three loopback answers.
    assert first + second <= elapsed < 5.0


async def test_stamina_is_given_no_time_limit_and_the_service_backoff(
    resources: Resources, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline alone limits a call's time: stamina is given no timeout of its own (its
    default would end retries at 45 s, under a longer deadline), and the service's backoff,
    capped at 2 s (which only a call waiting seconds would show). What stamina is asked, its
    defaults filled in, is read from the real call, passed through."""
    real = stamina.retry_context
    asked: list[dict[str, Any]] = []

    def watched(*args: Any, **kwargs: Any) -> Any:
        bound = inspect.signature(real).bind(*args, **kwargs)
        bound.apply_defaults()
        asked.append(bound.arguments)
        return real(*args, **kwargs)

    monkeypatch.setattr(stamina, "retry_context", watched)
    before = len(upstream.received)
    with upstream.failing(1, 503):
        await upstream_client(resources, upstream_deadline=60.0).call("GET", "items/1", _Item)
    assert _attempts(upstream, before) == 2
    [given] = asked
    assert given["timeout"] is None
    assert (given["wait_initial"], given["wait_max"], given["wait_jitter"]) == (0.1, 2.0, 0.1)
    assert given["wait_exp_base"] == 2


@pytest.mark.parametrize(
    ("failures", "retry_after", "waits"),
    [(5, None, 3.1), (2, "3", 6.0)],
    ids=["backoff", "retry-after"],
)
async def test_retries_never_really_wait_in_the_tests(
    resources: Resources, upstream: Upstream, failures: int, retry_after: str | None, waits: float
) -> None:
    """stamina's testing mode (conftest.py) drops every wait between attempts: a call that
    is retried through backoffs, or through Retry-After hints, adding up to `waits` seconds
    answers in a small part of one second."""
    client = upstream_client(
        resources, upstream_retry_attempts=failures + 1, upstream_deadline=30.0
    )
    before = len(upstream.received)
    started = time.monotonic()
    with upstream.failing(failures, 503, retry_after=retry_after):
        await client.call("GET", "items/1", _Item)
    elapsed = time.monotonic() - started
    assert _attempts(upstream, before) == failures + 1
    # The bound is many times what the attempts take, and a third of the waits or less.
    assert elapsed < 1.0, f"{elapsed:.2f} s: the retries waited (the waits add up to {waits} s)"


async def _load(client: httpx.AsyncClient, requests: int) -> list[tuple[int, float, Any]]:
    async def one() -> tuple[int, float, Any]:
        started = time.monotonic()
        response = await client.get("/probe/items/1")
        return response.status_code, time.monotonic() - started, response.json()

    return await asyncio.gather(*(one() for _ in range(requests)))


async def test_a_down_upstream_sees_a_bounded_number_of_attempts(
    make_app: AppFactory, serve: Serve, upstream: Upstream
) -> None:
    """40 requests at once to an upstream answering 503 to everything: each is answered
    502, and the upstream sees exactly 40 x upstream_retry_attempts attempts, no more."""
    # Every attempt must reach the upstream: no timeout may cut one short first (beside four
    # busy loops, the 40 first attempts at once have taken 6 s, past the tests' 5 s timeout).
    app = calling_upstream(
        make_app(upstream_retry_attempts=3, upstream_timeout=60.0, upstream_deadline=60.0)
    )
    async with serve(app) as client:
        before = len(upstream.received)
        with upstream.failing(10_000, 503):
            answers = await _load(client, 40)
    assert {(status, body["detail"]) for status, _, body in answers} == {
        (502, "upstream answered 503")
    }
    assert _attempts(upstream, before) == 40 * 3


async def test_a_hanging_upstream_answers_every_request_by_the_deadline(
    make_app: AppFactory, serve: Serve, upstream: Upstream
) -> None:
    """20 requests at once to an upstream that never answers: each gets its 504 by the
    deadline plus a margin, and no request makes more attempts than fit in it."""
    deadline = 2 * ATTEMPT_TIMEOUT
    app = calling_upstream(
        make_app(
            upstream_timeout=ATTEMPT_TIMEOUT,
            upstream_deadline=deadline,
            upstream_retry_attempts=10,
        )
    )
    async with serve(app) as client:
        before = len(upstream.received)
        with upstream.failing(10_000, "hang"):
            answers = await _load(client, 20)
    assert {(status, body["detail"]) for status, _, body in answers} == {
        (504, "upstream timed out")
    }
    # A margin no scheduling eats (beside four busy loops, the last 504 has come 1.5 s after
    # the deadline), and far short of the SLOW_SECONDS the upstream hangs for.
    assert max(elapsed for _, elapsed, _ in answers) < 10 * deadline
    assert _attempts(upstream, before) <= 20 * 2


async def test_a_failed_call_logs_its_attempts(
    resources: Resources, upstream: Upstream, log_lines: LogLines
) -> None:
    """The one line a failed call logs says how many attempts it made."""
    with upstream.failing(100, 503), pytest.raises(UpstreamError):
        await upstream_client(resources, upstream_retry_attempts=3).call("GET", "items/1", _Item)
    [line] = [line for line in log_lines() if line["event"] == "upstream call failed"]
    assert (line["attempts"], line["upstream_status"], line["upstream_method"]) == (3, 503, "GET")
