"""Serving with uvicorn (`python -m {{ cookiecutter.package_name }}`), draining before it stops."""

import asyncio
import socket
import sys
from types import FrameType

import structlog
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .app import create_app
from .config import Settings
from .shutdown import Drain

log = structlog.get_logger(__name__)

# h11's own default cap on a request's head, for a config that sets none.
DEFAULT_MAX_HEAD_BYTES = 16 * 1024


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


class HeadCappedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a cap on the size of a request's head.

    httptools takes a request line and headers of any size and number; uvicorn's other parser,
    h11, refuses a head past `h11_max_incomplete_event_size`, and this does the same with that
    setting: it counts the bytes received while a request's head is incomplete and, past the
    cap, answers 400 and closes the connection, as uvicorn answers any request it cannot
    parse. A body is never counted: the count stops once the headers are complete and starts
    again from zero when the request ends.
    """

    _head_bytes = 0
    _in_head = True  # until the headers of the request are complete; again after it ends

    def data_received(self, data: bytes) -> None:
        """Parse `data`, then refuse the request if its head is incomplete past the cap."""
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        cap = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_BYTES
        if self._in_head and self._head_bytes > cap and not self.transport.is_closing():
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Request head too large.")

    def on_headers_complete(self) -> None:
        """The head is whole: stop counting."""
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The request is whole: the next one's head is counted from zero."""
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0


def server_config(settings: Settings, drain: Drain) -> uvicorn.Config:
    """How `python -m` runs uvicorn: the app built from `settings`, the server limits from
    them, HTTP parsed by httptools with a cap on a request's head."""
    return uvicorn.Config(
        create_app(settings, drain=drain),
        host=settings.host,
        port=settings.port,
        http=HeadCappedHttpTools,
        # h11's cap on a request's head, which HeadCappedHttpTools keeps too.
        h11_max_incomplete_event_size=settings.max_header_bytes,
        limit_concurrency=settings.max_concurrency,
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=settings.graceful_shutdown_timeout,
        # create_app configured logging from the settings; uvicorn's own setup would undo it.
        log_config=None,
    )


def serve(settings: Settings) -> None:
    """Serve the app built from `settings` until SIGINT or SIGTERM, then drain and stop."""
    drain = Drain()
    server = DrainingServer(server_config(settings, drain), drain, settings.drain_delay)
    server.run()
    if not server.started:
        sys.exit(3)  # as `uvicorn.run` does when the app could not start
