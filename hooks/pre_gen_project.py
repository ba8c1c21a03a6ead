"""Check the answers before anything is written: one sentence per problem, then exit 1.

cookiecutter removes the project folder it created when this hook fails. The answers are
read as JSON data, so no answer can change what this code does.
"""

import json
import keyword
import re
import sys
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

CONTEXT_JSON = r"""{{ cookiecutter | tojson }}"""

PYTHON_VERSIONS = ("3.11", "3.12", "3.13", "3.14")
LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", "Proprietary")
CI_SERVICES = ("github", "gitlab", "none")
DATABASES = ("none", "postgres")
AUTHS = ("none", "jwt")
BOOLEANS = (
    "include_example_route",
    "docker",
    "kubernetes",
    "pre_commit",
    "git_init",
    "set_up_now",
)
# Import names the generated project uses (or its tests do): a package with one of these
# names would hide the real module from the project itself.
TAKEN_NAMES = frozenset(
    {
        "aiohttp",
        "annotated_types",
        "anyio",
        "asgi_lifespan",
        "click",
        "dotenv",
        "fastapi",
        "h11",
        "httpcore",
        "httptools",
        "httpx",
        "idna",
        "multidict",
        "mypy",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "pytest",
        "pytest_asyncio",
        "ruff",
        "sniffio",
        "starlette",
        "test",
        "tests",
        "typing_extensions",
        "uvicorn",
        "uvloop",
        "watchfiles",
        "websockets",
        "yarl",
    }
)
# Standard-library modules that this interpreter's sys.stdlib_module_names may not list: those
# of the newer Pythons a project can run on, and CPython's test modules, which linters (ruff's
# import sorting and A005) count as standard library too.
OTHER_STDLIB_NAMES = frozenset(
    {"annotationlib", "compression", "xx", "xxlimited", "xxlimited_35", "xxsubtype"}
)
MAX_TEXT_LENGTH = 200
# Long enough for any real name, short enough that every generated line stays under 100.
MAX_NAME_LENGTH = 40
# Characters that reorder how text is displayed: in source code they can make it read
# differently from what runs ("Trojan Source"), so no answer may carry them.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

_SLUG = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
_PACKAGE = re.compile(r"[a-z][a-z0-9_]*")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_NUMBER = r"(?:0|[1-9][0-9]*)"
_VERSION = re.compile(
    rf"(?:{_NUMBER}!)?{_NUMBER}(?:\.{_NUMBER})*"
    rf"(?:(?:a|b|rc){_NUMBER})?(?:\.post{_NUMBER})?(?:\.dev{_NUMBER})?"
)


def check_text(field: str, value: object) -> str | None:
    """A free-text answer must be one printable line of reasonable length."""
    if not isinstance(value, str) or not value.strip():
        return f"{field} must not be empty."
    if len(value) > MAX_TEXT_LENGTH:
        return f"{field} must be at most {MAX_TEXT_LENGTH} characters long, got {len(value)}."
    if any(unicodedata.category(char) in {"Cc", "Cs"} for char in value):
        return f"{field} must be a single line without control characters."
    if BIDI_CONTROLS.intersection(value):
        return f"{field} must not contain characters that reverse the direction of text."
    return None


def check_slug(slug: object) -> str | None:
    """The folder and distribution name: lowercase letters and digits, joined by - or _."""
    if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
        return (
            f"project_slug {slug!r} must start with a letter and hold only lowercase letters, "
            "digits and single hyphens or underscores between them."
        )
    if len(slug) > MAX_NAME_LENGTH:
        return f"project_slug must be at most {MAX_NAME_LENGTH} characters long, got {len(slug)}."
    return None


def check_package(name: object) -> str | None:
    """The import name: a lowercase identifier that hides no module the project needs."""
    if not isinstance(name, str) or not _PACKAGE.fullmatch(name):
        return (
            f"package_name {name!r} must be a lowercase Python identifier "
            "(letters, digits and underscores, starting with a letter)."
        )
    if len(name) > MAX_NAME_LENGTH:
        return f"package_name must be at most {MAX_NAME_LENGTH} characters long, got {len(name)}."
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"package_name {name!r} is a Python keyword, so it cannot be imported."
    if name in sys.stdlib_module_names or name in OTHER_STDLIB_NAMES:
        return f"package_name {name!r} would shadow the standard library module of that name."
    if name in TAKEN_NAMES:
        return f"package_name {name!r} would shadow the {name!r} package the project depends on."
    return None


def check_email(email: object) -> str | None:
    """An address of the form name@domain.tld."""
    if not isinstance(email, str) or not _EMAIL.fullmatch(email):
        return f"author_email {email!r} must look like name@example.com."
    return None


def check_version(version: object) -> str | None:
    """A public PEP 440 version in its normal form."""
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        return f"version {version!r} must be a PEP 440 version such as 0.1.0 or 1.0.0rc1."
    return None


def check_choice(field: str, value: object, choices: tuple[str, ...]) -> str | None:
    """One of the offered choices."""
    if value not in choices:
        return f"{field} {value!r} must be one of {', '.join(choices)}."
    return None


def check_boolean(field: str, value: object) -> str | None:
    """A real boolean, as the prompts produce."""
    if not isinstance(value, bool):
        return f"{field} must be true or false, got {value!r}."
    return None


def check_target(project: Path) -> str | None:
    """The folder being rendered into must be new or empty, so nothing in it is overwritten."""
    if any(project.iterdir()):
        return (
            f"{project} already holds files, and rendering again would overwrite them; "
            "render into a new folder and compare, or follow the template with `cruft update`."
        )
    return None


def problems(context: Mapping[str, Any]) -> list[str]:
    """Every problem with the answers, one sentence each; empty when all is well."""
    checks: list[Callable[[], str | None]] = [
        lambda: check_text("project_name", context.get("project_name")),
        lambda: check_text("description", context.get("description")),
        lambda: check_text("author_name", context.get("author_name")),
        lambda: check_slug(context.get("project_slug")),
        lambda: check_package(context.get("package_name")),
        lambda: check_email(context.get("author_email")),
        lambda: check_version(context.get("version")),
        lambda: check_choice("python_version", context.get("python_version"), PYTHON_VERSIONS),
        lambda: check_choice("license", context.get("license"), LICENSES),
        lambda: check_choice("ci", context.get("ci"), CI_SERVICES),
        lambda: check_choice("database", context.get("database"), DATABASES),
        lambda: check_choice("auth", context.get("auth"), AUTHS),
        *(lambda field=field: check_boolean(field, context.get(field)) for field in BOOLEANS),
    ]
    return [message for check in checks if (message := check()) is not None]


def main(context: Mapping[str, Any], project: Path) -> int:
    """Print each problem on stderr; 1 if there was any."""
    target = check_target(project)
    found = [target] if target is not None else problems(context)
    for message in found:
        print(f"error: {message}", file=sys.stderr)  # noqa: T201 - the hook talks on stderr
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(json.loads(CONTEXT_JSON), Path.cwd()))
