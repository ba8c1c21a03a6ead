"""The suite's own embedded PostgreSQL, started once for `make mutation`: prints its URL, then
serves until standard input closes.

    python -m bench.project.suite_database
"""

import sys

from tests.database import embedded_server


def main() -> None:
    """Start the server, print its URL, stop it when standard input closes."""
    with embedded_server() as server:
        print(server.url, flush=True)  # noqa: T201 - read by bench/mutation.py
        sys.stdin.read()


if __name__ == "__main__":
    main()
