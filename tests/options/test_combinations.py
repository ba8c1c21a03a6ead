"""What holds across the options (fast tier): the rendered combinations meet every pair of
values of any two options, and the README has a section for each option that is on."""

import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from ..helpers import MATRIX, SPREAD, bake, combinations


def test_matrix_meets_every_pair_of_option_values() -> None:
    """Every value of every option is rendered, and every pair of values of two options meets.

    The full product of all thirteen options would be 49,152 renders; the 32 of the first
    three, with the other ten spread across them, keep the fast tier fast and still meet each pair.
    """
    options = {**MATRIX, **SPREAD}
    rows = list(combinations())
    assert len(rows) == 32
    assert set(SPREAD) == {
        "database",
        "tracing",
        "metrics",
        "jobs",
        "auth",
        "docker",
        "kubernetes",
        "ci",
        "pre_commit",
        "git_init",
    }
    assert SPREAD["database"] == ["none", "postgres"]
    assert SPREAD["ci"] == ["github", "gitlab", "none"]
    assert SPREAD["auth"] == ["none", "jwt"]
    for first, second in itertools.combinations(options, 2):
        met = {(row[first], row[second]) for row in rows}
        wanted = set(itertools.product(options[first], options[second]))
        assert met == wanted, (first, second, wanted - met)


@pytest.mark.parametrize(
    ("answers", "sections"),
    [
        ({"docker": True, "ci": "github", "pre_commit": True}, ["pre-commit", "Docker", "CI"]),
        (
            {"docker": True, "ci": "github", "pre_commit": False, "database": "postgres"},
            ["Database", "Docker", "CI"],
        ),
        ({"docker": False, "ci": "gitlab", "pre_commit": False}, ["CI"]),
        ({"docker": True, "ci": "none", "pre_commit": False}, ["Docker"]),
        (
            {"docker": False, "ci": "none", "pre_commit": False, "kubernetes": True},
            ["Kubernetes"],
        ),
        ({"docker": False, "ci": "none", "pre_commit": False}, []),
        ({"docker": False, "ci": "none", "pre_commit": False, "jobs": True}, ["Jobs"]),
        ({"docker": False, "ci": "none", "pre_commit": False, "auth": "jwt"}, ["Auth"]),
    ],
)
def test_readme_has_a_section_per_option_that_is_on(
    tmp_path: Path, cookiecutter_config: Path, answers: dict[str, Any], sections: list[str]
) -> None:
    """The README explains the database, the jobs, authentication, Docker, Kubernetes, CI and
    pre-commit exactly when they are there."""
    project = bake(tmp_path, cookiecutter_config, **answers)
    readme = (project / "README.md").read_text("utf-8")
    headings = re.findall(r"^## (.+)$", readme, re.MULTILINE)
    found = [
        short
        for heading, short in (
            ("Database", "Database"),
            ("Background jobs", "Jobs"),
            ("Authentication", "Auth"),
            ("pre-commit", "pre-commit"),
            ("Docker", "Docker"),
            ("Kubernetes", "Kubernetes"),
            ("Continuous integration", "CI"),
        )
        if heading in headings
    ]
    assert found == sections
    assert re.findall(r"[^\n]\n## |\n\n\n## ", readme) == []
    if answers["ci"] == "gitlab":
        assert "`.gitlab-ci.yml`" in readme
        assert ".github" not in readme
