"""The rendered service against the schemathesis CLI, over TCP under real uvicorn (slow tier).

Two renders are served as a user runs them, `python -m my_service` on 127.0.0.1: the default
one beside its tests' fake upstream (`python -m tests.upstream`, at the address the settings
give), and a database=postgres one beside the development PostgreSQL its README starts
(`scripts/dev_database.py`) as well. Then the render's own `schemathesis run
<url>/openapi.json` sends what the service's OpenAPI describes, valid and invalid, through
schemathesis' default phases: coverage (each boundary and each kind of wrong value, one at a
time), fuzzing (at most MAX_EXAMPLES generated cases per operation) and stateful (sequences
along the links it infers from the OpenAPI: create, then read, change and delete what was
made). The examples phase finds nothing to run: the OpenAPI gives no examples.

The checks are `--checks all`. Those with something to check here:
- not_a_server_error: no 5xx at all, documented or not. None is expected: the upstream and the
  database are healthy, so even a documented 502, 503 or 504 would be a fault.
- status_code_conformance, content_type_conformance, response_headers_conformance,
  response_schema_conformance: every answer has a status the operation documents, and the
  type, headers and body that status documents.
- negative_data_rejection, positive_data_acceptance: invalid input is refused with a 4xx,
  valid input is accepted.
- unsupported_method, allow_header_conformance: a method the path does not serve is a 405
  with an `Allow` header, and the methods `Allow` names are the ones the OpenAPI declares.
- use_after_free, ensure_resource_availability (stateful): what was deleted is gone, what was
  created can be read.
ignored_auth and object_level_authorization look for a security scheme, missing_required_header
for a required header: the OpenAPI declares neither, so they pass without a look today, and
start checking the day it does, which is why the list is `all` and not the names above. `all`
also turns on the response-time check, at 10 s unless told: MAX_RESPONSE_SECONDS sets it
hundreds of times above what a request takes, so that a hang fails it and a busy machine never.

A run passes when schemathesis exits 0, tested every operation, in every phase named above,
and ran more cases than the render's floor (a run that tested nothing cannot pass); the
service's log must then be JSON lines only, with no traceback, no line at error level and no
5xx answer. Nothing leaves 127.0.0.1: the service, the upstream and schemathesis listen and
send on loopback, the database is reached through its Unix socket, and schemathesis runs
without proxy settings.
"""

import contextlib
import json
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from ..helpers import Service, bake, clean_env, free_port, python_in, run, uv_executable

pytestmark = pytest.mark.slow

PACKAGE = "my_service"
PREFIX = "MY_SERVICE_"
# Generated cases per operation in the fuzzing phase (schemathesis' default is 100): runs
# took 6 to 10 s for the default render and 19 to 25 s for the postgres one here, on two
# cores with little else running.
MAX_EXAMPLES = 50
# An upper bound on one answer that only a hang reaches (they take milliseconds).
MAX_RESPONSE_SECONDS = 120
# The phases that must have run; examples has nothing to run (the OpenAPI gives none).
PHASES = ("Coverage", "Fuzzing", "Stateful")
# Variables that would send schemathesis' requests through a proxy, away from loopback.
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy"}
_ACCESS_STATUS = re.compile(r'" (\d{3})$')


class Render(NamedTuple):
    """What a render serves, and how many cases a run over it must at least hold."""

    name: str
    operations: int
    # Runs here generated 230 to 380 cases (default) and 600 to 710 (postgres).
    floor: int


DEFAULT = Render("default", operations=4, floor=150)
POSTGRES = Render("database=postgres", operations=9, floor=400)


class Summary(NamedTuple):
    """What schemathesis' closing summary says about one run."""

    operations: str  # "tested/selected/total"
    generated: int
    outcome: str  # "600 passed", or "3 found 2 unique failures", and any errored or skipped
    phases: dict[str, bool]  # each phase the summary names: whether it ran and passed
    scenarios: int | None  # stateful scenarios, when that phase ran
    seed: str

    def __str__(self) -> str:
        phases = ", ".join(name.lower() for name, ran in self.phases.items() if ran)
        return (
            f"{self.operations} operations tested/selected/total, {self.generated} cases "
            f"generated ({self.outcome}), {self.scenarios} stateful scenarios, "
            f"phases passed: {phases}; seed {self.seed}"
        )


def _search(pattern: str, output: str) -> re.Match[str]:
    match = re.search(pattern, output, re.MULTILINE)
    if match is None:
        raise AssertionError(f"no line matched {pattern!r} in schemathesis' output:\n{output}")
    return match


def _summary(output: str) -> Summary:
    """Parse the summary `schemathesis run --no-color` prints last."""
    selected = _search(r"^\s*Selected: (\d+)/(\d+)$", output)
    tested = _search(r"^\s*Tested: (\d+)$", output)
    cases = _search(r"^\s*(\d+) generated, (.+?)\s*$", output)
    section = _search(r"^Test Phases:\n((?:[ \t]+\S.*\n)+)", output).group(1)
    phases = {
        line.split()[-1]: line.split()[0] == "✅" for line in section.splitlines() if line.strip()
    }
    scenarios = re.search(r"^\s*Scenarios:\s+(\d+)$", output, re.MULTILINE)
    return Summary(
        operations=f"{tested.group(1)}/{selected.group(1)}/{selected.group(2)}",
        generated=int(cases.group(1)),
        outcome=cases.group(2),
        phases=phases,
        scenarios=None if scenarios is None else int(scenarios.group(1)),
        seed=_search(r"^Seed: (\d+)$", output).group(1),
    )


def _schemathesis_run(project: Path, base_url: str, workdir: Path) -> tuple[int, str, float]:
    """The render's own `schemathesis run` against `base_url`: exit status, output, seconds.

    It runs in `workdir`, so that no configuration file is found and nothing it writes lands
    in the project; it keeps no examples from one run to the next."""
    command = [
        str(python_in(project / ".venv").parent / "schemathesis"),
        "run",
        f"{base_url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-response-time",
        str(MAX_RESPONSE_SECONDS),
        "--request-timeout",
        str(MAX_RESPONSE_SECONDS),
        "--generation-database",
        "none",
        "--no-color",
    ]
    env = {k: v for k, v in clean_env().items() if k.lower() not in PROXY_VARIABLES}
    env["PYTHONIOENCODING"] = "utf-8"  # its output holds symbols, whatever the locale
    started = time.monotonic()
    result = subprocess.run(
        command,
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        encoding="utf-8",
        check=False,
    )
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def _log_faults(service: Service) -> list[str]:
    """The lines of the service's log that are not a JSON object, are at error level or
    above, hold a traceback, or record an answer with a 5xx status."""
    faults = []
    for line in service.lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            faults.append(line)
            continue
        if not isinstance(record, dict):
            faults.append(line)
            continue
        status = _ACCESS_STATUS.search(str(record.get("event", "")))
        if (
            record.get("level") in {"error", "critical"}
            or "Traceback" in line
            or (record.get("logger") == "uvicorn.access" and status and int(status[1]) >= 500)
        ):
            faults.append(line)
    return faults


def _answered_statuses(service: Service) -> dict[int, int]:
    """How many answers of each status the service's access log records."""
    counts: Counter[int] = Counter()
    for line in service.lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("logger") == "uvicorn.access":
                status = _ACCESS_STATUS.search(str(record.get("event", "")))
                if status:
                    counts[int(status[1])] += 1
    return dict(sorted(counts.items()))


@contextlib.contextmanager
def _serving(project: Path, **settings: str) -> Iterator[tuple[str, Service]]:
    """The render's fake upstream at a free port, then `python -m my_service` pointed at it,
    with `settings` (names without the prefix) on top: its base URL and process.

    Afterwards both stop; the service must stop as uvicorn does on SIGTERM, and the upstream
    (on SIGINT, its Ctrl-C) without a traceback."""
    python = str(python_in(project / ".venv"))
    upstream_url = f"http://127.0.0.1:{free_port()}/"
    env = {f"{PREFIX}UPSTREAM_BASE_URL": upstream_url}
    env.update({f"{PREFIX}{name.upper()}": value for name, value in settings.items()})
    upstream = Service([python, "-m", "tests.upstream"], project, **env)
    try:
        upstream.wait_for(rf"Fake upstream on {re.escape(upstream_url)}", timeout=120)
        port = free_port()
        service = Service([python, "-m", PACKAGE], project, **env, **{f"{PREFIX}PORT": str(port)})
        service.wait_until_up(f"http://127.0.0.1:{port}/health")
        try:
            yield f"http://127.0.0.1:{port}", service
        finally:
            code = service.stop(signal.SIGTERM)
            assert code == -signal.SIGTERM, service.output
            assert "Application shutdown complete" in service.output
    finally:
        code = upstream.stop(signal.SIGINT)
        assert code == 0, upstream.output
        assert "Traceback" not in upstream.output, upstream.output


def _check_render(render: Render, project: Path, workdir: Path, **settings: str) -> None:
    """Serve `project` with `settings`, run schemathesis against it, and hold the run and
    the service's log to the module's promises; print what the run did."""
    with _serving(project, **settings) as (base_url, service):
        code, output, seconds = _schemathesis_run(project, base_url, workdir)
    found = _summary(output)
    statuses = _answered_statuses(service)
    print(  # noqa: T201 - the figures to quote (pytest -s)
        f"\nschemathesis, {render.name} render: {found}; {seconds:.1f} s\n"
        f"  answers by status: {statuses}"
    )
    assert code == 0, output
    count = render.operations
    assert found.operations == f"{count}/{count}/{count}", output
    assert all(found.phases.get(phase) for phase in PHASES), output
    assert found.outcome == f"{found.generated} passed", output
    assert found.generated > render.floor, output
    assert found.scenarios, output
    assert _log_faults(service) == [], service.output
    assert statuses, service.output


@pytest.fixture(name="postgres_project", scope="module")
def fixture_postgres_project(postgres_home: Path, cookiecutter_config: Path) -> Path:
    """A database=postgres project, with the notes example, installed with uv."""
    project = bake(postgres_home / "schemathesis", cookiecutter_config, database="postgres")
    result = run([uv_executable(), "sync", "--quiet"], project)
    assert result.returncode == 0, result.stderr
    return project


@pytest.fixture(name="development_database", scope="module")
def fixture_development_database(postgres_project: Path) -> Iterator[str]:
    """`scripts/dev_database.py`, as the project's README has it: a PostgreSQL with the
    service's database migrated; the URL it says to serve with."""
    python = str(python_in(postgres_project / ".venv"))
    server = Service([python, "scripts/dev_database.py"], postgres_project)
    try:
        yield server.wait_for(rf"{PREFIX}DATABASE_URL='(.+)'", timeout=300).group(1)
    finally:
        code = server.stop(signal.SIGTERM)
        assert code == 0, server.output
        assert "Traceback" not in server.output, server.output


def test_default_render_answers_as_its_openapi_documents(project: Path, tmp_path: Path) -> None:
    """The default render, beside a healthy upstream: schemathesis finds no server error, no
    undocumented status, no answer off its schema, and the log stays clean."""
    _check_render(DEFAULT, project, tmp_path)


def test_postgres_render_answers_as_its_openapi_documents(
    postgres_project: Path, development_database: str, tmp_path: Path
) -> None:
    """The database=postgres render, beside a healthy upstream and PostgreSQL: schemathesis
    finds no server error, no undocumented status, no answer off its schema, and the log
    stays clean."""
    _check_render(POSTGRES, postgres_project, tmp_path, database_url=development_database)


def test_summary_is_read_from_the_cli_output() -> None:
    """The parser reads the counts from the summary schemathesis 4.32 prints, and fails
    loudly on output without one."""
    output = (
        "API Operations:\n  Selected: 4/4\n  Tested: 4\n\n"
        "Test Phases:\n  ⏭  Examples\n  ✅ Coverage\n  ✅ Fuzzing\n  ❌ Stateful\n\n"
        "Test cases:\n  273 generated, 3 found 2 unique failures, 1 errored\n\n"
        "Seed: 1234\n"
    )
    parsed = _summary(output)
    assert parsed == Summary(
        operations="4/4/4",
        generated=273,
        outcome="3 found 2 unique failures, 1 errored",
        phases={"Examples": False, "Coverage": True, "Fuzzing": True, "Stateful": False},
        scenarios=None,
        seed="1234",
    )
    with pytest.raises(AssertionError, match="no line matched"):
        _summary("Test cases:\n  No test cases were generated\n")
