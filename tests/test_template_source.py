"""The template's own sources: options stay out of the shared Python files (fast tier).

An option brings modules of its own, which post_gen removes when it is off; the files every
project shares hold registration lines only. Counting Jinja's control tags (`{%`) in the
Python files keeps it so: each one is a place where a reader of the template meets an option.
"""

from pathlib import Path

from .helpers import TEMPLATE

PROJECT = TEMPLATE / "{{cookiecutter.project_slug}}"
PACKAGE = PROJECT / "src" / "{{cookiecutter.package_name}}"
MOST_TAGS = 15
MOST_TAGS_IN_APP = 4


def _tags(path: Path) -> int:
    return path.read_text("utf-8").count("{%")


def test_few_jinja_control_tags_in_the_python_files() -> None:
    """At most 15 control tags in all the template's .py files, at most 4 in app.py."""
    counts = {path.relative_to(PROJECT): _tags(path) for path in PROJECT.rglob("*.py")}
    tagged = {str(path): count for path, count in counts.items() if count}
    assert sum(counts.values()) <= MOST_TAGS, tagged
    assert _tags(PACKAGE / "app.py") <= MOST_TAGS_IN_APP


def test_the_count_sees_every_tag() -> None:
    """The count is of the files it should be: the package, its routes and the tests hold
    tags today (the registration lines), so a count of zero would mean it looked nowhere."""
    assert _tags(PACKAGE / "parts.py") >= 1
    assert _tags(PACKAGE / "routes" / "__init__.py") >= 1
    assert _tags(PROJECT / "tests" / "conftest.py") >= 1


# What a project of this template never has, in code or in prose: the synchronous test
# client (another thread's loop; Starlette 1.x warns as soon as it is imported with httpx),
# startup and shutdown events instead of a lifespan, and pytest-asyncio's loop fixtures.
NEVER_NAMED = ("testclient", "on_event", "event_loop")


def test_nothing_names_a_test_client_an_event_hook_or_a_loop_fixture() -> None:
    """No file of the template, README included, names TestClient, on_event or event_loop
    (event_loop_policy too): the tests go through the app's lifespan on one loop with httpx's
    ASGITransport. The slow tier's suites also run with PYTHONWARNINGS=error, so a library
    that imported the test client while pytest starts would fail them."""
    named = [
        f"{path.relative_to(PROJECT)}: {word}"
        for path in PROJECT.rglob("*")
        if path.is_file()
        for word in NEVER_NAMED
        if word in path.read_text("utf-8", errors="replace").lower()
    ]
    assert named == []
