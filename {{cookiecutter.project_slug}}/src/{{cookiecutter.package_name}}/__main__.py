"""Serve the application: `python -m {{ cookiecutter.package_name }}`."""

from .config import Settings
from .server import serve


def main() -> None:
    """Read the settings, then serve until SIGINT or SIGTERM (see server.DrainingServer)."""
    serve(Settings())


if __name__ == "__main__":
    main()
