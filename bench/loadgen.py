"""Load: wrk against a server on 127.0.0.1, the server's CPU read from /proc around each run.

wrk (Debian's package, installed with apt-get when missing and possible) is closed-loop:
`connections` clients each send their next request as soon as the last one is answered.
Targets are measured in turns, each round starting with another, so that whatever else the
machine does falls on all of them alike; a target's figures are the medians of its runs.
CPU per request (user and system time the server process used, over the requests it served)
moves less than the rate on a shared machine.
"""

import ipaddress
import math
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from .common import Server, progress


@dataclass(frozen=True)
class Load:
    """What one wrk run measured, and the CPU the server used per request meanwhile."""

    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    # The CPU time (user and system) the server process used per request meanwhile, in µs.
    cpu_us: float = math.nan


@dataclass
class Measured:
    """Every run of one target at one concurrency; its figures are their medians."""

    runs: list[Load] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """The median requests per second."""
        return statistics.median(run.requests_per_second for run in self.runs)

    @property
    def cpu_us(self) -> float:
        """The median CPU per request, in microseconds (NaN where /proc is missing)."""
        return statistics.median(run.cpu_us for run in self.runs)

    @property
    def typical(self) -> Load:
        """The run with the median rate (the lower middle one for an even count): its
        latencies and errors stand for the target's."""
        ordered = sorted(self.runs, key=lambda run: run.requests_per_second)
        return ordered[(len(ordered) - 1) // 2]


# Key of the target -> connections -> what was measured.
Results = dict[str, dict[int, Measured]]


def require_loopback(url: str) -> None:
    """Refuse any URL whose host is not a loopback address."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"load is only ever sent to loopback addresses, not {host!r}")


def find_wrk() -> str:
    """The path of wrk, installing Debian's package first if it is missing."""
    found = shutil.which("wrk")
    apt = shutil.which("apt-get")
    if found is None and apt is not None:
        for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "wrk"]):
            subprocess.run(command, capture_output=True, check=False, timeout=300)  # noqa: S603
        found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("the benchmarks need wrk: install it (apt-get install wrk)")
    return found


def cpu_seconds(pid: int) -> tuple[float, float]:
    """The user and system CPU time process `pid` has used; NaN where /proc is missing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return math.nan, math.nan
    # The fields after the command's parenthesis: utime and stime are the 14th and 15th.
    fields = stat.rpartition(")")[2].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def per_request_us(
    before: tuple[float, float], after: tuple[float, float], requests: int
) -> tuple[float, float]:
    """CPU in all and system time, in microseconds per request, between two readings."""
    if not requests:
        return math.nan, math.nan
    user, system = (b - a for a, b in zip(before, after, strict=True))
    return (user + system) / requests * 1e6, system / requests * 1e6


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> Load:
    """Read requests, duration, rate, p50, p99 and errors from `wrk --latency` output."""
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if total is None or rate is None or p50 is None or p99 is None:
        raise ValueError(f"unexpected wrk output:\n{output}")
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx is not None:
        errors += int(non_2xx.group(1))
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sockets is not None:
        errors += sum(int(count) for count in sockets.groups())
    return Load(
        requests=int(total.group(1)),
        seconds=_to_ms(total.group(2) + total.group(3)) / 1000,
        requests_per_second=float(rate.group(1)),
        p50_ms=_to_ms(p50.group(1)),
        p99_ms=_to_ms(p99.group(1)),
        errors=errors,
    )


def run_wrk(
    server: Server, connections: int, duration: float, *, timeout: float | None = None
) -> Load:
    """One wrk run (one thread) against `server.url`, with the CPU the server used per
    request. An answer slower than `timeout` seconds (wrk's default: 2) counts as a socket
    timeout, and its latency is not recorded."""
    require_loopback(server.url)
    # wrk takes whole seconds only.
    command = [find_wrk(), "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s"]
    if timeout is not None:
        command.append(f"--timeout={math.ceil(timeout)}s")
    command += ["--latency", server.url]
    before = cpu_seconds(server.pid)
    result = subprocess.run(  # noqa: S603 - wrk with a loopback URL
        command, capture_output=True, text=True, check=True, timeout=duration + (timeout or 0) + 60
    )
    load = parse_wrk(result.stdout)
    cpu_us, _ = per_request_us(before, cpu_seconds(server.pid), load.requests)
    return replace(load, cpu_us=cpu_us)


def warm_up(servers: Sequence[Server], connections: int, seconds: float) -> None:
    """Load each server once, unmeasured: imports, caches and pools settle first."""
    for server in servers:
        run_wrk(server, connections, seconds)


def in_turns(
    servers: Mapping[str, Server],
    *,
    concurrencies: Sequence[int],
    rounds: int,
    duration: float,
    label: str,
) -> Results:
    """Load each server at each concurrency once a round for `rounds` rounds, taking turns,
    each round starting with the next server."""
    results: Results = {key: {} for key in servers}
    keys = list(servers)
    for connections in concurrencies:
        for turn in range(rounds):
            shift = turn % len(keys)
            for key in keys[shift:] + keys[:shift]:
                time.sleep(0.3)  # the last run's connections close
                load = run_wrk(servers[key], connections, duration)
                results[key].setdefault(connections, Measured()).runs.append(load)
        progress(f"{label}: {connections} connections done", level=1)
    return results


@dataclass(frozen=True)
class Paired:
    """Two targets compared round by round (their runs in one round were seconds apart):
    the median and the range of the per-round ratios, first's over second's."""

    rate: float
    rate_range: tuple[float, float]
    cpu: float
    cpu_range: tuple[float, float]


def paired(first: Measured, second: Measured) -> Paired:
    """`first` against `second`, round by round (both measured by the same `in_turns`)."""
    rates = sorted(
        a.requests_per_second / b.requests_per_second
        for a, b in zip(first.runs, second.runs, strict=True)
    )
    cpus = sorted(a.cpu_us / b.cpu_us for a, b in zip(first.runs, second.runs, strict=True))
    return Paired(
        statistics.median(rates),
        (rates[0], rates[-1]),
        statistics.median(cpus),
        (cpus[0], cpus[-1]),
    )


def merge(into: Results, more: Results) -> None:
    """Add `more`'s runs to `into`'s."""
    for key, by_connections in more.items():
        for connections, measured in by_connections.items():
            into.setdefault(key, {}).setdefault(connections, Measured()).runs += measured.runs
