"""Whatever a user types at the prompts, the template refuses it cleanly or renders it exactly.

Every generated answer either is refused by the pre_gen hook (one sentence per problem, exit 1,
no folder left) or gives a project whose Python compiles and passes ruff, whose TOML and YAML
parse, and whose metadata holds exactly what was typed. No answer can run code.
"""

import ast
import io
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .helpers import DEFAULTS, TEMPLATE, write_cookiecutter_config

pytestmark = pytest.mark.slow

TEXT_FIELDS = ("project_name", "description", "author_name")
CANARY = "cookiecutter-canary"
# Answers written to break out of the string, the file or the template they land in.
PAYLOADS = [
    '"; import os; os.system("touch ' + CANARY + '"); "',
    "'; __import__('pathlib').Path('" + CANARY + "').touch(); '",
    '"""\nimport os\n"""',
    "'''",
    '\\"',
    "\\",
    "\\n\\x00\\u0000",
    "{{ cycler.__init__.__globals__.os.system('touch " + CANARY + "') }}",
    "{% for x in range(3) %}{{ x }}{% endfor %}",
    "{# comment #}",
    "${HOME} $(touch " + CANARY + ") `touch " + CANARY + "`",
    "Ünïcödé 名前 🚀 \u202e",
    "x" * 250,
    "# not a comment",
    "key = 'value'",
    "]\n[tool.evil]",
    "- not: yaml",
]
# Every character UTF-8 can encode (everything but lone surrogates).
ANY_CHAR = st.characters(codec="utf-8")
TYPED = st.one_of(
    st.text(ANY_CHAR.filter(lambda c: c not in "\n\r"), max_size=60),
    st.sampled_from(PAYLOADS).map(lambda s: s.replace("\n", " ")),
    st.lists(st.sampled_from(PAYLOADS), min_size=1, max_size=3)
    .map(" ".join)
    .map(lambda s: s.replace("\n", " ")),
)
CI = settings(
    max_examples=200,
    # In CI the examples are the same every run, so a run passes or fails on the code alone;
    # elsewhere each run explores new ones.
    derandomize=bool(os.environ.get("CI")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _answers_in_prompt_order(typed: dict[str, str]) -> str:
    """What a user types: the given answers, Enter (the default) for every other prompt."""
    keys = [key for key in DEFAULTS if not key.startswith("_")]
    return "".join(f"{typed.get(key, '')}\n" for key in keys)


def _title_of(config_py: str) -> tuple[str, str]:
    """The Settings title's default, and the module's AST with it and the env prefix blanked."""
    tree = ast.parse(config_py)
    titles = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign) and ast.unparse(node.target) == "title"
    ]
    prefixes = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == "env_prefix"
    ]
    constants = [*titles, *prefixes]
    assert len(constants) == 2
    texts = []
    for constant in constants:
        assert isinstance(constant, ast.Constant)
        assert isinstance(constant.value, str)
        texts.append(constant.value)
        constant.value = ""
    return texts[0], ast.dump(tree)


def _check_project(project: Path, expected: dict[str, str], baseline: Path) -> None:
    """Everything that must hold of a rendered project, against a render of the defaults."""
    for path in project.rglob("*.py"):
        compile(path.read_text("utf-8"), str(path), "exec")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
    base_pyproject = tomllib.loads((baseline / "pyproject.toml").read_text("utf-8"))
    assert pyproject["project"]["description"] == expected["description"]
    assert pyproject["project"]["authors"][0]["name"] == expected["author_name"]
    assert pyproject.keys() == base_pyproject.keys()
    assert pyproject["project"].keys() == base_pyproject["project"].keys()
    package = project / "src" / pyproject["project"]["name"].replace("-", "_")
    title, shape = _title_of((package / "config.py").read_text("utf-8"))
    base_package = baseline / "src" / "my_service"
    _, base_shape = _title_of((base_package / "config.py").read_text("utf-8"))
    assert title == expected["project_name"]
    assert shape == base_shape
    readme = (project / "README.md").read_text("utf-8")
    assert readme.splitlines()[0] == f"# {expected['project_name']}"
    assert expected["description"] in readme.splitlines()
    assert expected["author_name"] in (project / "LICENSE").read_text("utf-8")
    for path in [*project.rglob("*.yml"), *project.rglob("*.yaml")]:
        yaml.safe_load(path.read_text("utf-8"))
    for command in (["check"], ["format", "--check"]):
        ruff = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--no-cache", "--quiet", str(project)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert ruff.returncode == 0, ruff.stdout


def _check_refused(output_dir: Path, err: str) -> None:
    """A refusal: each problem one sentence on stderr, and nothing left behind."""
    problems = [line for line in err.splitlines() if line.startswith("error: ")]
    assert problems, err
    assert all(line.endswith(".") for line in problems)
    assert list(output_dir.iterdir()) == []


@pytest.fixture(name="baseline", scope="module")
def fixture_baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project rendered with the default answers, to compare shapes against."""
    folder = tmp_path_factory.mktemp("baseline")
    config = write_cookiecutter_config(folder)
    return Path(
        cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(folder), config_file=str(config))
    )


def _render_or_refuse(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    baseline: Path,
    render: Any,
    expected: dict[str, str],
) -> None:
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    (tmp_path / "cc").mkdir()
    config = write_cookiecutter_config(tmp_path / "cc")
    capfd.readouterr()
    try:
        project = Path(render(output_dir, config))
    except FailedHookException:
        _check_refused(output_dir, capfd.readouterr().err)
    else:
        _check_project(project, expected, baseline)
    assert not list(Path.cwd().glob(CANARY))
    assert not list(tmp_path.rglob(CANARY))


@CI
@given(typed=st.fixed_dictionaries(dict.fromkeys(TEXT_FIELDS, TYPED)))
@example(typed=dict.fromkeys(TEXT_FIELDS, PAYLOADS[0]))
@example(typed=dict.fromkeys(TEXT_FIELDS, PAYLOADS[7]))
def test_typed_answers_are_refused_or_kept_exactly(
    tmp_path_factory: pytest.TempPathFactory,
    capfd: pytest.CaptureFixture[str],
    baseline: Path,
    typed: dict[str, str],
) -> None:
    """Answers typed at the prompts: refused cleanly, or rendered exactly as typed."""
    tmp_path = tmp_path_factory.mktemp("typed")
    # The prompts strip what is typed, and an empty answer takes the default.
    expected = {key: typed[key].strip() or DEFAULTS[key] for key in TEXT_FIELDS}

    def render(output_dir: Path, config: Path) -> str:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "stdin", io.StringIO(_answers_in_prompt_order(typed)))
            return str(
                cookiecutter(str(TEMPLATE), output_dir=str(output_dir), config_file=str(config))
            )

    _render_or_refuse(tmp_path, capfd, baseline, render, expected)


NO_INPUT_TEXT = st.text(ANY_CHAR, max_size=60).filter(
    # cookiecutter renders --no-input answers as templates and drops a final newline.
    lambda s: not any(mark in s for mark in ("{{", "{%", "{#")) and not s.endswith("\n")
)


@settings(CI, max_examples=100)
@given(answers=st.fixed_dictionaries(dict.fromkeys(TEXT_FIELDS, NO_INPUT_TEXT)))
@example(answers=dict.fromkeys(TEXT_FIELDS, "two\nlines"))
def test_no_input_answers_are_refused_or_kept_exactly(
    tmp_path_factory: pytest.TempPathFactory,
    capfd: pytest.CaptureFixture[str],
    baseline: Path,
    answers: dict[str, str],
) -> None:
    """Answers passed with --no-input, newlines and all: refused cleanly, or kept exactly."""
    tmp_path = tmp_path_factory.mktemp("no-input")

    def render(output_dir: Path, config: Path) -> str:
        return str(
            cookiecutter(
                str(TEMPLATE),
                no_input=True,
                extra_context=answers,
                output_dir=str(output_dir),
                config_file=str(config),
            )
        )

    _render_or_refuse(tmp_path, capfd, baseline, render, answers)
