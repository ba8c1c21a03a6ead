"""Serve the application with uvicorn: `python -m {{ cookiecutter.package_name }}`."""

import uvicorn

from .app import create_app
from .config import Settings


def main() -> None:
    """Read the settings, then serve until SIGINT or SIGTERM."""
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
