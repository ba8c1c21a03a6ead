{%- set routers = [
    "health",
    "items" if cookiecutter.include_example_route,
    "notes" if cookiecutter.include_example_route and cookiecutter.database == "postgres",
    "jobs" if cookiecutter.include_example_route and cookiecutter.jobs,
] | select | list -%}
"""Every router the application serves, in the order they are mounted."""

from fastapi import APIRouter

from . import {{ routers | sort | join(", ") }}

ROUTERS: list[APIRouter] = [
    {{ routers | join(".router,\n    ") }}.router,
]
