"""Part 2, service throughput: `GET /items/1` through real uvicorn in front of a real upstream,
each in its own process, every server logging an access line per request to a file.

The template as `python -m my_service` serves it; plain FastAPI, the yardstick (the same route
and response model, one session from the lifespan, no dependency, no middleware); the same
route with a session per request and with a shared httpx client, the ways the template
avoids; and the upstream alone, the ceiling. The template and the session per request again
with the upstream behind TLS (when openssl can make a certificate), where every new
connection costs a handshake. The apps are in bench/project/apps.py, served by uvicorn with
its defaults.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .common import stopped_at_exit
from .loadgen import Results, in_turns, warm_up
from .servers import start_app, start_service, start_upstream
from .tls import make_certificate

CONCURRENCIES = (1, 10, 100)
ROUNDS = 3
DURATION = 3.0
WARM_UP = 3.0
APPS = "bench.project.apps"


@dataclass(frozen=True)
class Target:
    """One server to load: how it serves, and whose rate it is compared with."""

    key: str
    label: str
    app: str  # "module:factory" for uvicorn; "" for the template (python -m), "upstream"
    tls: bool = False  # the proxy reaches the upstream over TLS
    baseline: str = "template"


TARGETS = [
    Target("template", "template (`python -m`)", ""),
    Target("plain", "plain FastAPI (the yardstick)", f"{APPS}:create_plain_app"),
    Target("per_request", "aiohttp `ClientSession` per request", f"{APPS}:create_per_request_app"),
    Target("httpx", "shared `httpx.AsyncClient`", f"{APPS}:create_httpx_app"),
    Target("upstream", "upstream alone (the ceiling)", "upstream"),
    Target("template_tls", "template, upstream over TLS", "", tls=True, baseline="template_tls"),
    Target(
        "per_request_tls",
        "session per request, upstream over TLS",
        f"{APPS}:create_per_request_app",
        tls=True,
        baseline="template_tls",
    ),
]


def _trust(target: Target, project: Path) -> dict[str, str]:
    """The variable that makes a proxy trust the upstream's throwaway certificate."""
    return {"SSL_CERT_FILE": str(project.parent / "cert.pem")} if target.tls else {}


def run(
    project: Path,
    *,
    concurrencies: Sequence[int] = CONCURRENCIES,
    rounds: int = ROUNDS,
    duration: float = DURATION,
) -> Results:
    """Load every target at every concurrency, taking turns; every server always stopped."""
    tls = make_certificate(project.parent)
    targets = [target for target in TARGETS if tls is not None or not target.tls]
    with stopped_at_exit() as servers:
        bases = {False: start_upstream(servers, project)}
        ceiling = servers[-1]
        if tls is not None:
            bases[True] = start_upstream(servers, project, "upstream-tls", tls=tls)
        loaded = {}
        for target in targets:
            base, trust = bases[target.tls], _trust(target, project)
            if target.app == "upstream":
                loaded[target.key] = ceiling
            elif target.app:
                loaded[target.key] = start_app(
                    servers, project, target.key, target.app, base, **trust
                )
            else:
                loaded[target.key] = start_service(servers, project, target.key, base, **trust)
        warm_up(list(loaded.values()), max(concurrencies), WARM_UP)
        return in_turns(
            loaded,
            concurrencies=concurrencies,
            rounds=rounds,
            duration=duration,
            label="throughput",
        )
