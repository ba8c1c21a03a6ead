"""The ci option: the GitHub and GitLab files checked against their schemas and read (fast
tier), and the jobs' install line run for real (slow tier)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ..conftest import Renders
from ..helpers import bake, run, uv_executable
from .common import LOCKED_SYNC, PYTHONS, load_yaml, renders_with, run_lines, run_tool

GITHUB_FILES = (".github/workflows/ci.yml", ".github/workflows/newest.yml")


def _versions_from(minimum: str) -> list[str]:
    return [version for version in PYTHONS if version >= minimum]


def test_ci_files_are_valid_against_their_schemas(renders: Renders) -> None:
    """check-jsonschema's bundled schemas accept every rendered CI and dependabot file."""
    by_schema: dict[str, list[str]] = {
        "vendor.github-workflows": [],
        "vendor.dependabot": [],
        "vendor.gitlab-ci": [],
    }
    for _, project in renders_with(renders, ci="github"):
        by_schema["vendor.github-workflows"] += [str(project / name) for name in GITHUB_FILES]
        by_schema["vendor.dependabot"].append(str(project / ".github/dependabot.yml"))
    for _, project in renders_with(renders, ci="gitlab"):
        by_schema["vendor.gitlab-ci"].append(str(project / ".gitlab-ci.yml"))
    for schema, files in by_schema.items():
        assert files
        result = run_tool("check-jsonschema", "--builtin-schema", schema, *files)
        assert result.returncode == 0, f"{schema}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize(
    ("schema", "document"),
    [
        ("vendor.github-workflows", "on: push\njobs:\n  test:\n    steps: []\n"),
        ("vendor.dependabot", "version: 2\nupdates:\n  - package-ecosystem: uv\n"),
        ("vendor.gitlab-ci", "test:\n  script: 3\n  when: sometimes\n"),
    ],
)
def test_schema_check_does_fail_a_broken_file(tmp_path: Path, schema: str, document: str) -> None:
    """The schema checks above can fail: a file missing required keys is refused."""
    broken = tmp_path / "broken.yml"
    broken.write_text(document, "utf-8")
    result = run_tool("check-jsonschema", "--builtin-schema", schema, str(broken))
    assert result.returncode == 1, result.stdout


def test_github_ci_checks_each_python_from_the_chosen_one(renders: Renders) -> None:
    """ci.yml lints once and tests on each Python from the minimum to 3.14, all with uv."""
    for answers, project in renders_with(renders, ci="github"):
        workflow = load_yaml(project / ".github/workflows/ci.yml")
        jobs = workflow["jobs"]
        matrix = jobs["test"]["strategy"]["matrix"]["python-version"]
        assert matrix == _versions_from(answers["python_version"])
        setup = [step for step in jobs["test"]["steps"] if "setup-uv" in step.get("uses", "")]
        assert setup[0]["with"]["python-version"] == "${{ matrix.python-version }}"
        assert run_lines(jobs["lint"]["steps"]) == [
            LOCKED_SYNC,
            "uv run ruff check .",
            "uv run ruff format --check .",
            "uv run mypy",
        ]
        assert run_lines(jobs["test"]["steps"]) == [LOCKED_SYNC, "uv run pytest"]
        assert "uv sync --resolution lowest-direct" in run_lines(jobs["lowest"]["steps"])
        assert set(workflow["on"]) == {"push", "pull_request", "workflow_dispatch"}


def test_github_newest_runs_weekly_on_the_newest_releases(renders: Renders) -> None:
    """newest.yml is scheduled weekly and upgrades every dependency before testing."""
    for answers, project in renders_with(renders, ci="github"):
        workflow = load_yaml(project / ".github/workflows/newest.yml")
        (cron,) = [entry["cron"] for entry in workflow["on"]["schedule"]]
        fields = cron.split()
        assert fields[2:4] == ["*", "*"]
        assert fields[4].isdigit()
        job = workflow["jobs"]["test"]
        versions = job["strategy"]["matrix"]["python-version"]
        assert versions == sorted({answers["python_version"], PYTHONS[-1]})
        runs = run_lines(job["steps"])
        assert runs[0] == "uv sync --upgrade --resolution highest"
        assert "uv run --no-sync pytest" in runs


def test_dependabot_watches_python_packages_and_actions(renders: Renders) -> None:
    """dependabot.yml updates the uv-managed dependencies and the GitHub actions weekly."""
    for _, project in renders_with(renders, ci="github"):
        config = load_yaml(project / ".github/dependabot.yml")
        ecosystems = {update["package-ecosystem"] for update in config["updates"]}
        assert ecosystems == {"uv", "github-actions"}
        assert {update["schedule"]["interval"] for update in config["updates"]} == {"weekly"}


def test_gitlab_ci_checks_each_python_and_the_newest_on_schedule(renders: Renders) -> None:
    """.gitlab-ci.yml mirrors the GitHub jobs; `newest` runs in scheduled pipelines only."""
    for answers, project in renders_with(renders, ci="gitlab"):
        config = load_yaml(project / ".gitlab-ci.yml")
        minimum = answers["python_version"]
        assert config["default"]["image"] == f"ghcr.io/astral-sh/uv:python{minimum}-bookworm-slim"
        (matrix,) = config["test"]["parallel"]["matrix"]
        assert matrix["PYTHON"] == _versions_from(minimum)
        assert config["test"]["script"] == [LOCKED_SYNC, "uv run pytest"]
        assert config["lint"]["script"][0] == LOCKED_SYNC
        assert "uv run mypy" in config["lint"]["script"]
        assert "uv sync --resolution lowest-direct" in config["lowest"]["script"]
        assert config["newest"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
        assert config["newest"]["script"][0] == "uv sync --upgrade --resolution highest"
        for job in ("lint", "test", "lowest"):
            assert config[job]["rules"] == [{"if": '$CI_PIPELINE_SOURCE != "schedule"'}]


CRUFT_CHECK = 'uvx --from "cruft>=2.16,<3" cruft check'


def github_template_script(project: Path) -> str:
    """The script of ci.yml's `template` job: its one `run` step."""
    (script,) = run_lines(
        load_yaml(project / ".github/workflows/ci.yml")["jobs"]["template"]["steps"]
    )
    return str(script)


def gitlab_template_script(project: Path) -> list[str]:
    return list(load_yaml(project / ".gitlab-ci.yml")["template"]["script"])


def test_github_template_job_warns_and_never_fails(renders: Renders, tmp_path: Path) -> None:
    """ci.yml's `template` job runs cruft check and turns its failure into a warning; the job
    itself may not be allowed to fail (the script does not fail); without .cruft.json it says
    there is nothing to compare and passes (run here with bash -e, as Actions runs it)."""
    for _, project in renders_with(renders, ci="github"):
        job = load_yaml(project / ".github/workflows/ci.yml")["jobs"]["template"]
        assert "continue-on-error" not in job
        script = github_template_script(project)
        assert f"elif ! {CRUFT_CHECK}; then" in script
        assert "::warning title=Template::" in script
    result = run(["bash", "-e", "-c", script], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("No .cruft.json")


def test_gitlab_template_job_may_fail_without_failing_the_pipeline(
    renders: Renders, tmp_path: Path
) -> None:
    """.gitlab-ci.yml's `template` job runs cruft check with allow_failure (a warning), in an
    image with git; without .cruft.json its first line ends the job, passed."""
    for answers, project in renders_with(renders, ci="gitlab"):
        config = load_yaml(project / ".gitlab-ci.yml")
        job = config["template"]
        assert job["allow_failure"] is True
        assert job["rules"] == [{"if": '$CI_PIPELINE_SOURCE != "schedule"'}]
        assert job["image"] == f"ghcr.io/astral-sh/uv:python{answers['python_version']}-bookworm"
        script = gitlab_template_script(project)
        assert script[1:] == [CRUFT_CHECK]
    result = run(["sh", "-e", "-c", script[0]], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("No .cruft.json")


def test_ci_none_leaves_no_ci_files(renders: Renders) -> None:
    """With ci=none there is neither a .github folder nor a .gitlab-ci.yml."""
    for _, project in renders_with(renders, ci="none"):
        assert not (project / ".github").exists()
        assert not (project / ".gitlab-ci.yml").exists()


# slow tier: the install line, run


@pytest.fixture(name="ci_project", scope="module")
def fixture_ci_project(tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path) -> Path:
    """The default project (GitHub Actions), as rendered: no uv.lock yet."""
    return bake(tmp_path_factory.mktemp("ci"), cookiecutter_config)


@pytest.mark.slow
def test_ci_install_line_follows_the_lock_once_there_is_one(
    ci_project: Path, tmp_path: Path
) -> None:
    """The CI jobs' install line: without uv.lock it resolves and installs; with a lock that
    matches it installs from the lock unchanged; with a stale lock it fails the job."""
    ci = (ci_project / ".github/workflows/ci.yml").read_text("utf-8")
    line = re.search(r"- run: (if \[ -f uv\.lock \].*)$", ci, re.MULTILINE)
    assert line is not None
    project = tmp_path / "project"
    shutil.copytree(ci_project, project)
    path = f"{Path(uv_executable()).parent}{os.pathsep}{os.environ['PATH']}"

    def install() -> subprocess.CompletedProcess[str]:
        return run(["sh", "-c", line.group(1)], project, PATH=path)

    unlocked = install()
    assert unlocked.returncode == 0, unlocked.stderr
    lock = (project / "uv.lock").read_text("utf-8")
    relocked = install()
    assert relocked.returncode == 0, relocked.stderr
    assert (project / "uv.lock").read_text("utf-8") == lock
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text("utf-8")
    added = text.replace("dependencies = [\n", 'dependencies = [\n  "idna>=3",\n', 1)
    assert added != text
    pyproject.write_text(added, "utf-8")
    stale = install()
    assert stale.returncode != 0
    assert "--locked" in stale.stderr
