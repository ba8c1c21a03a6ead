"""Run the database migrations: `python -m {{ cookiecutter.package_name }}.migrate` (to the newest).

Run it once per deploy, before the new version starts serving, never from each replica's
start-up: replicas starting together would race to migrate the same database.
"""

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """Alembic's configuration for the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def main(argv: list[str]) -> None:
    """Upgrade the database the settings name to `argv[0]`, the newest revision by default."""
    command.upgrade(alembic_config(), argv[0] if argv else "head")


if __name__ == "__main__":
    main(sys.argv[1:])
