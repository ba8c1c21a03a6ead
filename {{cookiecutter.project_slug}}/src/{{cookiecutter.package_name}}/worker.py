"""Run the jobs: `python -m {{ cookiecutter.package_name }}.worker`, as many processes as you like.

Each process opens the same resources as the app (parts.py), once, and runs up to
`jobs_concurrency` jobs at a time with them until SIGTERM or SIGINT; then it takes no new
job and lets the running ones finish for up to `jobs_drain_timeout` seconds (see jobs.py).

While it runs, a worker touches `jobs_liveness_file` every few seconds (when one is set);
`python -m {{ cookiecutter.package_name }}.worker alive` exits 0 while that file is fresh, for a
liveness probe: a worker whose loop is stuck stops touching it.
"""

import asyncio
import signal
import sys
import time
from pathlib import Path

from .config import Settings
from .jobs import Jobs
from .logs import configure_logging
from .parts import make_parts
from .resources import open_resources

# How often a running worker touches its liveness file, and how old the file may be before
# the worker is taken for stuck.
TOUCH_EVERY_SECONDS = 5.0
STALE_AFTER_SECONDS = 60.0


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Open the resources and run jobs until `stop` is set, or a signal to stop comes."""
    stop = asyncio.Event() if stop is None else stop
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with open_resources(settings, make_parts(settings)) as resources:
            touching = asyncio.create_task(_touch(settings.jobs_liveness_file))
            try:
                await resources.get(Jobs).work(stop)
            finally:
                touching.cancel()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _touch(path: str | None) -> None:
    while path is not None:
        await asyncio.to_thread(Path(path).touch)
        await asyncio.sleep(TOUCH_EVERY_SECONDS)


def alive(settings: Settings) -> bool:
    """Whether a worker touched the liveness file lately."""
    if settings.jobs_liveness_file is None:
        return True
    try:
        age = time.time() - Path(settings.jobs_liveness_file).stat().st_mtime
    except FileNotFoundError:
        return False
    return age < STALE_AFTER_SECONDS


def main() -> None:
    """Read the settings, then run jobs until SIGINT or SIGTERM (or, given `alive`, say
    whether a worker is running)."""
    settings = Settings()
    if sys.argv[1:] == ["alive"]:
        sys.exit(0 if alive(settings) else 1)
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
