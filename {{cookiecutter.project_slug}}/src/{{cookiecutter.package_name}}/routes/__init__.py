{%- set examples = [
    {"module": "items", "router": "guarded(items.router)" if cookiecutter.auth == "jwt" else "items.router"} if cookiecutter.include_example_route,
    {"module": "notes", "router": "guarded(notes.router)" if cookiecutter.auth == "jwt" else "notes.router"} if cookiecutter.include_example_route and cookiecutter.database == "postgres",
    {"module": "jobs", "router": "guarded(jobs.router)" if cookiecutter.auth == "jwt" else "jobs.router"} if cookiecutter.include_example_route and cookiecutter.jobs,
] | select | list -%}
"""Every router the application serves, in the order they are mounted.
{{- "\n\nThe example routers are `guarded` (auth.py): reading takes a valid bearer token,\nwriting one with the scope `<prefix>:write` as well. /health and /ready stay open.\n" if cookiecutter.auth == "jwt" and examples }}"""

from fastapi import APIRouter
{{ "\nfrom ..auth import guarded" if cookiecutter.auth == "jwt" and examples }}
from . import {{ (["health"] + examples | map(attribute="module") | list) | sort | join(", ") }}

ROUTERS: list[APIRouter] = [
    {{ (["health.router"] + examples | map(attribute="router") | list) | join(",\n    ") }},
]
