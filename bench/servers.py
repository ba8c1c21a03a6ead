"""The processes the benchmarks load, each started inside a rendered project's environment,
on 127.0.0.1, in its own process group, its output in a log file (as a container's goes to
a log driver): the upstream, the template's service, the apps it is compared with.
"""

from pathlib import Path

from .common import ENV_PREFIX, PACKAGE, Server, bench_env, free_port, python_of

ITEM = "items/1"


def start_upstream(
    servers: list[Server],
    project: Path,
    name: str = "upstream",
    *,
    tls: tuple[Path, Path] | None = None,
    mode: str = "ok",
) -> str:
    """bench.project.upstream_server (over TLS when given a certificate and its key; items
    down in any `mode` but "ok"), once it answers; the base URL a proxy is given."""
    port = free_port()
    command = [str(python_of(project)), "-m", "bench.project.upstream_server", "--port", str(port)]
    if tls is not None:
        command += ["--cert", str(tls[0]), "--key", str(tls[1])]
    if mode != "ok":
        command += ["--mode", mode]
    server = Server(name, command, project, bench_env())
    servers.append(server)
    server.url = f"http://127.0.0.1:{port}/{ITEM if mode == 'ok' else 'health'}"
    if tls is None:
        server.wait_until_answering()
    else:
        server.wait_for_port(port)
    return f"{'https' if tls else 'http'}://127.0.0.1:{port}/"


def start_app(  # noqa: PLR0913 - what makes one server
    servers: list[Server],
    project: Path,
    name: str,
    app: str,
    upstream: str,
    *,
    path: str = ITEM,
    ready: str = ITEM,
    **env: str,
) -> Server:
    """`uvicorn <app> --factory` with uvicorn's defaults (its access log on, httptools,
    uvloop) in front of the base URL `upstream`, once it answers `ready`; its `url` is
    `path`. `app` is "module:factory"; the template reads its settings from `env`, the other
    apps the upstream from `BENCH_UPSTREAM_BASE_URL`."""
    port = free_port()
    uvicorn = project / ".venv" / "bin" / "uvicorn"
    command = [str(uvicorn), app, "--factory", "--host", "127.0.0.1", "--port", str(port)]
    server = Server(name, command, project, _env(upstream, **env))
    servers.append(server)
    server.url = f"http://127.0.0.1:{port}/{path}"
    server.wait_until_answering(f"http://127.0.0.1:{port}/{ready}")
    return server


def start_service(  # noqa: PLR0913 - what makes one server
    servers: list[Server],
    project: Path,
    name: str,
    upstream: str,
    *,
    http: str = "",
    loop: str = "",
    **env: str,
) -> Server:
    """`python -m my_service` in front of the base URL `upstream`, with more settings and
    variables in `env`; with `http` or `loop`, the same through bench.project.serve with that
    parser or loop, once its `/health` answers. Its `url` is `GET /items/1`."""
    port = free_port()
    command = [str(python_of(project)), "-m"]
    if http or loop:
        command += ["bench.project.serve", "--http", http or "capped", "--loop", loop or "uvloop"]
    else:
        command.append(PACKAGE)
    env[f"{ENV_PREFIX}PORT"] = str(port)
    server = Server(name, command, project, _env(upstream, **env))
    servers.append(server)
    server.url = f"http://127.0.0.1:{port}/{ITEM}"
    server.wait_until_answering(f"http://127.0.0.1:{port}/health")
    return server


def setting(name: str) -> str:
    """The variable that sets the service's setting `name` (a field of its Settings)."""
    return f"{ENV_PREFIX}{name.upper()}"


def _env(upstream: str, **env: str) -> dict[str, str]:
    return bench_env(
        BENCH_UPSTREAM_BASE_URL=upstream,
        **{f"{ENV_PREFIX}UPSTREAM_BASE_URL": upstream, f"{ENV_PREFIX}DOCS_ENABLED": "false"},
        **env,
    )
