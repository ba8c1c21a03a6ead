"""HAProxy from the system's packages, in front of a service's replicas on 127.0.0.1."""

import contextlib
import csv
import io
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from .helpers import Service, free_port

# Health checks every 200 ms; two failures take a replica out, two passes put it back. A
# replica must keep serving for longer than that after SIGTERM (its drain delay).
CONFIG = """\
global
    maxconn 512

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 2s

frontend service
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk
    http-check send meth GET uri /ready
    http-check expect status 200
    default-server check inter 200ms fall 2 rise 2
{servers}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


def haproxy_executable() -> str | None:
    """HAProxy's path, installed from Debian's packages first when it is missing and this is
    a Debian-like system run as root (as CI is); None where it cannot be installed. An
    install that could run and failed is an error, not a reason to skip."""
    found = shutil.which("haproxy")
    if found is not None:
        return found
    if shutil.which("apt-get") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "haproxy"]
    result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        # The package lists may be missing on a fresh machine.
        update = ["apt-get", "update", "-q"]
        subprocess.run(update, env=env, capture_output=True, check=False)
        result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"installing HAProxy failed:\n{result.stdout}{result.stderr}"
    return shutil.which("haproxy")


@dataclass(frozen=True)
class Balancer:
    """A running HAProxy: the port clients use, and its view of each replica."""

    port: int
    stats_port: int

    def states(self) -> dict[str, str]:
        """Each replica's state as HAProxy sees it ("UP", "DOWN", "UP 1/2"...), by name."""
        url = f"http://127.0.0.1:{self.stats_port}/stats;csv"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode().lstrip("# ")
        return {
            row["svname"]: row["status"]
            for row in csv.DictReader(io.StringIO(text))
            if row["pxname"] == "replicas" and row["svname"] not in {"FRONTEND", "BACKEND"}
        }

    def wait_until(self, name: str, state: str, timeout: float = 60) -> None:
        """Wait until HAProxy sees replica `name` in `state`."""
        deadline = time.monotonic() + timeout
        while (seen := self.states().get(name)) != state:
            assert time.monotonic() < deadline, f"{name} is {seen}, not {state}"
            time.sleep(0.05)


@contextlib.contextmanager
def running_haproxy(executable: str, folder: Path, replicas: Sequence[int]) -> Iterator[Balancer]:
    """HAProxy in the foreground, balancing over the replicas' ports, stopped after the block."""
    balancer = Balancer(free_port(), free_port())
    servers = "\n".join(
        f"    server replica{number} 127.0.0.1:{port}" for number, port in enumerate(replicas)
    )
    config = folder / "haproxy.cfg"
    config.write_text(
        CONFIG.format(port=balancer.port, stats_port=balancer.stats_port, servers=servers),
        encoding="utf-8",
    )
    process = Service([executable, "-db", "-f", str(config)], folder)
    try:
        balancer_up = f"http://127.0.0.1:{balancer.stats_port}/stats"
        process.wait_until_up(balancer_up, timeout=60)
        yield balancer
    finally:
        if process.process.poll() is None:
            process.stop()
