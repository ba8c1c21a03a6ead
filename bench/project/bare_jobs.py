"""taskiq's own worker, bare: the yardstick for the template's (part 8).

`bare_broker` is taskiq-redis's stream broker as its documentation sets one up, with its
defaults and one task that does nothing, `noop`: no resources, no middleware, no retry
wrapper, no timeout, no result backend. `stored_broker` is the same with taskiq-redis's stock
`RedisAsyncResultBackend` (its defaults: results kept, no expiry). Each reads a stream of its
own on the server that `BENCH_JOBS_URL` names, and runs under taskiq's own CLI:

    taskiq worker bench.project.bare_jobs:bare_broker --workers 1

Nothing of the service is imported here.
"""

import os

from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

NOOP_TASK = "bench:noop"


async def noop() -> None:
    """Nothing: a job whose cost is the queue's and the worker's alone."""


def _url() -> str:
    return os.environ.get("BENCH_JOBS_URL", "redis://127.0.0.1:6379/0")


def _broker(queue: str) -> RedisStreamBroker:
    broker = RedisStreamBroker(_url(), queue_name=queue)
    broker.register_task(noop, task_name=NOOP_TASK)
    return broker


def bare_broker() -> RedisStreamBroker:
    """taskiq's stream broker with its defaults and the no-op task; no result backend."""
    return _broker("bare")


def stored_broker() -> RedisStreamBroker:
    """The same on a stream of its own, its results saved by the stock result backend."""
    return _broker("stored").with_result_backend(RedisAsyncResultBackend(_url()))
