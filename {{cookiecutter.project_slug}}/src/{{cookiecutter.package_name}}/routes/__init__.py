"""Every router the application serves, in the order they are mounted."""

from fastapi import APIRouter

from . import health{% if cookiecutter.include_example_route %}, items{% endif %}

ROUTERS: list[APIRouter] = [
    health.router,
{%- if cookiecutter.include_example_route %}
    items.router,
{%- endif %}
]
