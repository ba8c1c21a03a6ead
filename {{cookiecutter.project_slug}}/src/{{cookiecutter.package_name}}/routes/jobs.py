"""Example routes: read an item from the upstream later, in a worker, and ask how it went."""

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel

from ..errors import ErrorBody, ServiceError
from ..jobs import JOBS_RESPONSES, JobsDep, JobState, JobStatus
from ..tasks.items import fetch_item

router = APIRouter(prefix="/jobs", tags=["jobs"])

# A job's id, as the queue makes them.
JobId = Annotated[str, Path(pattern="^[0-9a-f]{32}$")]


class JobAccepted(BaseModel):
    """A job taken by the queue: where to ask how it went (also in `Location`)."""

    id: str
    state: JobState = JobState.QUEUED
    location: str


@router.post("/items/{item_id}", status_code=status.HTTP_202_ACCEPTED, responses=JOBS_RESPONSES)
async def fetch_item_later(
    item_id: Annotated[int, Path(ge=1, le=2**53)],
    jobs: JobsDep,
    request: Request,
    response: Response,
) -> JobAccepted:
    """Enqueue a job that reads this item from the upstream; its result is the item."""
    job_id = await jobs.enqueue(fetch_item, item_id)
    location = request.app.url_path_for("read_job", job_id=job_id)
    response.headers["Location"] = location
    return JobAccepted(id=job_id, location=location)


@router.get(
    "/{job_id}",
    responses={status.HTTP_404_NOT_FOUND: {"model": ErrorBody}, **JOBS_RESPONSES},
)
async def read_job(job_id: JobId, jobs: JobsDep) -> JobStatus:
    """The job's state, and its result once it succeeded (or why it failed)."""
    found = await jobs.status(job_id)
    if found is None:
        raise ServiceError(status.HTTP_404_NOT_FOUND, "no such job (or it was forgotten)")
    return found
