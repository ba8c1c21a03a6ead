"""What every benchmark shares: rendering a project, installing it, running and timing processes.

This module is imported by the orchestrating process (the template's own environment) only;
the servers and load generator that run inside a rendered project's environment do not use it.
"""

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests import helpers

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "my_service"
ENV_PREFIX = "MY_SERVICE_"


def median(values: Sequence[float]) -> float:
    """The median of `values`, which must not be empty."""
    return statistics.median(values)


# Variables that change how fast Python runs (dev mode, warnings, no bytecode cache): the
# processes the benchmarks time run without them.
_SKEWS_TIMING = ("PYTHONDEVMODE", "PYTHONWARNINGS", "PYTHONDONTWRITEBYTECODE")


def clean_env(**extra: str) -> dict[str, str]:
    """The tests' clean environment, also without what skews timing, plus `extra`."""
    env = helpers.clean_env()
    for key in _SKEWS_TIMING:
        env.pop(key, None)
    env.update(extra)
    return env


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    # The post-generation hook runs as a child process and prints to file descriptor 1.
    saved = os.dup(1)
    with Path(os.devnull).open("wb") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def render(output_dir: Path, **answers: str | bool) -> Path:
    """Render the template with its defaults (plus `answers`) through the cookiecutter API."""
    config = helpers.write_cookiecutter_config(output_dir)
    with _quiet_stdout():
        return helpers.bake(output_dir, config, **answers)


def sync(project: Path) -> None:
    """Install a rendered project and its dev group into its own `.venv` with uv."""
    subprocess.run(  # noqa: S603 - a fixed command line
        [helpers.uv_executable(), "sync", "--quiet"],
        cwd=project,
        env=clean_env(),
        check=True,
    )


def timed_run(command: Sequence[str], cwd: Path, env: dict[str, str]) -> float:
    """Run `command` to completion and return its wall time in seconds; fail loudly on error."""
    start = time.perf_counter()
    result = subprocess.run(  # noqa: S603 - command lines built by the benchmarks
        list(command), cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-3000:]
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{tail}")
    return elapsed


class Server:
    """A server process in its own process group, always stopped with its children."""

    def __init__(self, name: str, command: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.name = name
        self.url = ""  # where the benchmarks send load, once known
        self.log = Path(cwd) / f".bench-{name}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - command lines built by the benchmarks
                list(command),
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def wait_until_answering(self, url: str, timeout: float = 30.0) -> None:
        """Poll `url` (a loopback address) until it answers 200, or fail with the server's log."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:  # noqa: PLR2004 - HTTP OK
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer {url} in {timeout} s")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL whatever is left after a few seconds."""
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, _KILL)
                self.process.wait(timeout=10)
        # Anything the leader left behind in its group.
        _signal_group(self.process, _KILL)


if sys.platform == "win32":
    _KILL = signal.SIGTERM
else:
    _KILL = signal.SIGKILL


def _signal_group(process: "subprocess.Popen[bytes]", sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        if sys.platform == "win32":  # no process groups to signal: the process alone
            if process.poll() is None:
                process.send_signal(sig)
        else:
            os.killpg(process.pid, sig)
