"""Logs: every request has an id, sent on upstream; every upstream fault is one log line."""

import io
import json
import logging
import re
import subprocess
import sys
from typing import NamedTuple

import httpx
import pytest
import structlog
from fastapi import FastAPI

from {{ cookiecutter.package_name }}.dependencies import UpstreamDep
from {{ cookiecutter.package_name }}.logs import configure_logging
from {{ cookiecutter.package_name }}.upstream import UpstreamClient

from .support import AppFactory, LogLines, Serve, refused_url
from .upstream import Upstream

TOKEN = "token-that-must-never-be-logged"  # noqa: S105 - a test value
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


def _calling_upstream(app: FastAPI) -> FastAPI:
    """`GET /probe/<path>` asks the upstream for <path> through the app's session."""

    @app.get("/probe/{path:path}")
    async def probe(path: str, upstream: UpstreamDep) -> object:
        structlog.get_logger("tests.probe").info("asking the upstream", path=path)
        logging.getLogger("tests.probe").info("a line from the standard library")
        return await upstream.get_json(path)

    return app


async def test_every_request_gets_a_new_id(client: httpx.AsyncClient) -> None:
    """Without an id of its own, a request gets a new one, returned in the answer."""
    first, second = [await client.get("/health") for _ in range(2)]
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(GENERATED_ID.fullmatch(request_id) for request_id in ids), ids
    assert ids[0] != ids[1]


@pytest.mark.parametrize("request_id", ["abc-123", "2f1e.7:x_Y", "a" * 128])
async def test_a_well_formed_id_is_kept(client: httpx.AsyncClient, request_id: str) -> None:
    response = await client.get("/health", headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize("request_id", ["", "a" * 129, "with space", 'quo"te', "semi;colon"])
async def test_a_malformed_id_is_replaced(client: httpx.AsyncClient, request_id: str) -> None:
    """An id that could break a log line or a header is not taken: a new one is made."""
    response = await client.get("/health", headers={"X-Request-ID": request_id})
    assert GENERATED_ID.fullmatch(response.headers["x-request-id"])


async def test_the_request_id_reaches_the_upstream(
    app: FastAPI, serve: Serve, upstream: Upstream
) -> None:
    """A call made while serving a request carries that request's id; one made outside any
    request carries none."""
    async with serve(_calling_upstream(app)) as client:
        response = await client.get("/probe/headers", headers={"X-Request-ID": "trace-me-1"})
        before = len(upstream.received)
        await client.resources.get(UpstreamClient).get_json("headers")
    assert response.status_code == 200
    assert [request.path for request in upstream.with_header("X-Request-ID", "trace-me-1")] == [
        "/headers"
    ]
    assert "x-request-id" not in upstream.received[before].headers


async def test_lines_written_while_serving_carry_the_request_id(
    app: FastAPI, serve: Serve, log_lines: LogLines
) -> None:
    """structlog's lines and the standard library's alike."""
    async with serve(_calling_upstream(app)) as client:
        response = await client.get("/probe/items/1")
    logging.getLogger("tests.probe").info("outside any request")
    request_id = response.headers["x-request-id"]
    lines = {line["event"]: line for line in log_lines() if line["logger"] == "tests.probe"}
    assert lines["asking the upstream"]["request_id"] == request_id
    assert lines["asking the upstream"]["path"] == "items/1"
    assert lines["a line from the standard library"]["request_id"] == request_id
    assert "request_id" not in lines["outside any request"]


class Logged(NamedTuple):
    """An upstream fault and the fields of the line it must log."""

    path: str
    upstream_status: int | None
    error: str | None
    status_code: int


@pytest.mark.parametrize(
    "expected",
    [
        Logged("faults/status-500/items/1", 500, None, 502),
        Logged("faults/not-json/items/1", 200, "JSONDecodeError", 502),
        Logged("faults/cut-short/items/1", 200, "ClientPayloadError", 502),
        Logged("faults/slow/items/1", None, "TimeoutError", 504),
    ],
    ids=lambda expected: expected.path.split("/")[1],
)
async def test_an_upstream_fault_is_one_warning(
    make_app: AppFactory, serve: Serve, log_lines: LogLines, expected: Logged
) -> None:
    """One warning with the request id, the path, what came back and the time taken; no
    token, no body."""
    # A short timeout only for the fault that must time out (see test_items.py).
    # One attempt: the timed-out fault would otherwise be tried again (test_retries.py).
    timeout = (
        {"upstream_timeout": 0.5, "upstream_retry_attempts": 1}
        if expected.status_code == 504
        else {}
    )
    app = _calling_upstream(make_app(upstream_token=TOKEN, **timeout))
    async with serve(app) as client:
        response = await client.get(f"/probe/{expected.path}")
    assert response.status_code == expected.status_code
    faults = [line for line in log_lines() if line["logger"].endswith(".upstream")]
    assert len(faults) == 1, faults
    fault = faults[0]
    assert (fault["level"], fault["event"]) == ("warning", "upstream call failed")
    assert fault["request_id"] == response.headers["x-request-id"]
    assert (fault["upstream_path"], fault["upstream_status"]) == (
        expected.path,
        expected.upstream_status,
    )
    assert (fault["error"], fault["status_code"]) == (expected.error, expected.status_code)
    assert fault["detail"] == response.json()["detail"]
    assert fault["elapsed_ms"] >= 0
    written = json.dumps(log_lines())
    assert TOKEN not in written
    assert "upstream failed" not in written  # the body the upstream sent with its 500


async def test_an_unreachable_upstream_is_one_warning(
    make_app: AppFactory, serve: Serve, log_lines: LogLines
) -> None:
    async with serve(_calling_upstream(make_app(upstream_base_url=refused_url()))) as client:
        response = await client.get("/probe/items/1")
    faults = [line for line in log_lines() if line["logger"].endswith(".upstream")]
    assert [(f["level"], f["error"], f["upstream_status"]) for f in faults] == [
        ("warning", "ClientConnectorError", None)
    ]
    assert faults[0]["request_id"] == response.headers["x-request-id"]


async def test_not_found_upstream_is_an_info_line(
    app: FastAPI, serve: Serve, log_lines: LogLines
) -> None:
    """A 404 is an answer, not a fault of the upstream's: logged, but not as a warning."""
    async with serve(_calling_upstream(app)) as client:
        response = await client.get("/probe/items/2")
    assert response.status_code == 404
    faults = [line for line in log_lines() if line["logger"].endswith(".upstream")]
    assert [(f["level"], f["upstream_status"]) for f in faults] == [("info", 404)]


@pytest.mark.parametrize(("terminal", "as_json"), [(False, True), (True, False)])
def test_auto_format_is_json_unless_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, terminal: bool, as_json: bool
) -> None:
    """LOG_FORMAT=auto writes JSON lines for a pipe or a file, text for a person."""

    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return terminal

    stream = Stream()
    try:
        with monkeypatch.context() as patch:
            patch.setattr(sys, "stderr", stream)
            configure_logging("INFO", "auto")
            structlog.get_logger("tests.format").warning("hello", answer=42)
    finally:
        configure_logging()  # back to the real stderr
    line = stream.getvalue().strip()
    if as_json:
        assert json.loads(line)["answer"] == 42
    else:
        assert "\x1b[" in line  # colored, for a terminal
        plain = re.sub(r"\x1b\[[0-9;]*m", "", line)
        assert re.search(r"\[warning *\] hello +\[tests.format\] answer=42$", plain), plain


def test_the_level_drops_quieter_lines(log_lines: LogLines) -> None:
    try:
        configure_logging("WARNING", "json")
        structlog.get_logger("tests.level").info("dropped")
        logging.getLogger("tests.level").info("dropped too")
        structlog.get_logger("tests.level").warning("kept")
    finally:
        configure_logging()
    assert [line["event"] for line in log_lines() if line["logger"] == "tests.level"] == ["kept"]


# Logging is set up by an app being built (`client` builds one), whichever test runs first.
@pytest.mark.usefixtures("client")
def test_a_logged_exception_carries_its_traceback(log_lines: LogLines) -> None:
    """structlog's `exception` and the standard library's alike: one line, the traceback in
    its `exception` field."""
    try:
        raise RuntimeError("boom")  # noqa: TRY301 - the exception to log
    except RuntimeError:
        structlog.get_logger("tests.crash").exception("structlog saw it")
        logging.getLogger("tests.crash").exception("logging saw it")
    lines = [line for line in log_lines() if line["logger"] == "tests.crash"]
    assert [line["event"] for line in lines] == ["structlog saw it", "logging saw it"]
    for line in lines:
        assert line["level"] == "error"
        assert "RuntimeError: boom" in line["exception"]
        assert "Traceback (most recent call last)" in line["exception"]


def test_a_warning_is_a_line_like_any_other() -> None:
    """A warning (a library's deprecation, say) is written through the same handler, as
    JSON, not raw on stderr. In a process of its own: pytest records warnings itself."""
    script = (
        "import warnings\n"
        "from {{ cookiecutter.package_name }}.logs import configure_logging\n"
        "configure_logging('INFO', 'json')\n"
        "warnings.warn('an old way of doing it', DeprecationWarning, stacklevel=1)\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-W", "always", "-c", script],
        capture_output=True,
        text=True,
        check=True,
    )
    (line,) = [json.loads(line) for line in result.stderr.splitlines()]
    assert (line["logger"], line["level"]) == ("py.warnings", "warning")
    assert "DeprecationWarning: an old way of doing it" in line["event"]


@pytest.mark.usefixtures("client")
def test_a_token_in_the_url_is_hidden_in_the_access_line(log_lines: LogLines) -> None:
    """A client that puts a bearer token in the URL (`?access_token=`, RFC 6750) does not
    get it written to the log by uvicorn's access line: its value is replaced."""
    access = logging.getLogger("uvicorn.access")
    path = "/items/1?page=2&access_token=eyJ.secret.sig&x=1"
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 401)
    (line,) = [line for line in log_lines() if line["logger"] == "uvicorn.access"]
    assert "eyJ.secret.sig" not in json.dumps(line)
    assert "/items/1?page=2&access_token=[hidden]&x=1" in line["event"]
