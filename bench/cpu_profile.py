"""Where a server process's CPU goes: py-spy's samples of it, grouped by layer; and how much
it uses per request (`CpuMeter`, from the kernel's count).

py-spy (from PyPI, run through uv's `tool run`, so nothing is added to any project) attaches
to the process by its id; it needs ptrace, which root has unless the container forbids it.
It records only samples in which the process is running, not waiting for the network (or
waiting for a core: on a busy machine the shares stay right, the count overstates the CPU,
which comes from the kernel's own count, `/proc/<pid>/stat`, instead).

Each sample is counted once, for the innermost frame that belongs to a layer: the code that
was running then. Standard-library frames (json, re, uuid, contextvars...) count for the
layer that called them, except asyncio's own, which are the event loop's. A sample whose
innermost line writes to a transport is in the kernel's send (on loopback that also runs the
receiving side's TCP path): it gets a row of its own, whoever wrote.
"""

import linecache
import os
import statistics
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import uv_executable

from .common import clean_env
from .loadgen import Load

PY_SPY = "py-spy>=0.4,<0.5"
RATE = 200  # samples a second

SEND = "socket writes (the kernel's send)"
DEPENDENCIES = "fastapi's dependency resolution"
TEMPLATE = "the template's modules (and structlog, stamina)"
EVENT_LOOP = "asyncio and uvloop (the event loop)"
OTHER = "anything else"
# Layers by top-level package, in the order the report lists them.
LAYERS: dict[str, tuple[str, ...]] = {
    SEND: (),
    "uvicorn and httptools (HTTP server)": ("uvicorn", "httptools", "h11"),
    "starlette (middleware, routing, requests, responses)": ("starlette",),
    "fastapi (its middleware, routing, request handling)": ("fastapi",),
    DEPENDENCIES: (),  # fastapi/dependencies/
    "pydantic (validation, serialization)": ("pydantic", "pydantic_core", "annotated_types"),
    TEMPLATE: ("structlog", "stamina"),
    "aiohttp client (and yarl, multidict)": (
        "aiohttp",
        "yarl",
        "multidict",
        "propcache",
        "aiohappyeyeballs",
        "aiosignal",
        "frozenlist",
    ),
    EVENT_LOOP: ("uvloop",),
    OTHER: (),
}
_BY_PACKAGE = {package: layer for layer, packages in LAYERS.items() for package in packages}


@dataclass(frozen=True)
class Profile:
    """Samples per layer, and per module of the template within its layer; once known, the
    CPU the process used per request while it was sampled."""

    samples: int
    layers: dict[str, int]
    template_modules: dict[str, int]
    cpu_per_request_us: float | None = None

    def share(self, layer: str) -> float:
        """The fraction of all samples counted for `layer`."""
        return self.layers.get(layer, 0) / self.samples if self.samples else 0.0

    def per_request_us(self, layer: str) -> float | None:
        """The CPU `layer` takes per request, in microseconds: its share of the whole."""
        if self.cpu_per_request_us is None:
            return None
        return self.share(layer) * self.cpu_per_request_us


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user and system) process `pid` has used; None where /proc is missing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    # The fields after the command's parenthesis: utime and stime are the 14th and 15th.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """A load function that also notes the CPU the loaded server used per request in each
    run, from the kernel's count: a steadier figure than the rate on a shared machine."""

    def __init__(self, load: Callable[[str, int, float], Load], pids: dict[str, int]) -> None:
        self.load = load
        self.pids = pids  # by URL
        self.cpu_us: dict[tuple[str, int], list[float]] = {}

    def __call__(self, url: str, connections: int, seconds: float) -> Load:
        """Load `url` as the load function does, reading the server's CPU around it."""
        pid = self.pids.get(url)
        before = None if pid is None else cpu_seconds(pid)
        load = self.load(url, connections, seconds)
        after = None if pid is None else cpu_seconds(pid)
        if before is not None and after is not None and load.requests:
            used = (after - before) / load.requests * 1e6
            self.cpu_us.setdefault((url, connections), []).append(used)
        return load

    def last(self, url: str, connections: int) -> float:
        """The CPU per request (µs) of the last run at `url` (NaN when not measured)."""
        return self.cpu_us.get((url, connections), [float("nan")])[-1]

    def median(self, url: str, connections: int) -> float:
        """The median CPU per request (µs) over the runs at `url` (NaN when none was)."""
        runs = self.cpu_us.get((url, connections))
        return statistics.median(runs) if runs else float("nan")


def _place(frame: str) -> tuple[str, int]:
    """The file and line of one frame of py-spy's raw output: `function (path:line)`."""
    path, _, line = frame.rpartition(" (")[2].rstrip(")").rpartition(":")
    return path, int(line) if line.isdigit() else 0


def _layer(path: str, package: str) -> tuple[str | None, str]:
    """The layer a file belongs to (None: count it for its caller), and its module name."""
    parts = path.replace("\\", "/").split("/")
    if package in parts[:-1]:  # the rendered project, installed editable or not
        return TEMPLATE, parts[-1].removesuffix(".py")
    if "site-packages" in parts:
        inside = parts[parts.index("site-packages") + 1 :]
        if inside[:2] == ["fastapi", "dependencies"]:
            return DEPENDENCIES, inside[0]
        return _BY_PACKAGE.get(inside[0], OTHER), inside[0]
    if "asyncio" in parts[:-1]:
        return EVENT_LOOP, parts[-1]
    return None, parts[-1]  # the standard library, the uvicorn script, frozen modules


def breakdown(raw: str, package: str) -> Profile:
    """Group the samples of py-spy's raw (collapsed stacks) output by layer."""
    layers: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        layer, module = OTHER, ""
        if "transport.write" in linecache.getline(*_place(frames[-1])):
            layer = SEND
        else:
            for frame in reversed(frames):  # innermost first
                found, name = _layer(_place(frame)[0], package)
                if found is not None:
                    layer, module = found, name
                    break
        layers[layer] += int(count)
        if layer == TEMPLATE:
            modules[module] += int(count)
    return Profile(sum(layers.values()), dict(layers), dict(modules))


def _py_spy() -> list[str]:
    return [uv_executable(), "tool", "run", "--quiet", "--from", PY_SPY, "py-spy"]


def prepare() -> str | None:
    """Fetch py-spy into uv's cache (before any load starts); None if it runs, else why not."""
    try:
        result = subprocess.run(  # noqa: S603 - a fixed command line
            [*_py_spy(), "--version"],
            env=clean_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"py-spy could not be run: {exc}"
    if result.returncode != 0:
        return f"py-spy could not be installed: {(result.stdout + result.stderr).strip()[-300:]}"
    return None


def start(pid: int, seconds: float, output: Path) -> "subprocess.Popen[str]":
    """Start recording `pid` for `seconds` into `output`; wait for it with `finish`."""
    command = [*_py_spy(), "record", "--pid", str(pid), "--duration", str(round(seconds))]
    command += ["--rate", str(RATE), "--format", "raw", "--full-filenames", "--output", str(output)]
    return subprocess.Popen(  # noqa: S603 - a fixed command line
        command,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def finish(recording: "subprocess.Popen[str]", output: Path, package: str) -> Profile | str:
    """The profile `start` recorded, or why there is none (py-spy's own words)."""
    said, _ = recording.communicate(timeout=120)
    if recording.returncode != 0 or not output.exists():
        return f"py-spy exited {recording.returncode}: {said.strip()[-300:]}"
    return breakdown(output.read_text(encoding="utf-8"), package)
