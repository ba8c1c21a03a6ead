"""A one-line description of the machine and the library versions the figures came from."""

import os
import platform
import subprocess
import sys
from pathlib import Path

_VERSIONS = ("fastapi", "starlette", "uvicorn", "aiohttp", "httpx", "pytest", "pytest-asyncio")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text(encoding="utf-8")
    except OSError:
        return platform.platform()
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip('"')
    return platform.platform()


def describe(project_python: Path) -> str:
    """nproc, CPU model, memory, Python and OS; then the versions in the rendered project."""
    script = (
        "import importlib.metadata as m, platform;"
        f"print(platform.python_version(), *(n + ' ' + m.version(n) for n in {_VERSIONS!r}),"
        " sep=', ')"
    )
    versions = subprocess.run(  # noqa: S603 - the project's interpreter, a fixed script
        [str(project_python), "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    python, _, libraries = versions.partition(", ")
    if sys.platform == "linux":
        cores = len(os.sched_getaffinity(0))  # what nproc counts
    else:
        cores = os.cpu_count() or 1
    return (
        f"{cores} cores (nproc), {_cpu_model()}, {_memory_gib():.0f} GiB RAM, "
        f"Python {python}, {_os_name()}, Linux {platform.release()}; {libraries}"
    )
