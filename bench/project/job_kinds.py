"""The jobs part 8 enqueues on the template's queue: its example `fetch_item` (which reads
item 1 from the upstream) and `noop`, a job that does nothing (the same as the bare worker's
in bare_jobs.py), listed beside the template's jobs by `list_noop` as a user lists one in
tasks/__init__.py, so that what a worker spends on it is the queue's and the worker's own.
"""

from my_service.jobs import Job
from my_service.tasks import JOBS
from my_service.tasks.items import fetch_item

from bench.project.bare_jobs import noop

# Each job by its name on the command line, with the arguments it is enqueued with.
KINDS: dict[str, tuple[Job, tuple[object, ...]]] = {
    "noop": (noop, ()),
    "fetch_item": (fetch_item, (1,)),
}


def list_noop() -> None:
    """List `noop` among the jobs of the service, before its resources open."""
    if noop not in JOBS:
        JOBS.append(noop)
