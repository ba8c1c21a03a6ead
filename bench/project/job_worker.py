"""`python -m my_service.worker` with the bench's no-op job listed beside the template's:

    python -m bench.project.job_worker

Everything else is the template's worker: its settings from the environment, its logging,
the resources it opens, its queue and concurrency (bench/project/job_kinds.py).
"""

from my_service import worker

from bench.project.job_kinds import list_noop


def main() -> None:
    """Run the template's worker, the no-op job among its jobs."""
    list_noop()
    worker.main()


if __name__ == "__main__":
    main()
