"""The database option. Fast tier: compose.yaml against the compose-spec schema, and the CI
jobs on a PostgreSQL service container. Slow tier, installed and run: the generated suite in
random order and with workers, against a server of the developer's own, failing when it
should; the README's commands for a local database; the Docker image's migrations and service
against PostgreSQL.
"""

import http.client
import json
import re
import shutil
import signal
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import Renders
from ..docker_replay import exec_form, replay_build, stage_env, stages
from ..helpers import Service, free_port, python_in, run
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
SEEDS = (1, 2)


def test_compose_file_is_valid_and_migrates_before_serving(renders: Renders) -> None:
    """compose.yaml passes the compose-spec schema (offline), runs the migrations once with the
    package's own command after PostgreSQL is healthy, and starts the service after that."""
    found = [
        project / "compose.yaml"
        for _, project in renders_with(renders, database="postgres", docker=True)
    ]
    result = run_tool(
        "check-jsonschema", "--builtin-schema", "vendor.compose-spec", *map(str, found)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for path in found:
        services = load_yaml(path)["services"]
        assert services["migrate"]["command"] == ["python", "-m", "my_service.migrate"]
        assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
        assert services["app"]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
        url = services["app"]["environment"]["MY_SERVICE_DATABASE_URL"]
        assert url == services["migrate"]["environment"]["MY_SERVICE_DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://")
        assert "@db:5432/" in url


def test_compose_schema_does_fail_a_bad_file(tmp_path: Path) -> None:
    """The compose check can fail: a service with an unknown key is refused."""
    bad = tmp_path / "compose.yaml"
    bad.write_text("services:\n  app:\n    image: x\n    restart_policy: always\n", "utf-8")
    result = run_tool("check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(bad))
    assert result.returncode == 1


def test_ci_runs_the_suite_against_a_postgres_container_with_the_database(
    renders: Renders,
) -> None:
    """With the database, CI adds a job on a PostgreSQL service container, reached through
    TEST_DATABASE_URL; without it, no such job."""
    for answers, project in renders_with(renders, ci="github"):
        jobs = load_yaml(project / ".github/workflows/ci.yml")["jobs"]
        if answers["database"] == "none":
            assert "postgres" not in jobs
            continue
        job = jobs["postgres"]
        assert job["services"]["postgres"]["image"].startswith("postgres:")
        assert job["env"]["TEST_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert run_lines(job["steps"]) == [LOCKED_SYNC, "uv run pytest -n 2"]
    for answers, project in renders_with(renders, ci="gitlab"):
        config = load_yaml(project / ".gitlab-ci.yml")
        if answers["database"] == "none":
            assert "test-postgres" not in config
            continue
        job = config["test-postgres"]
        assert job["services"][0]["name"].startswith("postgres:")
        assert "@postgres:5432/" in job["variables"]["TEST_DATABASE_URL"]
        assert job["script"] == [LOCKED_SYNC, "uv run pytest -n 2"]


# slow tier: database=postgres, installed and run


@pytest.fixture(name="project", scope="module")
def fixture_project(postgres_home: Path, cookiecutter_config: Path) -> Path:
    """A project with database=postgres and the notes example, installed with uv, and
    pytest-randomly beside it."""
    return installed_with_randomly(
        postgres_home / "option", cookiecutter_config, database="postgres"
    )


@pytest.fixture(name="local_server", scope="module")
def fixture_local_server(project: Path) -> Iterator[str]:
    """`scripts/dev_database.py`, as the README has it: a development PostgreSQL with the
    service's database migrated; its URL."""
    script = ["scripts/dev_database.py"]
    server = Service([str(python_in(project / ".venv")), *script], project)
    try:
        match = server.wait_for(rf"{PREFIX}DATABASE_URL='(.+)'", timeout=300)
        yield match.group(1)
    finally:
        code = server.stop(signal.SIGTERM)
        assert code == 0, server.output
        assert "Traceback" not in server.output


def _sql(project: Path, url: str, statement: str, *, autocommit: bool = False) -> str:
    """Run one statement on `url` with the project's own SQLAlchemy; its first column, or ''."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        async def main() -> None:
            options = {"isolation_level": "AUTOCOMMIT"} if sys.argv[3] == "1" else {}
            engine = create_async_engine(sys.argv[1], **options)
            async with engine.connect() as connection:
                result = await connection.execute(text(sys.argv[2]))
                print(result.scalar() if result.returns_rows else "")
                await connection.commit()
            await engine.dispose()

        asyncio.run(main())
        """
    )
    python = str(python_in(project / ".venv"))
    result = run([python, "-c", script, url, statement, "1" if autocommit else "0"], project)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_suite_passes_in_random_order_with_two_workers(project: Path, seed: int) -> None:
    """The whole suite, shuffled, split over two pytest-xdist workers (a database each)."""
    code, output, counts = run_suite(
        project, "-p", "randomly", f"--randomly-seed={seed}", "-n", "2"
    )
    assert code == 0, output
    assert counts.keys() == {"passed"}, counts
    assert counts["passed"] >= 80
    assert f"--randomly-seed={seed}" in output


@pytest.mark.slow
def test_suite_uses_the_server_test_database_url_names(project: Path, local_server: str) -> None:
    """With TEST_DATABASE_URL set, the run's database is made on that server: a database of
    the same name planted there beforehand is replaced, then dropped at the end."""
    planted = "test_my_service_main"
    _sql(project, local_server, f'DROP DATABASE IF EXISTS "{planted}"', autocommit=True)
    _sql(project, local_server, f'CREATE DATABASE "{planted}"', autocommit=True)
    exists = "SELECT count(*) FROM pg_database WHERE datname = 'test_my_service_main'"
    assert _sql(project, local_server, exists) == "1"
    code, output, counts = run_suite(project, TEST_DATABASE_URL=local_server)
    assert code == 0, output
    assert counts.keys() == {"passed"}, counts
    assert _sql(project, local_server, exists) == "0"


@pytest.mark.slow
def test_a_connection_left_open_fails_the_run(project: Path) -> None:
    """An engine a test never disposes of keeps a connection open: the run fails, saying so."""
    leak = project / "tests" / "test_zz_leak.py"
    leak.write_text(
        "from sqlalchemy import text\n"
        "from sqlalchemy.ext.asyncio import create_async_engine\n\n\n"
        "async def test_leaks_an_engine(database_url: str) -> None:\n"
        "    engine = create_async_engine(database_url)\n"
        "    async with engine.connect() as connection:\n"
        '        await connection.execute(text("SELECT 1"))\n',
        encoding="utf-8",
    )
    try:
        code, output, _ = run_suite(project, "tests/test_zz_leak.py")
    finally:
        leak.unlink()
    assert code != 0
    assert "1 connection(s) to the tests' database were still open after the last test" in output


@pytest.mark.slow
def test_the_isolation_is_what_keeps_tests_apart(project: Path) -> None:
    """Without the sessions joined to each test's transaction, the notes tests see rows
    committed for real, and the check after each test names the table: the isolation is
    load-bearing, and its absence is loud."""
    plugin = project / "tests" / "database.py"
    original = plugin.read_text("utf-8")
    joined = "client.app.dependency_overrides[get_database] = joined_database\n"
    left = "del client.app.dependency_overrides[get_database]\n"
    assert joined in original
    assert left in original
    try:
        plugin.write_text(original.replace(joined, "pass\n").replace(left, "pass\n"), "utf-8")
        code, output, counts = run_suite(project, "tests/test_notes.py", "-p", "no:randomly")
    finally:
        plugin.write_text(original, encoding="utf-8")
    assert code == 1
    assert counts.get("failed", 0) + counts.get("error", 0) >= 3, counts
    assert "rows were committed to notes by an app of the test's own" in output


@pytest.mark.slow
def test_readme_recipe_with_the_database_works(project: Path) -> None:
    """The generated README's route that uses the upstream and the database together, and
    its tests, as written: they pass, and ruff and mypy --strict stay clean."""
    readme = (project / "README.md").read_text("utf-8")
    section = readme.split("### With the database", 1)[1].split("\n## ", 1)[0]
    route, test = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    package = project / "src" / PACKAGE
    added = [package / "routes" / "item_notes.py", project / "tests" / "test_item_notes.py"]
    routes = package / "routes" / "__init__.py"
    original = routes.read_text("utf-8")
    registered = original.replace("items, notes\n", "item_notes, items, notes\n").replace(
        "    notes.router,\n", "    notes.router,\n    item_notes.router,\n"
    )
    assert registered.count("item_notes") == 2, original
    try:
        for path, text in zip(added, (route, test), strict=True):
            path.write_text(text, encoding="utf-8")
        routes.write_text(registered, encoding="utf-8")
        bin_dir = python_in(project / ".venv").parent
        checks = [
            [str(bin_dir / "ruff"), "check", "."],
            [str(bin_dir / "ruff"), "format", "--check", "."],
            [str(bin_dir / "mypy"), "--strict"],
        ]
        for command in checks:
            result = run(command, project)
            assert result.returncode == 0, f"{command[0]}:\n{result.stdout}{result.stderr}"
        code, output, counts = run_suite(project, "tests/test_item_notes.py", "-p", "no:randomly")
    finally:
        routes.write_text(original, encoding="utf-8")
        for path in added:
            path.unlink(missing_ok=True)
    assert code == 0, output
    assert counts == {"passed": 2}


@pytest.mark.slow
def test_readme_local_database_serves_the_notes(project: Path, local_server: str) -> None:
    """The README's way to run locally: the development server (migrated), then the service
    against it under real uvicorn; a note goes in and comes back; Alembic finds nothing
    left to generate; SIGTERM closes the pool without a trace."""
    bin_dir = python_in(project / ".venv").parent
    env = {f"{PREFIX}DATABASE_URL": local_server}
    checked = run([str(bin_dir / "alembic"), "check"], project, **env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No new upgrade operations detected" in checked.stdout + checked.stderr
    port = free_port()
    service = Service(
        [str(bin_dir / "python"), "-m", PACKAGE],
        project,
        PYTHONDEVMODE="1",
        **env,
        **{f"{PREFIX}PORT": str(port)},
    )
    service.wait_until_up(f"http://127.0.0.1:{port}/health")
    try:
        created = _post_json(port, "/notes", {"title": "from the README"})
        ready = service.get(f"http://127.0.0.1:{port}/ready", timeout=30)
        listed = service.get(f"http://127.0.0.1:{port}/notes", timeout=30)
    finally:
        code = service.stop(signal.SIGTERM)
    assert created[0] == 201
    checks = json.loads(ready[1])["checks"]
    assert checks == {"server": "ok", "http_session": "ok", "database": "ok"}
    assert "from the README" in [note["title"] for note in json.loads(listed[1])["items"]]
    assert code == -signal.SIGTERM
    for bad in ("Traceback", "Unclosed", "ResourceWarning", "unclosed"):
        assert bad not in service.output, service.output


def _post_json(port: int, path: str, body: object) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.slow
def test_image_migrates_and_serves_against_postgres(
    project: Path, local_server: str, tmp_path: Path
) -> None:
    """The image's virtualenv, built by replaying the Dockerfile, holds the migrations: its
    `python -m my_service.migrate` (compose's migrate service) brings a fresh database to
    the newest revision, and its CMD serves with the database ready."""
    fresh = "image_check"
    _sql(project, local_server, f'DROP DATABASE IF EXISTS "{fresh}"', autocommit=True)
    _sql(project, local_server, f'CREATE DATABASE "{fresh}"', autocommit=True)
    url = re.sub(r"/my_service\?", f"/{fresh}?", local_server)
    copy = tmp_path / "project"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".venv", ".postgres", "uv.lock"))
    built, venv = replay_build(copy, tmp_path)
    assert built.returncode == 0, built.stdout + built.stderr
    bin_dir = python_in(venv).parent
    env = {f"{PREFIX}DATABASE_URL": url}
    migrated = run([str(bin_dir / "python"), "-m", f"{PACKAGE}.migrate"], tmp_path, **env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert _sql(project, url, "SELECT version_num FROM alembic_version") == "0001"
    _, final = stages((copy / "Dockerfile").read_text("utf-8"))
    final_env = stage_env(final)
    port = str(free_port())
    final_env.update(env, MY_SERVICE_HOST="127.0.0.1", MY_SERVICE_PORT=port)
    final_env["PATH"] = final_env["PATH"].replace("/opt/venv/bin", str(bin_dir))
    service = Service(exec_form(final, "CMD"), tmp_path, **final_env)
    service.wait_until_up(f"http://127.0.0.1:{port}/health")
    try:
        ready = service.get(f"http://127.0.0.1:{port}/ready", timeout=30)
    finally:
        service.stop(signal.SIGTERM)
        _sql(
            project,
            local_server,
            f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)',
            autocommit=True,
        )
    assert json.loads(ready[1])["checks"]["database"] == "ok"
