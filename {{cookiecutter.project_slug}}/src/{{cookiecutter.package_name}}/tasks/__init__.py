{%- set jobs = [
    {"job": "fetch_item", "import": "\nfrom .items import fetch_item"} if cookiecutter.include_example_route,
    {"job": "note_from_item", "import": "\nfrom .notes import note_from_item"} if cookiecutter.include_example_route and cookiecutter.database == "postgres",
] | select | list -%}
"""Every job the workers run, each an `async def` function: list yours here.

A job not listed cannot be enqueued. Its arguments travel as JSON; what it needs of the
service (the upstream client, the database) it takes as typed dependencies (jobs.py).
"""

from ..jobs import Job{{ jobs | map(attribute="import") | join("") }}

JOBS: list[Job] = [{{ jobs | map(attribute="job") | join(", ") }}]
