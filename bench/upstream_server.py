"""The upstream for the throughput benchmark: aiohttp.web on 127.0.0.1, in a process of its own.

It serves `GET /items/{id}` as JSON, like the fake upstream of the generated tests, and
`GET /health` for the readiness poll; over TLS when given a certificate and its key. Run inside
the rendered project's environment: `python -m bench.upstream_server --port PORT`.
"""

import argparse
import asyncio
import signal
import ssl
import sys

from aiohttp import web

ITEMS = {1: {"id": 1, "name": "widget"}}


async def _item(request: web.Request) -> web.Response:
    item = ITEMS.get(int(request.match_info["item_id"]))
    if item is None:
        raise web.HTTPNotFound
    return web.json_response(item)


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def serve(port: int, tls: ssl.SSLContext | None = None) -> None:
    """Serve on 127.0.0.1:`port` (over TLS with `tls`) until SIGTERM or SIGINT."""
    app = web.Application()
    app.router.add_get("/items/{item_id:\\d+}", _item)
    app.router.add_get("/health", _health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    """Parse the port and serve, on uvloop as uvicorn does."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", help="PEM certificate: serve over TLS")
    parser.add_argument("--key", help="the certificate's PEM private key")
    args = parser.parse_args()
    tls = None
    if args.cert is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)
    if sys.platform == "win32":  # uvloop does not exist there
        asyncio.run(serve(args.port, tls))
    else:
        import uvloop  # noqa: PLC0415 - uvicorn[standard] brings it, as the proxies use it

        uvloop.run(serve(args.port, tls))


if __name__ == "__main__":
    main()
