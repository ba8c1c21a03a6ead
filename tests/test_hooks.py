"""The hooks' functions, imported and called directly."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .helpers import DEFAULTS, TEMPLATE


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, TEMPLATE / "hooks" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = _load("pre_gen_project")
post_gen = _load("post_gen_project")

GOOD: dict[str, Any] = {
    **DEFAULTS,
    "project_slug": "my-service",
    "package_name": "my_service",
    "python_version": "3.11",
    "license": "MIT",
    "ci": "github",
    "database": "none",
    "auth": "none",
}


def test_good_answers_have_no_problems(tmp_path: Path) -> None:
    """The defaults, as cookiecutter renders them, pass every check."""
    assert pre_gen.problems(GOOD) == []
    assert pre_gen.main(GOOD, tmp_path) == 0


def test_a_folder_with_files_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rendering into a folder that already holds files stops, saying why and what to do."""
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    assert pre_gen.main(GOOD, tmp_path) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "already holds files" in err
    assert "cruft update" in err


def test_check_slug_rejects_long_slugs() -> None:
    """Slugs longer than 40 characters are refused, with the length."""
    assert pre_gen.check_slug("a" * 40) is None
    assert (
        pre_gen.check_slug("a" * 41) == "project_slug must be at most 40 characters long, got 41."
    )


@pytest.mark.parametrize("slug", ["my-service", "svc", "a1-b2", "my_service"])
def test_check_slug_accepts(slug: str) -> None:
    """Lowercase names joined by single hyphens or underscores are valid slugs."""
    assert pre_gen.check_slug(slug) is None


@pytest.mark.parametrize("slug", ["", "1service", "My-Service", "my--service", "my-", "a b", "ü"])
def test_check_slug_rejects(slug: str) -> None:
    """Anything else is refused with a sentence naming the slug."""
    assert pre_gen.check_slug(slug) == (
        f"project_slug {slug!r} must start with a letter and hold only lowercase letters, "
        "digits and single hyphens or underscores between them."
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("class", "is a Python keyword"),
        ("match", "is a Python keyword"),
        ("json", "would shadow the standard library module"),
        ("asyncio", "would shadow the standard library module"),
        ("fastapi", "would shadow the 'fastapi' package"),
        ("pytest", "would shadow the 'pytest' package"),
        ("tests", "would shadow the 'tests' package"),
        ("xx", "would shadow the standard library module"),
        ("annotationlib", "would shadow the standard library module"),
        ("_private", "must be a lowercase Python identifier"),
        ("2fast", "must be a lowercase Python identifier"),
        ("My_Pkg", "must be a lowercase Python identifier"),
        ("my-pkg", "must be a lowercase Python identifier"),
        ("a" * 41, "must be at most 40 characters long, got 41."),
    ],
)
def test_check_package_rejects_with_the_reason(name: str, reason: str) -> None:
    """A package name that could not be imported, or would hide a module, is refused."""
    message = pre_gen.check_package(name)
    assert message is not None
    assert reason in message


@pytest.mark.parametrize("email", ["a@b.co", "first.last+tag@mail.example.org"])
def test_check_email_accepts(email: str) -> None:
    """Ordinary addresses pass."""
    assert pre_gen.check_email(email) is None


@pytest.mark.parametrize(
    "email", ["", "you", "you@", "@example.com", 'a"b@c.de', "a@b", "a b@c.de"]
)
def test_check_email_rejects(email: str) -> None:
    """Addresses that are not name@domain.tld are refused."""
    assert pre_gen.check_email(email) == f"author_email {email!r} must look like name@example.com."


@pytest.mark.parametrize("version", ["0.1.0", "1", "2.0.0rc1", "1.0a2", "1.0.post1", "1.0.dev3"])
def test_check_version_accepts(version: str) -> None:
    """Public PEP 440 versions pass."""
    assert pre_gen.check_version(version) is None


@pytest.mark.parametrize("version", ["", "v1.0", "1.0.0-beta", "01.0", "1.0+local", "latest"])
def test_check_version_rejects(version: str) -> None:
    """Anything else is refused."""
    assert pre_gen.check_version(version) is not None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("two\nlines", "single line"),
        ("tab\there", "single line"),
        ("x" * 201, "at most 200 characters"),
        ("abc\u202edcba", "reverse the direction of text"),
        ("\u2066name\u2069", "reverse the direction of text"),
    ],
)
def test_check_text_rejects(value: str, problem: str) -> None:
    """Free text must be one non-empty line of at most 200 characters."""
    message = pre_gen.check_text("description", value)
    assert message is not None
    assert problem in message


@pytest.mark.parametrize("value", ["Ünïcödé 名前 🚀", 'it\'s "quoted" \\ {{ x }} {% y %} $HOME'])
def test_check_text_accepts_any_printable_line(value: str) -> None:
    """Quotes, backslashes, braces and non-ASCII are fine: they are escaped where they land."""
    assert pre_gen.check_text("project_name", value) is None


def test_problems_lists_each_bad_answer_once() -> None:
    """Each bad answer gives exactly one sentence."""
    answers = {**GOOD, "version": "latest", "license": "GPL", "set_up_now": "yes"}
    found = pre_gen.problems(answers)
    assert len(found) == 3
    assert all(message.endswith(".") for message in found)


def test_prune_removes_the_example_only_when_off(tmp_path: Path) -> None:
    """The example route's files go when the option is off, and stay when it is on."""
    paths = [
        tmp_path / "src/pkg/items.py",
        tmp_path / "src/pkg/routes/items.py",
        tmp_path / "tests/test_items.py",
    ]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")
    context = {**GOOD, **dict.fromkeys(post_gen.PRUNED_WHEN_OFF, True), "package_name": "pkg"}
    assert post_gen.prune(tmp_path, {**context, "include_example_route": True}) == []
    assert all(path.exists() for path in paths)
    removed = post_gen.prune(tmp_path, {**context, "include_example_route": False})
    assert removed == paths
    assert not any(path.exists() for path in paths)


def test_choose_license_keeps_only_the_chosen_text(tmp_path: Path) -> None:
    """LICENSE holds the chosen text and the other texts are gone."""
    (tmp_path / "licenses").mkdir()
    for name in ("MIT", "Apache-2.0"):
        (tmp_path / "licenses" / name).write_text(f"{name} text", encoding="utf-8")
    post_gen.choose_license(tmp_path, "Apache-2.0")
    assert (tmp_path / "LICENSE").read_text("utf-8") == "Apache-2.0 text"
    assert not (tmp_path / "licenses").exists()


def test_set_up_steps_use_uv_when_present(tmp_path: Path) -> None:
    """With uv: sync, then the tests; without: venv, pip and the tests."""
    assert post_gen.set_up_steps(tmp_path, "/bin/uv") == [
        ["/bin/uv", "sync"],
        ["/bin/uv", "run", "pytest", "-q"],
    ]
    steps = post_gen.set_up_steps(tmp_path, None)
    assert steps[0] == [sys.executable, "-m", "venv", ".venv"]
    assert steps[2][-4:] == ["-e", ".", "--group", "dev"]
    assert steps[-1][-3:] == ["-m", "pytest", "-q"]


def test_set_up_reports_the_failing_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing step stops the set-up and says which command failed and where to rerun it."""
    ran = tmp_path / "ran"
    steps = [
        [sys.executable, "-c", "raise SystemExit(3)"],
        [sys.executable, "-c", f"open({str(ran)!r}, 'w')"],
    ]
    assert post_gen.set_up(tmp_path, steps) is False
    assert not ran.exists()
    err = capsys.readouterr().err
    assert "exited with 3" in err
    assert f"The project is kept in {tmp_path}" in err


def test_set_up_runs_every_step(tmp_path: Path) -> None:
    """Steps that succeed all run, in order."""
    log = tmp_path / "log"
    steps = [[sys.executable, "-c", f"open({str(log)!r}, 'a').write('{n}')"] for n in "123"]
    assert post_gen.set_up(tmp_path, steps) is True
    assert log.read_text("utf-8") == "123"


def test_next_steps_name_both_install_flows() -> None:
    """The closing message shows the uv and the pip way in, and how to run the service."""
    text = post_gen.next_steps(GOOD, set_up_done=False)
    assert "cd my-service" in text
    assert "uv sync" in text
    assert "pip install -e . --group dev" in text
    assert "python -m my_service" in text
    assert "uv sync" not in post_gen.next_steps(GOOD, set_up_done=True)


def test_hooks_are_importable_without_running() -> None:
    """Importing a hook runs nothing: the context is parsed only under __main__."""
    hook = str(TEMPLATE / "hooks" / "post_gen_project.py")
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('h', {hook!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(module.CONTEXT_JSON)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "{{ cookiecutter | tojson }}"


def test_every_pruned_option_is_a_yes_no_prompt() -> None:
    """PRUNED_WHEN_OFF names only boolean options, and CI_FILES exactly the ci choices."""
    for option in post_gen.PRUNED_WHEN_OFF:
        assert isinstance(DEFAULTS[option], bool), option
    assert list(post_gen.CI_FILES) == DEFAULTS["ci"]
    assert tuple(DEFAULTS["ci"]) == pre_gen.CI_SERVICES


@pytest.mark.parametrize("option", ["docker", "pre_commit", "tracing", "metrics"])
def test_prune_removes_an_option_files_only_when_off(tmp_path: Path, option: str) -> None:
    """Each of these options takes its files away when off, and nothing else."""
    paths = [
        tmp_path / name.format(package=GOOD["package_name"])
        for name in post_gen.PRUNED_WHEN_OFF[option]
    ]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")
    every_option_on = {**GOOD, **dict.fromkeys(post_gen.PRUNED_WHEN_OFF, True)}
    assert post_gen.prune(tmp_path, every_option_on) == []
    assert post_gen.prune(tmp_path, {**every_option_on, option: False}) == paths
    assert not any(path.exists() for path in paths)


def test_prune_removes_the_folders_it_leaves_empty_and_no_other(tmp_path: Path) -> None:
    """A folder whose last file an option took away goes too; one that still holds a file
    stays, and so does the project folder itself."""
    for name in ("src/pkg/tracing.py", "tests/test_tracing.py", "tests/test_health.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("", encoding="utf-8")
    every_option_on = {
        **GOOD,
        **dict.fromkeys(post_gen.PRUNED_WHEN_OFF, True),
        "package_name": "pkg",
    }
    post_gen.prune(tmp_path, {**every_option_on, "tracing": False})
    assert not (tmp_path / "src").exists()
    assert [path.name for path in (tmp_path / "tests").iterdir()] == ["test_health.py"]
    assert tmp_path.is_dir()


@pytest.mark.parametrize(
    ("other", "deploy_kept"), [(None, False), ("deploy/helm/Chart.yaml", True)]
)
def test_prune_removes_the_kubernetes_folder_when_off(
    tmp_path: Path, other: str | None, deploy_kept: bool
) -> None:
    """kubernetes off takes deploy/kubernetes away, migrations and all, and deploy/ with it
    unless something else is in there; on, it stays."""
    names = ["deploy/kubernetes/deployment.yaml", "deploy/kubernetes/migrate/job.yaml"]
    for name in [*names, *([other] if other else [])]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("", encoding="utf-8")
    every_option_on = {**GOOD, **dict.fromkeys(post_gen.PRUNED_WHEN_OFF, True)}
    assert post_gen.prune(tmp_path, every_option_on) == []
    assert all((tmp_path / name).is_file() for name in names)
    removed = post_gen.prune(tmp_path, {**every_option_on, "kubernetes": False})
    assert removed == [tmp_path / "deploy" / "kubernetes"]
    assert not removed[0].exists()
    assert (tmp_path / "deploy").exists() is deploy_kept


def _every_kept_only_when_path(root: Path) -> list[Path]:
    """Create every file KEPT_ONLY_WHEN names (folders as a folder with a file in it)."""
    paths = []
    for _, patterns in post_gen.KEPT_ONLY_WHEN:
        for pattern in patterns:
            path = root / pattern.format(package="pkg")
            if path.suffix:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("", encoding="utf-8")
            else:
                path.mkdir(parents=True, exist_ok=True)
                (path / "inside.py").write_text("", encoding="utf-8")
            paths.append(path)
    return paths


@pytest.mark.parametrize(
    ("answers", "kept"),
    [
        ({"database": "none", "include_example_route": True, "docker": True}, set()),
        ({"database": "none", "tracing": True}, set()),
        ({"database": "postgres", "include_example_route": False, "docker": False}, {0}),
        ({"database": "postgres", "include_example_route": True, "docker": False}, {0, 1}),
        ({"database": "postgres", "include_example_route": False, "docker": True}, {0, 2}),
        ({"database": "postgres", "include_example_route": True, "docker": True}, {0, 1, 2}),
        (
            {
                "database": "postgres",
                "include_example_route": False,
                "docker": False,
                "tracing": True,
            },
            {0, 3},
        ),
        ({"database": "none", "jobs": True, "docker": True, "include_example_route": False}, {2}),
        ({"database": "none", "jobs": True, "docker": False, "include_example_route": True}, {4}),
        (
            {"database": "postgres", "jobs": True, "docker": False, "include_example_route": True},
            {0, 1, 4, 5},
        ),
        ({"database": "none", "auth": "jwt", "docker": True}, {9}),
    ],
)
def test_keep_only_when_keeps_a_rule_only_when_all_its_answers_hold(
    tmp_path: Path, answers: dict[str, Any], kept: set[int]
) -> None:
    """Each KEPT_ONLY_WHEN rule's files stay exactly when every answer it lists holds (or,
    for compose.yaml, every answer of one of its lists: a database or jobs, with docker)."""
    _every_kept_only_when_path(tmp_path)
    post_gen.keep_only_when(tmp_path, {**GOOD, "package_name": "pkg", **answers})
    for number, (_, patterns) in enumerate(post_gen.KEPT_ONLY_WHEN):
        for pattern in patterns:
            path = tmp_path / pattern.format(package="pkg")
            assert path.exists() is (number in kept), (number, pattern)


def test_kept_only_when_names_real_answers() -> None:
    """Every condition in KEPT_ONLY_WHEN is an answer the prompts offer."""
    for conditions, _ in post_gen.KEPT_ONLY_WHEN:
        for answers in post_gen.alternatives(conditions):
            for option, value in answers.items():
                offered = DEFAULTS[option]
                assert value in offered if isinstance(offered, list) else isinstance(value, bool)
    assert tuple(DEFAULTS["database"]) == pre_gen.DATABASES
    assert tuple(DEFAULTS["auth"]) == pre_gen.AUTHS


@pytest.mark.parametrize("service", ["github", "gitlab", "none"])
def test_choose_ci_keeps_only_the_chosen_service(tmp_path: Path, service: str) -> None:
    """The chosen service's files stay; the others go, and an empty .github goes too."""
    every = [tmp_path / name for names in post_gen.CI_FILES.values() for name in names]
    for path in every:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("", encoding="utf-8")
    kept = {tmp_path / name for name in post_gen.CI_FILES[service]}
    removed = post_gen.choose_ci(tmp_path, service)
    assert set(removed) == set(every) - kept
    assert {path for path in every if path.exists()} == kept
    assert (tmp_path / ".github").exists() is (service == "github")


def test_git_init_steps_commit_as_the_author() -> None:
    """The commit names the author from the answers, so no global git config is needed."""
    steps = post_gen.git_init_steps("/usr/bin/git", {**GOOD, "author_name": "Ada L"})
    assert steps[0] == ["/usr/bin/git", "init", "--quiet"]
    assert steps[1] == ["/usr/bin/git", "add", "--all"]
    commit = steps[2]
    assert commit[1:5] == ["-c", "user.name=Ada L", "-c", "user.email=you@example.com"]
    assert "commit" in commit


def test_git_init_without_git_reports_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No git on PATH: a sentence on stderr, False, and no repository."""
    assert post_gen.git_init(tmp_path, None, GOOD) is False
    assert "git was not found on PATH" in capsys.readouterr().err
    assert not (tmp_path / ".git").exists()


def test_git_init_reports_a_failing_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A git that fails stops the steps with its message, and the hook still returns."""
    fake_git = sys.executable  # `python init --quiet` fails: there is no file named init
    assert post_gen.git_init(tmp_path, fake_git, GOOD) is False
    assert "git_init stopped" in capsys.readouterr().err


def test_git_init_commits_everything_once(tmp_path: Path) -> None:
    """With the real git, the folder becomes a repository with one commit of its files."""
    git = shutil.which("git")
    assert git is not None
    (tmp_path / "a.txt").write_text("a", encoding="utf-8")
    assert post_gen.git_init(tmp_path, git, GOOD) is True
    log = subprocess.run(
        [git, "log", "--format=%an|%s", "--name-only"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert log.stdout.split() == ["Your", "Name|Initial", "commit", "a.txt"]
