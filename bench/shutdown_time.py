"""Part 5's shutdown: how long SIGTERM takes to stop the traced service under `python -m`
with spans still to export: no exporter, the collector up, down, and hanging.

Each run starts the service (a render with `tracing` and `metrics`), loads it at 10
connections for a few seconds, so that the exporter has spans queued, then sends SIGTERM
as the load ends and times the process until it has exited. The tracing part closes within
`CLOSE_TIMEOUT` (5 s by default), each export within half of it (tracing.py).
"""

import signal
import time
from pathlib import Path

from .common import stopped_at_exit
from .loadgen import run_wrk
from .servers import start_service

# Where spans go -> the label in the report.
CASES = {
    "none": "no exporter",
    "up": "OTLP, the collector up",
    "down": "OTLP, the collector down (refused)",
    "hang": "OTLP, the collector hanging",
}
RUNS = 3
LOAD_SECONDS = 3.0
CONNECTIONS = 10


def _time_to_stop(project: Path, upstream: str, case: str, spans: str | None) -> float:
    with stopped_at_exit() as servers:
        export = {} if spans is None else {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": spans}
        service = start_service(servers, project, f"sigterm-{case}", upstream, **export)
        run_wrk(service, CONNECTIONS, LOAD_SECONDS)
        signalled = time.monotonic()
        service.signal(signal.SIGTERM)
        service.process.wait(timeout=120)
        return time.monotonic() - signalled


def run(project: Path, upstream: str, collectors: dict[str, str]) -> dict[str, list[float]]:
    """Seconds from SIGTERM to exit, `RUNS` times for each case, the cases taking turns."""
    seconds: dict[str, list[float]] = {case: [] for case in CASES}
    for _ in range(RUNS):
        for case in CASES:
            seconds[case].append(_time_to_stop(project, upstream, case, collectors.get(case)))
    return seconds
