"""The jobs option. Fast tier: the worker in compose.yaml and on Kubernetes, the CI jobs on a
Valkey service container. Slow tier, installed and run: the generated suite in random order
with workers, against a server it starts and one it is given, failing when its isolation is
taken away; the worker's command line as a process manager runs it.
"""

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import Renders
from ..helpers import Service, python_in, run, running_valkey
from .common import (
    LOCKED_SYNC,
    installed_with_randomly,
    load_yaml,
    renders_with,
    run_lines,
    run_suite,
    run_tool,
)

PACKAGE = "my_service"
PREFIX = "MY_SERVICE_"
SEEDS = (1,)
DRAIN_TIMEOUT = f"{PREFIX}JOBS_DRAIN_TIMEOUT"


def _parts(project: Path) -> int:
    """How many parts the rendered service has (parts.py: the drain and those it lists)."""
    parts = (project / "src" / PACKAGE / "parts.py").read_text("utf-8")
    listed = parts.split("PARTS: list[PartFactory] = [", 1)[1].split("]", 1)[0]
    return 1 + listed.count(".part,")


def _env(container: dict[str, object]) -> dict[str, dict[str, object]]:
    entries = container.get("env", [])
    assert isinstance(entries, list)
    return {entry["name"]: entry for entry in entries}


def test_worker_runs_as_a_deployment_of_its_own_with_the_queue_from_the_secret(
    renders: Renders,
) -> None:
    """With jobs and Kubernetes, worker.yaml runs `python -m <package>.worker` from the
    server's image, with the queue's URL from the Secret, a liveness probe on its file, and a
    grace period longer than the drain plus the closing of every part; the server gets the
    queue's URL too. Without jobs, neither is there."""
    for answers, project in renders_with(renders, kubernetes=True):
        folder = project / "deploy" / "kubernetes"
        server = load_yaml(folder / "deployment.yaml")
        server_env = _env(server["spec"]["template"]["spec"]["containers"][0])
        if not answers["jobs"]:
            assert not (folder / "worker.yaml").exists()
            assert f"{PREFIX}JOBS_URL" not in server_env
            continue
        secret = {"name": server["metadata"]["name"], "key": "jobs-url"}
        assert server_env[f"{PREFIX}JOBS_URL"]["valueFrom"] == {"secretKeyRef": secret}
        worker = load_yaml(folder / "worker.yaml")
        assert worker["kind"] == "Deployment"
        assert worker["metadata"]["name"] == f"{server['metadata']['name']}-worker"
        labels = worker["spec"]["template"]["metadata"]["labels"]
        assert worker["spec"]["selector"]["matchLabels"] == labels
        assert labels["app.kubernetes.io/component"] == "worker"
        pod = worker["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == server["spec"]["template"]["spec"]["containers"][0]["image"]
        assert container["command"] == ["python", "-m", f"{PACKAGE}.worker"]
        env = _env(container)
        assert env[f"{PREFIX}JOBS_URL"]["valueFrom"] == {"secretKeyRef": secret}
        assert container["livenessProbe"]["exec"]["command"] == [
            "python",
            "-m",
            f"{PACKAGE}.worker",
            "alive",
        ]
        liveness_file = Path(str(env[f"{PREFIX}JOBS_LIVENESS_FILE"]["value"]))
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert str(liveness_file.parent) in mounts
        drain = float(str(env[DRAIN_TIMEOUT]["value"]))
        closing = float(str(env[f"{PREFIX}CLOSE_TIMEOUT"]["value"])) * _parts(project)
        assert pod["terminationGracePeriodSeconds"] > drain + closing
        kustomization = load_yaml(folder / "kustomization.yaml")
        assert "worker.yaml" in kustomization["resources"]


def test_compose_runs_valkey_and_a_worker_beside_the_service(renders: Renders) -> None:
    """With jobs and Docker, compose.yaml (valid against the compose spec) runs Valkey with
    a health check, and a worker that waits for it, is told what the service is told, and is
    given longer than its drain to stop."""
    found = renders_with(renders, jobs=True, docker=True)
    result = run_tool(
        "check-jsonschema",
        "--builtin-schema",
        "vendor.compose-spec",
        *(str(project / "compose.yaml") for _, project in found),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for _, project in found:
        services = load_yaml(project / "compose.yaml")["services"]
        assert services["valkey"]["healthcheck"]["test"] == ["CMD", "valkey-cli", "ping"]
        worker, app = services["worker"], services["app"]
        assert worker["command"] == ["python", "-m", f"{PACKAGE}.worker"]
        assert worker["depends_on"]["valkey"] == {"condition": "service_healthy"}
        assert worker["depends_on"] == app["depends_on"]
        assert worker["environment"] == app["environment"]
        assert app["environment"][f"{PREFIX}JOBS_URL"] == "redis://valkey:6379/0"
        assert int(worker["stop_grace_period"].removesuffix("s")) > 30


def test_ci_runs_the_suite_against_a_valkey_container_with_jobs(renders: Renders) -> None:
    """With jobs, CI adds a job on a Valkey service container, reached through
    TEST_REDIS_URL; without them, no such job."""
    for answers, project in renders_with(renders, ci="github"):
        jobs = load_yaml(project / ".github/workflows/ci.yml")["jobs"]
        if not answers["jobs"]:
            assert "valkey" not in jobs
            continue
        job = jobs["valkey"]
        assert job["services"]["valkey"]["image"].startswith("valkey/valkey:")
        assert job["env"]["TEST_REDIS_URL"] == "redis://localhost:6379/0"
        assert run_lines(job["steps"]) == [LOCKED_SYNC, "uv run pytest -n 2"]
    for answers, project in renders_with(renders, ci="gitlab"):
        config = load_yaml(project / ".gitlab-ci.yml")
        if not answers["jobs"]:
            assert "test-valkey" not in config
            continue
        job = config["test-valkey"]
        assert job["services"][0]["name"].startswith("valkey/valkey:")
        assert job["variables"]["TEST_REDIS_URL"] == "redis://valkey:6379/0"
        assert job["script"] == [LOCKED_SYNC, "uv run pytest -n 2"]


# slow tier: jobs=yes, installed and run


@pytest.fixture(name="project", scope="module")
def fixture_project(tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path) -> Path:
    """A project with jobs and their example, installed with uv, and pytest-randomly beside it."""
    return installed_with_randomly(tmp_path_factory.mktemp("jobs"), cookiecutter_config, jobs=True)


@pytest.fixture(name="valkey", scope="module")
def fixture_valkey(project: Path) -> Iterator[str]:
    """A Valkey server of the developer's own, from the wheel the project installs; its URL."""
    with running_valkey(project) as url:
        yield url


def _keys(project: Path, url: str) -> int:
    """How many keys the server at `url` holds in its database, with the project's client."""
    python = str(python_in(project / ".venv"))
    result = run(
        [python, "-c", f"import redis; print(redis.Redis.from_url({url!r}).dbsize())"], project
    )
    assert result.returncode == 0, result.stderr
    return int(result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_suite_passes_in_random_order_with_two_workers(project: Path, seed: int) -> None:
    """The whole suite, shuffled, split over two pytest-xdist workers (a database each)."""
    code, output, counts = run_suite(
        project, "-p", "randomly", f"--randomly-seed={seed}", "-n", "2"
    )
    assert code == 0, output
    assert counts.keys() == {"passed"}, counts
    assert counts["passed"] >= 40
    assert f"--randomly-seed={seed}" in output


@pytest.mark.slow
def test_suite_uses_the_server_test_redis_url_names(project: Path, valkey: str) -> None:
    """With TEST_REDIS_URL set, the jobs tests run on that server: the job a test leaves
    behind is there after the run."""
    assert _keys(project, valkey) == 0
    code, output, counts = run_suite(
        project,
        "tests/test_jobs.py::test_each_test_starts_with_an_empty_queue",
        TEST_REDIS_URL=valkey,
    )
    assert code == 0, output
    assert counts.keys() == {"passed"}, counts
    assert _keys(project, valkey) > 0


@pytest.mark.slow
def test_the_emptied_queue_is_what_keeps_tests_apart(project: Path) -> None:
    """Without the queue's database emptied before each test, what one test enqueued is
    seen by the next: the check for it fails. The isolation is load-bearing."""
    plugin = project / "tests" / "jobs.py"
    original = plugin.read_text("utf-8")
    emptied = "        await redis.flushdb()\n"
    assert original.count(emptied) == 1
    try:
        plugin.write_text(original.replace(emptied, "        pass\n"), "utf-8")
        code, output, counts = run_suite(
            project,
            "tests/test_jobs.py::test_a_job_waits_queued_until_a_worker_runs_it",
            "tests/test_jobs.py::test_each_test_starts_with_an_empty_queue",
            "-p",
            "no:randomly",
        )
    finally:
        plugin.write_text(original, encoding="utf-8")
    assert code == 1, output
    assert counts == {"passed": 1, "failed": 1}, counts
    assert "FAILED tests/test_jobs.py::test_each_test_starts_with_an_empty_queue" in output


@pytest.mark.slow
def test_worker_process_says_it_is_alive_and_stops_on_sigterm(
    project: Path, valkey: str, tmp_path: Path
) -> None:
    """`python -m <package>.worker` starts, touches its liveness file (so `alive` exits 0),
    and on SIGTERM stops with status 0; `alive` fails once no worker touches the file."""
    python = str(python_in(project / ".venv"))
    liveness = tmp_path / "alive"
    env = {
        f"{PREFIX}JOBS_URL": valkey,
        f"{PREFIX}JOBS_LIVENESS_FILE": str(liveness),
        f"{PREFIX}LOG_FORMAT": "json",
    }
    alive = [python, "-m", f"{PACKAGE}.worker", "alive"]
    assert run(alive, project, **env).returncode == 1
    worker = Service([python, "-m", f"{PACKAGE}.worker"], project, **env)
    try:
        worker.wait_for(r'"event": "worker started"', timeout=60)
        assert run(alive, project, **env).returncode == 0
    finally:
        code = worker.stop(signal.SIGTERM)
    assert code == 0, worker.output
    worker.wait_for(r'"event": "worker stopped"', timeout=5)
    assert "Traceback" not in worker.output
    old = liveness.stat().st_mtime - 120
    os.utime(liveness, (old, old))
    assert run(alive, project, **env).returncode == 1
