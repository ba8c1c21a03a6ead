"""Run the jobs: `python -m {{ cookiecutter.package_name }}.worker`, as many processes as you like.

Each process opens the same resources as the app (parts.py), once, and runs up to
`jobs_concurrency` jobs at a time with them until SIGTERM or SIGINT; then it takes no new
job and lets the running ones finish for up to `jobs_drain_timeout` seconds (see jobs.py).
"""

import asyncio
import signal

from .config import Settings
from .jobs import Jobs
from .logs import configure_logging
from .parts import make_parts
from .resources import open_resources


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Open the resources and run jobs until `stop` is set, or a signal to stop comes."""
    stop = asyncio.Event() if stop is None else stop
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with open_resources(settings, make_parts(settings)) as resources:
            await resources.get(Jobs).work(stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def main() -> None:
    """Read the settings, then run jobs until SIGINT or SIGTERM."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
