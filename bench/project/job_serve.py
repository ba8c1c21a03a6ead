"""`python -m my_service` with one route more, to measure what enqueuing adds to a request:

    python -m bench.project.job_serve

`POST /bench/accepted/items/{item_id}` is the template's `POST /jobs/items/{item_id}` without
the enqueue: the same parameters and dependencies (`JobsDep`), a job id made the way the
queue makes them, the same `Location` and 202 body (`JobAccepted`). Everything else is what
`python -m my_service` serves: the same app, middleware, server and settings; the route is
added to the routers the app mounts (routes/__init__.py), as a user adds one.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from my_service.jobs import JobsDep
from my_service.routes.jobs import JobAccepted

from .serve import serve_with

router = APIRouter(prefix="/bench")


@router.post("/accepted/items/{item_id}", status_code=status.HTTP_202_ACCEPTED)
async def accept_without_enqueuing(
    item_id: Annotated[int, Path(ge=1, le=2**53)],
    jobs: JobsDep,
    request: Request,
    response: Response,
) -> JobAccepted:
    """Answer as the enqueuing route does, with nothing put on the queue."""
    del item_id  # taken and validated as the enqueuing route takes it, then unused
    job_id = jobs.broker.id_generator()
    location = request.app.url_path_for("read_job", job_id=job_id)
    response.headers["Location"] = location
    return JobAccepted(id=job_id, location=location)


def main() -> None:
    """Serve as `python -m my_service` does, the route above among the app's."""
    serve_with(router)


if __name__ == "__main__":
    main()
