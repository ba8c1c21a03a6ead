"""Serving with uvicorn (`python -m {{ cookiecutter.package_name }}`), draining before it stops."""

import asyncio
import socket
import sys
from types import FrameType

import structlog
import uvicorn

from .app import create_app
from .config import Settings
from .shutdown import Drain

log = structlog.get_logger(__name__)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, with a drain before it stops.

    At the first SIGTERM or SIGINT, `drain` starts (readiness answers 503, answers close
    their connections) and the server keeps serving for `drain_delay` seconds, long enough
    for a load balancer's health checks to take it out of rotation; then uvicorn's own
    shutdown runs: no new connections, requests in flight finish (up to its graceful-shutdown
    timeout), idle connections close, and the lifespan closes the session last. A second
    signal during the delay stops at once.
    """

    def __init__(self, config: uvicorn.Config, drain: Drain, drain_delay: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.drain_delay = drain_delay
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        first = not self.drain.started
        self.drain.start()
        if not first or self.drain_delay <= 0 or self._loop is None:
            super().handle_exit(sig, frame)
            return
        # A signal handler may run in the middle of the loop's own code: hand over to it.
        self._loop.call_soon_threadsafe(self._stop_after_delay, sig, frame)

    def _stop_after_delay(self, sig: int, frame: FrameType | None) -> None:
        log.info("draining before shutdown", drain_delay=self.drain_delay)
        loop = asyncio.get_running_loop()
        loop.call_later(self.drain_delay, super().handle_exit, sig, frame)


def serve(settings: Settings) -> None:
    """Serve the app built from `settings` until SIGINT or SIGTERM, then drain and stop."""
    drain = Drain()
    config = uvicorn.Config(
        create_app(settings, drain=drain),
        host=settings.host,
        port=settings.port,
        # h11 is the HTTP parser of uvicorn's that caps the size of a request's head;
        # httptools would accept headers of any size and number.
        http="h11",
        h11_max_incomplete_event_size=settings.max_header_bytes,
        limit_concurrency=settings.max_concurrency,
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=settings.graceful_shutdown_timeout,
        # create_app configured logging from the settings; uvicorn's own setup would undo it.
        log_config=None,
    )
    server = DrainingServer(config, drain, settings.drain_delay)
    server.run()
    if not server.started:
        sys.exit(3)  # as `uvicorn.run` does when the app could not start
