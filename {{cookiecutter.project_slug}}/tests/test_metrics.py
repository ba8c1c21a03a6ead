"""Metrics: /metrics counts what the test did, on a registry each app owns."""

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from {{ cookiecutter.package_name }}.metrics import UNMATCHED

from .support import AppFactory, Serve, calling_upstream, refused_url


async def _scrape(
    client: httpx.AsyncClient,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample /metrics shows: (name, sorted labels) -> value."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _requests(method: str, route: str, status: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    labels = {"method": method, "route": route, "status": status}
    return ("http_requests_total", tuple(sorted(labels.items())))


async def test_metrics_count_the_requests_made(app: FastAPI, serve: Serve) -> None:
    """By method, route template and status; a request no route took is `<unmatched>`."""
    async with serve(app) as client:
        for _ in range(3):
            await client.get("/health")
        await client.get("/no/such/path")
        samples = await _scrape(client)
    assert samples[_requests("GET", "/health", "200")] == 3
    assert samples[_requests("GET", UNMATCHED, "404")] == 1
    count = ("http_request_duration_seconds_count", (("method", "GET"), ("route", "/health")))
    assert samples[count] == 3
    # The scrape itself is the one request in flight.
    assert samples[("http_requests_in_flight", ())] == 1


async def test_routes_are_labelled_by_template(app: FastAPI, serve: Serve) -> None:
    """Two paths of one route are one series: a client cannot make new ones at will."""
    async with serve(calling_upstream(app)) as client:
        await client.get("/probe/items/1")
        await client.get("/probe/items/2")
        samples = await _scrape(client)
    assert samples[_requests("GET", "/probe/{path:path}", "200")] == 1
    assert samples[_requests("GET", "/probe/{path:path}", "404")] == 1
    assert not any("items/1" in str(key) for key in samples)


async def test_upstream_calls_by_outcome(make_app: AppFactory, serve: Serve) -> None:
    """Each attempt at an upstream call is timed under its outcome: the status, or the
    error's class (a refused connection is tried upstream_retry_attempts times). (Counted
    from the moment the app is up: what its parts fetched while it started counts too.)"""

    def calls(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], outcome: str) -> float:
        labels = (("method", "GET"), ("outcome", outcome))
        return samples.get(("upstream_request_duration_seconds_count", labels), 0.0)

    async with serve(calling_upstream(make_app())) as client:
        before = await _scrape(client)
        await client.get("/probe/items/1")
        await client.get("/probe/faults/status-500/items/1")
        after = await _scrape(client)
    refusing = make_app(upstream_base_url=refused_url(), upstream_retry_attempts=2)
    async with serve(calling_upstream(refusing)) as client:
        refused_before = await _scrape(client)
        await client.get("/probe/items/1")
        refused_after = await _scrape(client)

    assert calls(after, "200") - calls(before, "200") == 1
    assert calls(after, "500") - calls(before, "500") == 1
    refusals = calls(refused_after, "ClientConnectorError")
    assert refusals - calls(refused_before, "ClientConnectorError") == 2


async def test_each_app_keeps_its_own_series(make_app: AppFactory, serve: Serve) -> None:
    """Apps built in one process never collide on a time series nor share counts."""
    first, second = make_app(), make_app()
    async with serve(first) as first_client, serve(second) as second_client:
        await first_client.get("/health")
        await first_client.get("/health")
        await second_client.get("/health")
        counts = [
            (await _scrape(c))[_requests("GET", "/health", "200")]
            for c in (first_client, second_client)
        ]
    assert counts == [2, 1]


async def test_the_session_fixture_app_serves_metrics(client: httpx.AsyncClient) -> None:
    """The shared app has them too, from its first request on."""
    samples = await _scrape(client)
    assert samples[("http_requests_in_flight", ())] == 1
