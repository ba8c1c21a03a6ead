"""A stand-in for an OpenTelemetry collector: takes OTLP/HTTP trace exports and discards them.

Run inside a project's environment: `python -m bench.collector --port PORT`; it answers
`POST /v1/traces` with 200 once the body is read, and `GET /health` for the readiness poll.
"""

import argparse
import asyncio

from aiohttp import web

from .aio_serve import serve_until_stopped


async def _traces(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(content_type="application/x-protobuf")


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def serve(port: int) -> None:
    """Serve on 127.0.0.1:`port` until SIGTERM or SIGINT."""
    app = web.Application()
    app.router.add_post("/v1/traces", _traces)
    app.router.add_get("/health", _health)
    await serve_until_stopped(web.AppRunner(app, access_log=None), port)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.collector")
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))
