"""End to end as a user meets it: pip install from the README, real uvicorn (slow tier)."""

import re
import shlex
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from ..helpers import (
    TEMPLATE,
    Service,
    bake,
    free_port,
    pytest_counts,
    python_in,
    run,
    uv_executable,
)

pytestmark = pytest.mark.slow

PACKAGE = "my_service"
PREFIX = "MY_SERVICE_"


def _readme_block_after(readme: str, heading_text: str) -> list[str]:
    """The lines of the first console block after the line that contains `heading_text`."""
    start = readme.index(heading_text)
    match = re.search(r"```console\n(.*?)```", readme[start:], re.DOTALL)
    assert match is not None
    return [line for line in match.group(1).splitlines() if line.strip()]


@pytest.fixture(name="pip_project", scope="module")
def fixture_pip_project(
    tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path
) -> Path:
    """The default project, installed with plain pip by the commands its README gives."""
    project = bake(tmp_path_factory.mktemp("pip"), cookiecutter_config)
    readme = (project / "README.md").read_text("utf-8")
    commands = _readme_block_after(readme, "With plain pip")
    assert len(commands) == 3
    for line in commands:
        command = shlex.split(line)
        if command[0] == "python":
            command[0] = sys.executable
        result = run(command, project)
        assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"
    return project


def test_pip_install_then_the_suite_passes(pip_project: Path) -> None:
    """After the README's pip commands, the project's own tests pass."""
    result = run(
        [str(python_in(pip_project / ".venv")), "-m", "pytest", "-p", "no:cacheprovider"],
        pip_project,
        PYTHONDEVMODE="1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    counts = pytest_counts(result.stdout)
    assert counts.get("passed", 0) >= 20
    assert counts.keys() == {"passed"}, counts


@pytest.mark.parametrize("how", ["python -m", "uvicorn --factory"])
def test_service_serves_over_tcp_and_stops_cleanly(pip_project: Path, how: str) -> None:
    """The real server answers /health and /ready, and SIGTERM closes the session cleanly."""
    port = free_port()
    bin_dir = python_in(pip_project / ".venv").parent
    if how == "python -m":
        command = [str(bin_dir / "python"), "-m", PACKAGE]
    else:
        command = [str(bin_dir / "uvicorn"), f"{PACKAGE}.app:create_app", "--factory"]
        command += ["--host", "127.0.0.1", "--port", str(port)]
    service = Service(command, pip_project, PYTHONDEVMODE="1", **{f"{PREFIX}PORT": str(port)})
    try:
        health = service.get(f"http://127.0.0.1:{port}/health", timeout=30)
        ready = service.get(f"http://127.0.0.1:{port}/ready", timeout=5)
    finally:
        code = service.stop(signal.SIGTERM)
    assert health == (200, b'{"status":"ok"}')
    assert ready == (200, b'{"status":"ready","checks":{"server":"ok","http_session":"ok"}}')
    # uvicorn shuts down gracefully, then re-raises the signal it caught, so the exit
    # status says "ended by SIGTERM" as an init system expects.
    assert code == -signal.SIGTERM, service.output
    assert "Application shutdown complete" in service.output
    for bad in ("Unclosed", "Traceback", "ResourceWarning"):
        assert bad not in service.output


def test_set_up_now_installs_and_tests_the_project(
    tmp_path: Path, cookiecutter_config: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """With the opt-in, the post-gen hook creates .venv, installs and runs the tests."""
    uv_dir = str(Path(uv_executable()).parent)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", uv_dir, prepend=":")
        project = bake(tmp_path, cookiecutter_config, set_up_now=True)
    out = capfd.readouterr().out
    assert python_in(project / ".venv").exists()
    assert pytest_counts(out).get("passed", 0) >= 20
    assert "Set-up stopped" not in out


def test_make_demo_renders_tests_and_serves(tmp_path: Path) -> None:
    """`make demo`, the README's first command, renders, tests and serves the example route
    beside the fake upstream until Ctrl-C, which stops both."""
    port, upstream_port = free_port(), free_port()
    service = Service(
        ["make", "--no-print-directory", "demo", f"DEMO_DIR={tmp_path}"],
        TEMPLATE,
        **{
            f"{PREFIX}PORT": str(port),
            f"{PREFIX}UPSTREAM_BASE_URL": f"http://127.0.0.1:{upstream_port}/",
        },
    )
    try:
        health = service.get(f"http://127.0.0.1:{port}/health", timeout=600)
        service.wait_for(rf"Fake upstream on http://127\.0\.0\.1:{upstream_port}/", timeout=120)
        item = service.get(f"http://127.0.0.1:{port}/items/1", timeout=30)
    finally:
        service.stop(signal.SIGINT, group=True)
    assert health == (200, b'{"status":"ok"}')
    assert item == (200, b'{"id":1,"name":"widget"}')
    counts = pytest_counts(service.output)
    assert counts.get("passed", 0) >= 20
    assert counts.keys() == {"passed"}, counts
    assert "Application shutdown complete" in service.output
    assert "Unclosed" not in service.output
    # The upstream is gone too (it may take a moment to exit after the trap's kill).
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", upstream_port), timeout=30).close()
        except ConnectionRefusedError:
            break
        assert time.monotonic() < deadline, "the demo's upstream is still listening"
        time.sleep(0.1)
