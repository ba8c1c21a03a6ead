"""Serve the application with uvicorn: `python -m {{ cookiecutter.package_name }}`."""

import uvicorn

from .app import create_app
from .config import Settings


def main() -> None:
    """Read the settings, then serve until SIGINT or SIGTERM."""
    settings = Settings()
    uvicorn.run(
        create_app(settings),
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


if __name__ == "__main__":
    main()
