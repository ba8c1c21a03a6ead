{%- set parts = [
    "tracing" if cookiecutter.tracing,
    "metrics" if cookiecutter.metrics,
    "upstream",
    "upstream_token" if cookiecutter.auth == "jwt",
    "auth" if cookiecutter.auth == "jwt",
    "db" if cookiecutter.database == "postgres",
    "db_tracing" if cookiecutter.database == "postgres" and cookiecutter.tracing,
    "jobs" if cookiecutter.jobs,
    "job_metrics" if cookiecutter.jobs and cookiecutter.metrics,
    "job_tracing" if cookiecutter.jobs and cookiecutter.tracing,
] | select | list -%}
"""The parts the service is made of, in the order they open; they close in reverse.

Each is made from the settings by its module's `part` (see resources.py). The drain comes
first; tracing and metrics come before the parts they watch. Add a part of yours in its place.
"""

from . import {{ parts | sort | join(", ") if (parts | sort | join(", ") | length) <= 86 else "(\n    " ~ parts | sort | join(",\n    ") ~ ",\n)" }}
from .config import Settings
from .resources import Part, PartFactory
from .shutdown import Drain

PARTS: list[PartFactory] = [
    {{ parts | join(".part,\n    ") }}.part,
]


def make_parts(settings: Settings, drain: Drain | None = None) -> list[Part]:
    """The parts of one service (an app, a worker), made from `settings`; `drain` is the
    server's, when a server runs the app."""
    return [Drain() if drain is None else drain, *(make(settings) for make in PARTS)]
