"""The example job that writes: a note made from an upstream's item, once however often it runs."""

import asyncio

import pytest
from sqlalchemy import func, select

from {{ cookiecutter.package_name }}.db import Database
from {{ cookiecutter.package_name }}.jobs import Jobs, JobState
from {{ cookiecutter.package_name }}.models import Note
from {{ cookiecutter.package_name }}.resources import Resources
from {{ cookiecutter.package_name }}.tasks.notes import note_from_item

from .jobs import wait_for


@pytest.mark.committed
async def test_a_job_run_twice_writes_its_note_once(worker: Jobs, resources: Resources) -> None:
    """Marked committed: the job runs as a worker runs it, in transactions of its own on the
    worker's pool (not the test's), so its note is committed for real and the tables are
    emptied after the test. Two runs of the same job (a delivery again, or an enqueue again)
    leave one note, and both answer its id."""
    first, second = await asyncio.gather(
        worker.enqueue(note_from_item, 1), worker.enqueue(note_from_item, 1)
    )
    done = await asyncio.gather(wait_for(worker, first), wait_for(worker, second))
    assert [status.state for status in done] == [JobState.SUCCEEDED] * 2, done
    assert done[0].result == done[1].result
    async with resources.get(Database).session() as session:
        notes = (await session.scalars(select(Note))).all()
        count = await session.scalar(select(func.count()).select_from(Note))
    assert count == 1
    assert notes[0].id == done[0].result
    assert notes[0].title == "item 1: widget"
