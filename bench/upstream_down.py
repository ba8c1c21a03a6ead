"""Part 6's upstream down: how long the template takes to answer when every attempt fails.

The template (`python -m`) in front of bench.project.upstream_server in a mode where items
are down, loaded with real backoff (stamina's testing mode is only ever on in tests): the p50
and p99 answer times against the deadline it was given, what it answered, and how many
attempts the upstream received per request (it counts the request ids the template sends on).
"""

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .common import stopped_at_exit
from .loadgen import Load, run_wrk
from .servers import setting, start_service, start_upstream


@dataclass(frozen=True)
class Fault:
    """An upstream that is down one way, and the limits the template is given for it."""

    mode: str  # bench.project.upstream_server's --mode
    label: str
    deadline: float
    attempt_timeout: float
    attempts: int
    duration: float  # of the load: long enough for a few dozen answers at the deadline


FAULTS = [
    # The template's defaults, set all the same so that the report says what ran.
    Fault("unavailable", "503 to everything", 15.0, 10.0, 3, 5.0),
    # More attempts than fit: the deadline, not the count, ends each call.
    Fault("hang", "never answers", 2.0, 0.5, 5, 8.0),
]


@dataclass(frozen=True)
class FaultResult:
    """What one fault's load measured, what the service answered, what the upstream saw."""

    load: Load
    answer: str  # the status and detail of one probe request
    attempts: int  # requests the upstream received during the load
    requests: int  # distinct request ids among them


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    """Status and body of a GET to a loopback URL, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def measure(project: Path, fault: Fault, connections: int) -> FaultResult:
    """Load the template in front of an upstream down as `fault` says; both always stopped."""
    with stopped_at_exit() as servers:
        upstream = start_upstream(servers, project, f"upstream-{fault.mode}", mode=fault.mode)
        stats = f"{upstream}stats"
        service = start_service(
            servers,
            project,
            f"template-{fault.mode}",
            upstream,
            **{
                setting("upstream_deadline"): f"{fault.deadline:g}",
                setting("upstream_timeout"): f"{fault.attempt_timeout:g}",
                setting("upstream_retry_attempts"): str(fault.attempts),
            },
        )
        status, body = _get(service.url, timeout=fault.deadline + 10)
        answer = f"{status} {json.loads(body).get('detail', '')}"
        before = json.loads(_get(stats, timeout=5)[1])
        # wrk's timeout past the deadline: its default (2 s) would cut the slow answers.
        load = run_wrk(service, connections, fault.duration, timeout=fault.deadline + 5)
        # The requests still in flight when the load stopped go on to their end.
        time.sleep(min(fault.deadline, 2 * load.p99_ms / 1000) + 0.5)
        after = json.loads(_get(stats, timeout=5)[1])
    return FaultResult(
        load,
        answer,
        attempts=after["attempts"] - before["attempts"],
        requests=after["requests"] - before["requests"],
    )
