"""The upstream for the throughput benchmark: aiohttp.web on 127.0.0.1, in a process of its own.

It serves `GET /items/{id}` as JSON, like the fake upstream of the generated tests, and
`GET /health` for the readiness poll; over TLS when given a certificate and its key. Run inside
the rendered project's environment: `python -m bench.upstream_server --port PORT`.

`--mode unavailable` answers every item with a 503 and `--mode hang` never answers one (the
connection stays open until the caller gives up): an upstream that is down, for part 6. In
those modes it also counts what it is sent: `GET /stats` returns the attempts made so far and
how many distinct request ids they carried (`X-Request-ID`, which the template sends on).
"""

import argparse
import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Literal

from aiohttp import web

from .aio_serve import run, serve_until_stopped

ITEMS = {1: {"id": 1, "name": "widget"}}
Mode = Literal["ok", "unavailable", "hang"]
MODES: tuple[Mode, ...] = ("ok", "unavailable", "hang")
# How long a hanging answer waits: far past any deadline the benchmark sets.
HANG_SECONDS = 3600.0


@dataclass
class _Counts:
    attempts: int = 0
    request_ids: set[str] = field(default_factory=set)


_COUNTS = web.AppKey("counts", _Counts)


async def _item(request: web.Request) -> web.Response:
    item = ITEMS.get(int(request.match_info["item_id"]))
    if item is None:
        raise web.HTTPNotFound
    return web.json_response(item)


def _count(request: web.Request) -> None:
    counts = request.app[_COUNTS]
    counts.attempts += 1
    counts.request_ids.add(request.headers.get("X-Request-ID", f"none-{counts.attempts}"))


async def _unavailable(request: web.Request) -> web.Response:
    _count(request)
    return web.json_response({"detail": "unavailable"}, status=503)


async def _hang(request: web.Request) -> web.Response:
    _count(request)
    await asyncio.sleep(HANG_SECONDS)  # cancelled when the caller closes the connection
    return web.json_response({"detail": "too late"}, status=504)


async def _stats(request: web.Request) -> web.Response:
    counts = request.app[_COUNTS]
    return web.json_response({"attempts": counts.attempts, "requests": len(counts.request_ids)})


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _application(mode: Mode) -> web.Application:
    app = web.Application()
    handler = {"ok": _item, "unavailable": _unavailable, "hang": _hang}[mode]
    app.router.add_get("/items/{item_id:\\d+}", handler)
    app.router.add_get("/health", _health)
    if mode != "ok":
        app[_COUNTS] = _Counts()
        app.router.add_get("/stats", _stats)
    return app


async def serve(port: int, tls: ssl.SSLContext | None = None, mode: Mode = "ok") -> None:
    """Serve on 127.0.0.1:`port` (over TLS with `tls`) until SIGTERM or SIGINT."""
    app = _application(mode)
    if mode == "hang":
        # A handler ends when its caller hangs up, and none holds up the shutdown.
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=1)
    else:
        runner = web.AppRunner(app, access_log=None)
    await serve_until_stopped(runner, port, tls)


def main() -> None:
    """Parse the port and serve, on uvloop as uvicorn does."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", help="PEM certificate: serve over TLS")
    parser.add_argument("--key", help="the certificate's PEM private key")
    parser.add_argument("--mode", choices=MODES, default="ok", help="how items are answered")
    args = parser.parse_args()
    tls = None
    if args.cert is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
    run(serve(args.port, tls, args.mode))


if __name__ == "__main__":
    main()
