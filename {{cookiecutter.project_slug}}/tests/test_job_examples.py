"""The example job routes: a 202 with the job's id and where to ask, and the job's status."""

import httpx

from {{ cookiecutter.package_name }}.jobs import Jobs

from .jobs import wait_for
from .support import AppFactory, LogLines, Serve, free_port
from .upstream import ITEMS, Upstream


async def test_a_job_is_accepted_and_its_status_ends_with_the_item(
    client: httpx.AsyncClient, worker: Jobs, upstream: Upstream
) -> None:
    accepted = await client.post("/jobs/items/1", headers={"X-Request-ID": "job-request-1"})
    assert accepted.status_code == 202
    body = accepted.json()
    assert body["state"] == "queued"
    assert accepted.headers["location"] == body["location"] == f"/jobs/{body['id']}"
    await wait_for(worker, body["id"])
    status = await client.get(accepted.headers["location"])
    assert status.status_code == 200
    assert status.json() == {
        "id": body["id"],
        "job": "{{ cookiecutter.package_name }}.tasks.items:fetch_item",
        "state": "succeeded",
        "result": ITEMS[1],
        "error": None,
    }
    # The job's upstream call carries the request id of the request that enqueued it.
    assert [request.path for request in upstream.with_header("x-request-id", "job-request-1")] == [
        "/items/1"
    ]


async def test_the_job_logs_with_the_request_id_that_enqueued_it(
    client: httpx.AsyncClient, worker: Jobs, log_lines: LogLines
) -> None:
    accepted = await client.post("/jobs/items/1", headers={"X-Request-ID": "job-request-2"})
    await wait_for(worker, accepted.json()["id"])
    job_lines = [line for line in log_lines() if line.get("job_id") == accepted.json()["id"]]
    assert [line["event"] for line in job_lines if line["event"].startswith("job ")] == [
        "job started",
        "job succeeded",
    ]
    assert {line["request_id"] for line in job_lines} == {"job-request-2"}


async def test_a_job_whose_item_is_missing_upstream_fails_with_the_reason(
    client: httpx.AsyncClient, worker: Jobs
) -> None:
    accepted = await client.post("/jobs/items/2")
    done = await wait_for(worker, accepted.json()["id"])
    assert done.state == "failed"
    assert done.error == "UpstreamError: not found upstream"


async def test_an_unknown_job_is_404_and_a_malformed_id_422(client: httpx.AsyncClient) -> None:
    missing = await client.get("/jobs/" + "0" * 32)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no such job (or it was forgotten)"}
    assert (await client.get("/jobs/not-an-id")).status_code == 422
    assert (await client.post("/jobs/items/0")).status_code == 422


async def test_a_queue_that_is_down_is_a_json_503_with_the_request_id(
    make_app: AppFactory, serve: Serve
) -> None:
    app = make_app(jobs_url=f"redis://127.0.0.1:{free_port()}/0", jobs_connect_timeout=1.0)
    async with serve(app) as client:
        response = await client.post("/jobs/items/1", headers={"X-Request-ID": "down-1"})
        status = await client.get("/jobs/" + "0" * 32)
    assert response.status_code == 503
    assert response.json() == {"detail": "job queue unreachable"}
    assert response.headers["x-request-id"] == "down-1"
    assert status.status_code == 503
