"""Part 5: what the logging, the metrics and the tracing cost, and a collector that is down.

The same `GET /items/1` through real uvicorn (its access log on, as under `python -m`) in
front of bench.project.upstream_server, each way adding to the one before: the service as it
was before its logging (bench/project/before_logging.py: uvicorn's text lines, no request
id), the default render (JSON lines and the request id), a render with `metrics`, one with
`metrics` and `tracing` exporting nothing, and that one exporting every span over OTLP to a
local collector stand-in that discards them (bench/project/collector.py), or to a collector
that is down (nothing listens at its port: every export is refused and retried). Every
server logs to a file, as a container's output goes to a log driver. Then how long SIGTERM
takes to stop the traced service under `python -m` (bench/shutdown_time.py).
"""

from dataclasses import dataclass, field
from pathlib import Path

from . import shutdown_time
from .common import (
    Server,
    bench_env,
    free_port,
    never_answering,
    python_of,
    render,
    stopped_at_exit,
    sync,
)
from .loadgen import Results, in_turns, warm_up
from .servers import start_app, start_upstream
from .throughput import CONCURRENCIES, DURATION, WARM_UP

# The collector rows differ by a few percent: more rounds than part 2's.
ROUNDS = 5

TEMPLATE_APP = "my_service.app:create_app"


@dataclass(frozen=True)
class Variant:
    """One way to serve the route: which render, which factory, where spans go."""

    key: str
    label: str
    render: str  # "default", "metrics" or "traced"
    app: str = TEMPLATE_APP
    collector: str = ""  # "up", "down" or "hang": spans exported over OTLP to it


VARIANTS = [
    Variant(
        "before",
        "before its logging: uvicorn's text lines, no request id",
        "default",
        "bench.project.before_logging:create_before_logging_app",
    ),
    Variant("logging", "logging (the default): JSON lines, request id", "default"),
    Variant("metrics", "+ metrics", "metrics"),
    Variant("tracing", "+ metrics + tracing, no exporter", "traced"),
    Variant("exporting", "+ metrics + tracing, OTLP to a collector", "traced", collector="up"),
    Variant("down", "the same, the collector down (refused)", "traced", collector="down"),
    Variant("hang", "the same, the collector hanging", "traced", collector="hang"),
]
RENDERS = {"metrics": {"metrics": True}, "traced": {"metrics": True, "tracing": True}}


@dataclass
class ObservabilityResult:
    """Every figure of part 5."""

    loads: Results = field(default_factory=dict)
    shutdowns: dict[str, list[float]] = field(default_factory=dict)


def renders(folder: Path, default_project: Path) -> dict[str, Path]:
    """The default project, and the metrics and traced ones rendered and installed under
    `folder`."""
    projects = {"default": default_project}
    for name, answers in RENDERS.items():
        projects[name] = render(folder / name, **answers)
        sync(projects[name])
    return projects


def start_collector(servers: list[Server], project: Path) -> str:
    """bench.project.collector, once it answers; the URL spans are exported to."""
    port = free_port()
    command = [str(python_of(project)), "-m", "bench.project.collector", "--port", str(port)]
    collector = Server("collector", command, project, bench_env())
    servers.append(collector)
    collector.wait_until_answering(f"http://127.0.0.1:{port}/health")
    return f"http://127.0.0.1:{port}/v1/traces"


def run(
    folder: Path,
    default_project: Path,
    *,
    concurrencies: tuple[int, ...] = CONCURRENCIES,
    rounds: int = ROUNDS,
    duration: float = DURATION,
) -> ObservabilityResult:
    """Render and install the metrics and traced projects under `folder`, load every variant
    at every concurrency, taking turns; then time SIGTERM. Every server always stopped."""
    projects = renders(folder, default_project)
    result = ObservabilityResult()
    with stopped_at_exit() as servers, never_answering() as hanging:
        upstream = start_upstream(servers, default_project)
        collectors = {
            "up": start_collector(servers, default_project),
            "down": f"http://127.0.0.1:{free_port()}/v1/traces",  # nothing listens there
            "hang": f"http://127.0.0.1:{hanging}/v1/traces",
        }
        loaded = {}
        for variant in VARIANTS:
            spans = collectors.get(variant.collector)
            export = {} if spans is None else {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": spans}
            project = projects[variant.render]
            loaded[variant.key] = start_app(
                servers, project, variant.key, variant.app, upstream, **export
            )
        warm_up(list(loaded.values()), max(concurrencies), WARM_UP)
        result.loads = in_turns(
            loaded, concurrencies=concurrencies, rounds=rounds, duration=duration, label="part 5"
        )
        result.shutdowns = shutdown_time.run(projects["traced"], upstream, collectors)
    return result
