"""What the option modules share: the tools beside this interpreter, and the renders to read."""

import subprocess
import sysconfig
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ..conftest import Renders
from ..helpers import DEFAULTS

SCRIPTS = Path(sysconfig.get_path("scripts"))
PYTHONS = DEFAULTS["python_version"]
# How the lint and test jobs install: from the lock once one is committed (run for real in
# test_ci.py's slow test).
LOCKED_SYNC = "if [ -f uv.lock ]; then uv sync --locked; else uv sync; fi"


def run_tool(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool installed beside this interpreter (the template's dev group)."""
    return subprocess.run(
        [str(SCRIPTS / name), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text("utf-8"))


def renders_with(renders: Renders, **wanted: Any) -> list[tuple[dict[str, Any], Path]]:
    """The renders whose answers include every `wanted` value."""
    found = [
        (answers, project)
        for answers, project in renders.values()
        if all(answers[key] == value for key, value in wanted.items())
    ]
    assert found, f"no render has {wanted}"
    return found


def run_lines(steps: list[dict[str, Any]]) -> list[str]:
    return [step["run"] for step in steps if "run" in step]
