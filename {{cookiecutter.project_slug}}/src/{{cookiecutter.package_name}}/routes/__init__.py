{%- set routers = [
    "items" if cookiecutter.include_example_route,
    "notes" if cookiecutter.include_example_route and cookiecutter.database == "postgres",
    "jobs" if cookiecutter.include_example_route and cookiecutter.jobs,
] | select | list -%}
{%- set guard = cookiecutter.auth == "jwt" and routers -%}
"""Every router the application serves, in the order they are mounted.
{%- if guard %}

The example routers are `guarded`: reading takes a valid bearer token, writing one with the
scope `<resource>:write` as well (auth.py). /health and /ready stay open.
{%- endif %}
"""

from fastapi import APIRouter
{% if guard %}
from ..auth import guarded
{%- endif %}
from . import {{ (["health"] + routers) | sort | join(", ") }}

ROUTERS: list[APIRouter] = [
    health.router,
{%- for name in routers %}
    {% if guard %}guarded({{ name }}.router, "{{ name }}"){% else %}{{ name }}.router{% endif %},
{%- endfor %}
]
