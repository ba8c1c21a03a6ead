"""Load generation: wrk when it is installed (or can be), else a small aiohttp-based generator.

Both are closed-loop: `connections` clients each send their next request as soon as the last
one is answered, for `duration` seconds (the fallback also stops after `max_requests`).
Only loopback URLs are accepted. The fallback runs inside the rendered project's environment:
`python -m bench.loadgen --url URL --connections 10 --duration 10`.
"""

import argparse
import asyncio
import ipaddress
import json
import math
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Load:
    """What one run of the load generator measured."""

    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def require_loopback(url: str) -> None:
    """Refuse any URL whose host is not a loopback address."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"load is only ever sent to loopback addresses, not {host!r}")


def ensure_wrk() -> str | None:
    """The path of wrk, installing Debian's package first if it is missing; None if that fails."""
    found = shutil.which("wrk")
    if found is not None:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        return None
    for command in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "wrk"]):
        result = subprocess.run(command, capture_output=True, check=False, timeout=300)  # noqa: S603
        if result.returncode != 0:
            return None
    return shutil.which("wrk")


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


def run_wrk(  # noqa: PLR0913 - wrk's own options
    wrk: str,
    url: str,
    connections: int,
    duration: float,
    *,
    threads: int = 1,
    timeout: float | None = None,
) -> Load:
    """One wrk run against `url` (loopback only). An answer slower than `timeout` seconds
    (wrk's default: 2) counts as a socket timeout, and its latency is not recorded."""
    require_loopback(url)
    # wrk takes whole seconds only.
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s"]
    if timeout is not None:
        command.append(f"--timeout={math.ceil(timeout)}s")
    command += ["--latency", url]
    result = subprocess.run(  # noqa: S603 - wrk with a loopback URL
        command, capture_output=True, text=True, check=True, timeout=duration + (timeout or 0) + 60
    )
    return parse_wrk(result.stdout)


def run_fallback(python: Path, url: str, connections: int, duration: float) -> Load:
    """One run of the aiohttp-based generator, in the interpreter `python` (which has aiohttp)."""
    require_loopback(url)
    command = [str(python), "-m", "bench.loadgen", "--url", url]
    command += ["--connections", str(connections), "--duration", f"{duration:g}"]
    repo = Path(__file__).resolve().parent.parent
    result = subprocess.run(  # noqa: S603 - this module, with a loopback URL
        command,
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
        cwd=repo,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(repo)},
    )
    return Load(**json.loads(result.stdout))


async def _generate(url: str, connections: int, duration: float, max_requests: int) -> Load:
    import aiohttp  # noqa: PLC0415 - only the fallback process needs it

    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=30)
    start = time.perf_counter()
    deadline = start + duration

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        while time.perf_counter() < deadline and len(latencies) + errors < max_requests:
            sent = time.perf_counter()
            try:
                async with session.get(url) as response:
                    await response.read()
                    ok = response.status < 400  # noqa: PLR2004 - wrk's notion of success
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                latencies.append((time.perf_counter() - sent) * 1000)
            else:
                errors += 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(connections)))
    seconds = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Load(
        requests=len(latencies) + errors,
        seconds=seconds,
        requests_per_second=(len(latencies) + errors) / seconds,
        p50_ms=cuts[49],
        p99_ms=cuts[98],
        errors=errors,
    )


def main() -> None:
    """Run the fallback generator and print what it measured as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    args = parser.parse_args()
    require_loopback(args.url)
    load = asyncio.run(_generate(args.url, args.connections, args.duration, args.max_requests))
    print(json.dumps(asdict(load)))  # noqa: T201 - the result, read by the caller


if __name__ == "__main__":
    main()
