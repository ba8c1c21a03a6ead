"""What the logging, the metrics and the tracing cost: throughput on the example route.

The same `GET /items/1` through real uvicorn (its access log on, as under `python -m`) in
front of bench.upstream_server, five ways, each adding to the one before: the service as it
was before its logging (uvicorn's text lines, no request id), the default render (JSON lines
and the request id), a render with `metrics`, one with `metrics` and `tracing` exporting
nothing, and that one again exporting every span over OTLP to a local collector stand-in
that discards them (bench/collector.py). Every server logs to a file, as a container's
output goes to a log driver.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import free_port

from .common import ENV_PREFIX, PACKAGE, REPO, Server, clean_env, render, sync
from .loadgen import Load
from .throughput import measure_in_turns, start_upstream


@dataclass(frozen=True)
class Variant:
    """One way to serve the route: which render, which factory, exporting or not."""

    key: str
    label: str
    project: str  # "default", "metrics" or "traced": the render it runs in
    app: str
    export: bool = False


VARIANTS = [
    Variant(
        "before",
        "before its logging: uvicorn's text lines, no request id",
        "default",
        "bench.variant_obs_apps:create_before_logging_app",
    ),
    Variant("logging", "logging (the default): JSON lines, request id", "default", "APP"),
    Variant("metrics", "+ metrics", "metrics", "APP"),
    Variant("tracing", "+ metrics + tracing, no exporter", "traced", "APP"),
    Variant("exporting", "+ metrics + tracing, OTLP to a collector", "traced", "APP", True),
]
RENDERS = {"metrics": {"metrics": True}, "traced": {"metrics": True, "tracing": True}}


@dataclass
class ObservabilityResult:
    """The median run of each variant at each concurrency."""

    generator: str
    concurrencies: Sequence[int]
    duration: float
    rounds: int
    loads: dict[str, dict[int, Load]] = field(default_factory=dict)


def _start(project: Path, variant: Variant, upstream: str, collector: str) -> Server:
    port = free_port()
    app = f"{PACKAGE}.app:create_app" if variant.app == "APP" else variant.app
    uvicorn = str(project / ".venv" / "bin" / "uvicorn")
    command = [uvicorn, app, "--factory", "--host", "127.0.0.1", "--port", str(port)]
    export = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": collector} if variant.export else {}
    env = clean_env(
        PYTHONPATH=str(REPO),
        **{f"{ENV_PREFIX}UPSTREAM_BASE_URL": upstream, f"{ENV_PREFIX}DOCS_ENABLED": "false"},
        **export,
    )
    server = Server(f"observability-{variant.key}", command, project, env)
    server.url = f"http://127.0.0.1:{port}/items/1"
    return server


def run(  # noqa: PLR0913 - the knobs of `make bench`
    folder: Path,
    default_project: Path,
    load: tuple[str, Callable[[str, int, float], Load]],
    *,
    concurrencies: Sequence[int],
    duration: float,
    warm_up: float,
    rounds: int,
) -> ObservabilityResult:
    """Render and install the metrics and traced projects under `folder`, then load every
    variant at every concurrency, the variants taking turns; every server always stopped."""
    projects = {"default": default_project}
    for name, answers in RENDERS.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        projects[name] = render(folder / name, **answers)
        sync(projects[name])
    generator, load_function = load
    result = ObservabilityResult(generator, tuple(concurrencies), duration, rounds)
    servers: list[Server] = []
    try:
        upstream, upstream_port = start_upstream(default_project, "obs-upstream", None)
        servers.append(upstream)
        upstream.wait_until_answering(upstream.url)
        collector_port = free_port()
        python = str(default_project / ".venv" / "bin" / "python")
        command = [python, "-m", "bench.collector", "--port", str(collector_port)]
        collector = Server("collector", command, default_project, clean_env(PYTHONPATH=str(REPO)))
        servers.append(collector)
        collector.wait_until_answering(f"http://127.0.0.1:{collector_port}/health")
        urls = {}
        for variant in VARIANTS:
            server = _start(
                projects[variant.project],
                variant,
                f"http://127.0.0.1:{upstream_port}/",
                f"http://127.0.0.1:{collector_port}/v1/traces",
            )
            servers.append(server)
            server.wait_until_answering(server.url)
            urls[variant.key] = server.url
        for variant in VARIANTS:
            load_function(urls[variant.key], max(concurrencies), warm_up)
        result.loads = measure_in_turns(
            urls,
            load_function,
            concurrencies=concurrencies,
            rounds=rounds,
            duration=duration,
            label="observability",
        )
    finally:
        for server in reversed(servers):
            server.stop()
    return result
