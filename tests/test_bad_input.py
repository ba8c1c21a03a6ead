"""Bad answers on the real cookiecutter CLI: exit 1, one clear sentence, no folder left."""

from pathlib import Path

import pytest

from .helpers import cookiecutter_cli

BAD_ANSWERS = [
    ("project_slug=1-service", "project_slug '1-service' must start with a letter"),
    ("package_name=class", "package_name 'class' is a Python keyword"),
    ("package_name=json", "would shadow the standard library module"),
    ("package_name=fastapi", "would shadow the 'fastapi' package"),
    ("package_name=tests", "would shadow the 'tests' package"),
    ("author_email=nobody", "author_email 'nobody' must look like name@example.com."),
    ("version=v1", "version 'v1' must be a PEP 440 version"),
    ("description=", "description must not be empty."),
]


@pytest.mark.parametrize(("answer", "message"), BAD_ANSWERS, ids=[a for a, _ in BAD_ANSWERS])
def test_bad_answer_is_refused_and_leaves_nothing(
    tmp_path: Path, cookiecutter_config: Path, answer: str, message: str
) -> None:
    """The hook's sentence reaches stderr, the CLI exits 1 and the output folder stays empty."""
    result = cookiecutter_cli(tmp_path, cookiecutter_config, answer)
    assert result.returncode == 1
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_good_answers_render_on_the_cli(tmp_path: Path, cookiecutter_config: Path) -> None:
    """The same CLI call with good answers renders the project and prints the next steps."""
    result = cookiecutter_cli(tmp_path, cookiecutter_config, "project_name=Orders API")
    assert result.returncode == 0, result.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["orders-api"]
    assert "uv run python -m orders_api" in result.stdout


@pytest.mark.parametrize("answer", ["python_version=3.9", "license=GPL-3.0", "database=mysql"])
def test_answer_outside_the_choices_is_refused_bycookiecutter_cli(
    tmp_path: Path, cookiecutter_config: Path, answer: str
) -> None:
    """cookiecutter itself refuses a choice it does not offer, before any hook runs."""
    result = cookiecutter_cli(tmp_path, cookiecutter_config, answer)
    assert result.returncode != 0
    assert "but the choices are" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_rendering_over_an_existing_project_changes_nothing(
    tmp_path: Path, cookiecutter_config: Path
) -> None:
    """Without -f cookiecutter refuses, with -f the hook does: the user's files stay as they are."""
    first = cookiecutter_cli(tmp_path, cookiecutter_config)
    assert first.returncode == 0, first.stderr
    project = tmp_path / "my-service"
    readme = project / "README.md"
    readme.write_text("my own notes", encoding="utf-8")
    (project / "src" / "my_service" / "routes" / "items.py").unlink()
    before = {path: path.read_bytes() for path in project.rglob("*") if path.is_file()}

    again = cookiecutter_cli(tmp_path, cookiecutter_config)
    forced = cookiecutter_cli(tmp_path, cookiecutter_config, "--overwrite-if-exists")

    assert again.returncode != 0
    assert "already exists" in again.stdout + again.stderr
    assert forced.returncode == 1
    assert "already holds files" in forced.stderr
    after = {path: path.read_bytes() for path in project.rglob("*") if path.is_file()}
    assert after == before
