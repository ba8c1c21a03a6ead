"""Every router the application serves, in the order they are mounted."""

from fastapi import APIRouter

from . import health{% if cookiecutter.include_example_route %}, items{% endif %}{% if cookiecutter.include_example_route and cookiecutter.database == "postgres" %}, notes{% endif %}

ROUTERS: list[APIRouter] = [
    health.router,
{%- if cookiecutter.include_example_route %}
    items.router,
{%- endif %}
{%- if cookiecutter.include_example_route and cookiecutter.database == "postgres" %}
    notes.router,
{%- endif %}
]
