"""The Dockerfile's recipe replayed without Docker: its stages read, its build stage run here.

No Docker engine is available, so the build stage's COPY sources go into a fresh build
context, its ENV is set and its RUN runs (uv from this machine standing in for uv's image);
the final stage's ENV, CMD and HEALTHCHECK are read for the caller to run.
"""

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from .helpers import run, uv_executable


def _instructions(stage: str) -> list[tuple[str, str]]:
    """A stage's instructions as (keyword, arguments), continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", stage)
    found = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, arguments = line.strip().partition(" ")
            found.append((keyword, arguments))
    return found


def stages(dockerfile: str) -> tuple[str, str]:
    """The build stage and the final stage, each from its FROM line on."""
    _, build, final = dockerfile.split("\nFROM ")
    return build, final


def stage_env(stage: str) -> dict[str, str]:
    """Every ENV the stage sets."""
    env = {}
    for keyword, arguments in _instructions(stage):
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                name, value = pair.split("=", 1)
                env[name] = value
    return env


def exec_form(final: str, instruction: str) -> list[str]:
    """The JSON (exec form) arguments of the final stage's CMD, or of HEALTHCHECK's CMD."""
    for keyword, arguments in _instructions(final):
        if keyword == instruction == "CMD":
            command: list[str] = json.loads(arguments)
            return command
        if keyword == instruction == "HEALTHCHECK":
            health: list[str] = json.loads(arguments.split(" CMD ", 1)[1])
            return health
    raise AssertionError(f"no {instruction} in the final stage")


def replay_build(project: Path, root: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the build stage's steps; the RUN's outcome, and the virtualenv it was to fill."""
    build, _ = stages((project / "Dockerfile").read_text("utf-8"))
    context, venv = root / "context", root / "opt-venv"
    context.mkdir()
    runs = []
    for keyword, arguments in _instructions(build):
        words = shlex.split(arguments)
        if keyword == "COPY" and not words[0].startswith("--from="):
            *sources, destination = words
            for source in sources:
                for match in glob.glob(source, root_dir=project):  # noqa: PTH207 - COPY's globs
                    target = context / destination / (match if destination == "./" else "")
                    if (project / match).is_dir():
                        shutil.copytree(project / match, target)
                    else:
                        shutil.copy2(project / match, target)
        elif keyword == "RUN":
            runs.append(arguments)
    (command,) = runs
    env = stage_env(build)
    assert env.pop("UV_PROJECT_ENVIRONMENT") == "/opt/venv"
    path = f"{Path(uv_executable()).parent}{os.pathsep}{os.environ['PATH']}"
    result = run(["sh", "-c", command], context, UV_PROJECT_ENVIRONMENT=str(venv), PATH=path, **env)
    return result, venv
