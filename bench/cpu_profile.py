"""Where a server process's CPU goes: py-spy's samples of it, grouped by layer.

py-spy (from PyPI, run through uv's `tool run`, so nothing is added to any project) attaches
to the process by its id; it needs ptrace, which root has unless the container forbids it.
It records the samples in which the process is not sleeping: running, or ready to run and
waiting for a core, which on a busy machine happens most right after a socket write has woken
the process at the other end. So the kernel's part comes from the kernel's own count (system
time, loadgen.cpu_seconds), and the samples share out the user time alone: a sample whose
innermost line writes to a transport is left out (the kernel, or a wait for a core).

Each other sample is counted once, for the innermost frame that belongs to a layer: the code
that was running then. Standard-library frames (json, re, uuid, contextvars...) count for the
layer that called them, except asyncio's own, which are the event loop's, and logging's,
which with uvicorn's formatter and the template's (logs.py) make a layer of their own: the
access line every request writes. Each sample is also counted for the innermost function
outside the standard library (`functions`), to compare two servers function by function.
"""

import linecache
import math
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from .common import PACKAGE, Server, clean_env, uv_executable
from .loadgen import cpu_seconds, per_request_us, run_wrk

PY_SPY = "py-spy>=0.4,<0.5"
RATE = 200  # samples a second

DEPENDENCIES = "fastapi's dependency resolution"
LOGGING = "logging (the access line: the standard library's, the formatters)"
OWN = "the app's own modules (the template's, with structlog and stamina)"
EVENT_LOOP = "asyncio and uvloop (the event loop)"
OTHER = "anything else"
# Layers by top-level package, in the order the report lists them.
LAYERS: dict[str, tuple[str, ...]] = {
    "uvicorn and httptools (HTTP server)": ("uvicorn", "httptools", "h11"),
    "starlette (middleware, routing, requests, responses)": ("starlette",),
    "fastapi (its middleware, routing, request handling)": ("fastapi",),
    DEPENDENCIES: (),  # fastapi/dependencies/
    "pydantic (validation, serialization)": ("pydantic", "pydantic_core", "annotated_types"),
    LOGGING: (),
    OWN: ("structlog", "stamina"),
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
WRITES = "in a socket write"  # left out of the layers (see the module's doc)


@dataclass(frozen=True)
class Profile:
    """Samples per layer, and per module of the app's own code within its layer; once known,
    the CPU the process used per request while it was sampled, user and system time."""

    layers: dict[str, int]
    own_modules: dict[str, int]
    functions: dict[str, int]  # by "package/module.py:function"
    writes: int  # samples in a socket write
    user_us: float | None = None
    system_us: float | None = None

    @property
    def samples(self) -> int:
        """The samples counted for a layer."""
        return sum(self.layers.values())

    def share(self, layer: str) -> float:
        """The fraction of the counted samples that are `layer`'s."""
        return self.layers.get(layer, 0) / self.samples if self.samples else 0.0

    def per_request_us(self, layer: str) -> float | None:
        """The user time `layer` takes per request, in microseconds: its share of the whole."""
        return None if self.user_us is None else self.share(layer) * self.user_us

    def function_us(self, function: str) -> float:
        """The user time per request spent in `function` itself (and the standard library
        it called), in microseconds; NaN before the CPU is known."""
        if self.user_us is None or not self.samples:
            return math.nan
        return self.functions.get(function, 0) / self.samples * self.user_us


def _place(frame: str) -> tuple[str, int]:
    """The file and line of one frame of py-spy's raw output: `function (path:line)`."""
    path, _, line = frame.rpartition(" (")[2].rstrip(")").rpartition(":")
    return path, int(line) if line.isdigit() else 0


def _layer(path: str, package: str) -> tuple[str | None, str]:  # noqa: PLR0911 - one a layer
    """The layer a file belongs to (None: count it for its caller), and its module name."""
    parts = path.replace("\\", "/").split("/")
    name = parts[-1].removesuffix(".py")
    if package in parts[:-1] or parts[-3:-1] == ["bench", "project"]:  # the app's own code
        return (LOGGING if name == "logs" else OWN), name
    if "site-packages" in parts:
        inside = parts[parts.index("site-packages") + 1 :]
        if inside[:2] == ["fastapi", "dependencies"]:
            return DEPENDENCIES, inside[0]
        if inside == ["uvicorn", "logging.py"]:
            return LOGGING, inside[0]
        return _BY_PACKAGE.get(inside[0], OTHER), inside[0]
    if "asyncio" in parts[:-1]:
        return EVENT_LOOP, name
    if "logging" in parts[:-1]:
        return LOGGING, name
    return None, name  # the standard library, the uvicorn script, frozen modules


def _function(frame: str, package: str) -> str | None:
    """ "package/module.py:function" for a frame outside the standard library, else None."""
    path = _place(frame)[0].replace("\\", "/")
    parts = path.split("/")
    if "site-packages" in parts:
        where = "/".join(parts[parts.index("site-packages") + 1 :])
    elif package in parts[:-1]:
        where = f"{package}/{parts[-1]}"
    elif parts[-3:-1] == ["bench", "project"]:
        where = f"bench/project/{parts[-1]}"
    else:
        return None
    return f"{where}:{frame.rpartition(' (')[0]}"


def breakdown(raw: str, package: str) -> Profile:
    """Group the samples of py-spy's raw (collapsed stacks) output by layer."""
    layers: Counter[str] = Counter()
    modules: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    writes = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if "transport.write" in linecache.getline(*_place(frames[-1])):
            writes += int(count)
            continue
        layer, module = OTHER, ""
        for frame in reversed(frames):  # innermost first
            found, name = _layer(_place(frame)[0], package)
            if found is not None:
                layer, module = found, name
                break
        layers[layer] += int(count)
        if layer == OWN:
            modules[module] += int(count)
        inner = (_function(frame, package) for frame in reversed(frames))
        functions[next((found for found in inner if found), "the standard library")] += int(count)
    return Profile(dict(layers), dict(modules), dict(functions), writes)


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


def profile(server: Server, connections: int, seconds: float) -> Profile | str:
    """py-spy on `server` for `seconds` while wrk loads it at `connections`, with the CPU it
    used per request meanwhile; or why there is no profile."""
    missing = prepare()
    if missing is not None:
        return missing
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as folder:
        output = Path(folder) / "samples.txt"
        before = cpu_seconds(server.pid)
        recording = start(server.pid, seconds, output)
        served = run_wrk(server, connections, seconds + 2)  # covers py-spy's start-up
        after = cpu_seconds(server.pid)
        found = finish(recording, output, PACKAGE)
    if isinstance(found, str):
        return found
    cpu_us, system_us = per_request_us(before, after, served.requests)
    return replace(found, user_us=cpu_us - system_us, system_us=system_us)
