"""`python -m my_service` with its HTTP parser or event loop changed, to compare them:

    python -m bench.project.serve --http h11 --loop asyncio

Everything else is as `python -m my_service` runs: the settings from the environment, the
server's config from `server.server_config`, the drain. `--http httptools` is uvicorn's
httptools protocol without the template's cap on a request's head (what the cap costs).
"""

import argparse

from fastapi import APIRouter
from my_service.config import Settings
from my_service.routes import ROUTERS
from my_service.server import DrainingServer, HeadCappedHttpTools, serve, server_config
from my_service.shutdown import Drain
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PARSERS = {
    "capped": HeadCappedHttpTools,  # what `python -m` runs
    "httptools": HttpToolsProtocol,
    "h11": H11Protocol,
}
LOOPS = ("uvloop", "asyncio")


def serve_with(router: APIRouter) -> None:
    """Serve as `python -m my_service` does, `router` among the routers the app mounts
    (routes/__init__.py), as a user adds one."""
    if router not in ROUTERS:
        ROUTERS.append(router)
    serve(Settings())


def main() -> None:
    """Serve as `python -m my_service` does, with the parser and loop given."""
    parser = argparse.ArgumentParser(prog="python -m bench.project.serve")
    parser.add_argument("--http", choices=list(PARSERS), default="capped")
    parser.add_argument("--loop", choices=LOOPS, default="uvloop")
    args = parser.parse_args()
    settings = Settings()
    drain = Drain()
    config = server_config(settings, drain)
    config.http = PARSERS[args.http]
    config.loop = args.loop
    DrainingServer(config, drain, settings.drain_delay).run()


if __name__ == "__main__":
    main()
