"""How the bench's aiohttp stand-ins (the upstream, the issuer, the collector) serve: on
127.0.0.1 until SIGTERM or SIGINT, on uvloop as uvicorn runs the service."""

import asyncio
import signal
import ssl
import sys
from collections.abc import Coroutine
from typing import Any

from aiohttp import web


async def serve_until_stopped(
    runner: web.AppRunner, port: int, ssl_context: ssl.SSLContext | None = None
) -> None:
    """Set up `runner`, serve it on 127.0.0.1:`port` until SIGTERM or SIGINT, clean it up."""
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop, or on asyncio's own loop where uvloop does not exist (Windows)."""
    if sys.platform == "win32":
        asyncio.run(main)
    else:
        import uvloop  # noqa: PLC0415 - uvicorn[standard] brings it

        uvloop.run(main)
