"""The server limits, HEAD probes, allowed hosts and fault answers, under real uvicorn.

Each test starts the rendered service as a user would (`python -m my_service`, settings from
the environment) and talks to it over TCP on 127.0.0.1 (slow tier); the one about an exception
no handler expected serves the service's own app with one route added that raises. Nothing
here depends on how fast the machine is: every bound on time is either a lower bound the
server cannot beat or an upper bound many times what the server needs.
"""

import http.client
import json
import select
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from ..helpers import FaultUpstream, Service, free_port, python_in

pytestmark = pytest.mark.slow

PACKAGE = "my_service"
PREFIX = "MY_SERVICE_"
HOST = "api.example.com"
# Well over the 256 KiB an asyncio transport reads at once, so no head this size can reach
# the parser whole: the server must buffer it, and refuses once past the cap.
HUGE_HEAD_BYTES = 1_000_000
# The service's own app with one route that fails as no handler expects, served by uvicorn
# on the port given (argv[1]) with the HTTP implementation named (argv[2]): h11, as
# `python -m` serves, or httptools, which the `uvicorn` command picks when it is installed.
CRASHING_APP = f"""
import sys

import uvicorn

from {PACKAGE}.app import create_app
from {PACKAGE}.config import Settings

app = create_app(Settings())


@app.get("/crash")
async def crash() -> None:
    raise RuntimeError("a fault no handler expected")


# Logging as the app configured it, as `python -m` has it.
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http=sys.argv[2], log_config=None)
"""


def _serve(project: Path, **settings: str) -> tuple[Service, int]:
    """`python -m my_service` with these settings, once it answers /health."""
    port = free_port()
    env = {f"{PREFIX}{name.upper()}": value for name, value in settings.items()}
    service = Service(
        [str(python_in(project / ".venv")), "-m", PACKAGE],
        project,
        PYTHONDEVMODE="1",
        **{f"{PREFIX}PORT": str(port), **env},
    )
    service.wait_until_up(f"http://127.0.0.1:{port}/health")
    return service, port


def _request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection: status, headers (lowercase names) and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


def _get_on(connection: http.client.HTTPConnection, path: str) -> int:
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    return response.status


def _get_with(
    connection: http.client.HTTPConnection, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """GET `path` on an open connection: status, headers (lowercase names) and body."""
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def _started(service: Service, port: int) -> Service:
    """`service` once uvicorn says it listens on `port`; stopped if it never does."""
    try:
        service.wait_for(rf"Uvicorn running on http://127\.0\.0\.1:{port} ", timeout=120)
    except BaseException:
        service.stop()
        raise
    return service


def _client_addresses(service: Service, request_ids: list[str]) -> list[str]:
    """The client address on the access line of each request id, in order."""
    lines = [json.loads(line) for line in service.lines if line.strip()]
    access = {
        line["request_id"]: line["event"].split(" - ")[0]
        for line in lines
        if line["logger"] == "uvicorn.access"
    }
    return [access[request_id] for request_id in request_ids]


def _send_huge_head(port: int, head: bytes) -> bytes:
    """Send `head` in pieces, stopping as soon as the server answers; what it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            for start in range(0, len(head), 16_384):
                sock.sendall(head[start : start + 16_384])
                if select.select([sock], [], [], 0)[0]:
                    break
            answer = sock.recv(65_536)
        except ConnectionError:
            # The server refused and closed while data was still arriving: the reset can
            # overtake its answer. The log says what it did.
            answer = b""
    return answer


def _assert_stopped_cleanly(service: Service) -> None:
    code = service.stop(signal.SIGTERM)
    assert code == -signal.SIGTERM, service.output
    assert "Application shutdown complete" in service.output
    for bad in ("Traceback", "Unclosed", "ResourceWarning"):
        assert bad not in service.output, service.output


def test_probes_answer_head(project: Path) -> None:
    """HEAD /health and HEAD /ready: 200, the GET's headers, no body."""
    service, port = _serve(project)
    try:
        answers = {path: _request(port, "HEAD", path) for path in ("/health", "/ready")}
        get_ready = _request(port, "GET", "/ready")
    finally:
        _assert_stopped_cleanly(service)
    for status, headers, body in answers.values():
        assert (status, body) == (200, b"")
        assert headers["content-type"] == "application/json"
    assert answers["/ready"][1]["content-length"] == str(len(get_ready[2]))


def test_only_allowed_hosts_are_answered(project: Path) -> None:
    """With ALLOWED_HOSTS set, another Host gets a 400, and a redirect names only allowed hosts."""
    # 127.0.0.1 stays allowed for local probes (and for _serve's wait for /health).
    service, port = _serve(project, allowed_hosts=json.dumps([HOST, "127.0.0.1"]))
    try:
        allowed = _request(port, "GET", "/health", {"Host": HOST})
        redirect = _request(port, "GET", "/health/", {"Host": HOST})
        other = _request(port, "GET", "/health", {"Host": "evil.example.com"})
        other_redirect = _request(port, "GET", "/health/", {"Host": "evil.example.com"})
    finally:
        _assert_stopped_cleanly(service)
    assert allowed[0] == 200
    assert (redirect[0], redirect[1]["location"]) == (307, f"http://{HOST}/health")
    assert (other[0], other_redirect[0]) == (400, 400)
    assert "location" not in other_redirect[1]


def test_a_refused_host_is_json_and_the_connection_serves_on(project: Path) -> None:
    """A Host not allowed gets a JSON 400 carrying the request id, and the same keep-alive
    connection then serves an allowed Host."""
    port = free_port()
    service = _started(
        Service(
            [str(python_in(project / ".venv")), "-m", PACKAGE],
            project,
            PYTHONDEVMODE="1",
            **{f"{PREFIX}PORT": str(port), f"{PREFIX}ALLOWED_HOSTS": json.dumps([HOST])},
        ),
        port,
    )
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        refused = _get_with(
            connection, "/health", {"Host": "evil.example.com", "X-Request-ID": "refused-1"}
        )
        held = connection.sock
        allowed = _get_with(connection, "/health", {"Host": HOST, "X-Request-ID": "allowed-1"})
        kept = held is not None and connection.sock is held
    finally:
        connection.close()
        _assert_stopped_cleanly(service)
    assert refused[0] == 400
    assert json.loads(refused[2]) == {"detail": "Invalid host header"}
    assert refused[1]["content-type"] == "application/json"
    assert refused[1]["x-request-id"] == "refused-1"
    assert "close" not in refused[1].get("connection", "")
    assert (allowed[0], allowed[1]["x-request-id"]) == (200, "allowed-1")
    assert kept
    first, second = _client_addresses(service, ["refused-1", "allowed-1"])
    assert first == second


@pytest.mark.parametrize("shape", ["one huge header", "20,000 headers"])
def test_request_heads_past_the_cap_are_refused(project: Path, shape: str) -> None:
    """A request head far past MAX_HEADER_BYTES is refused (400) and the server keeps serving."""
    service, port = _serve(project, max_header_bytes="16384")
    if shape == "one huge header":
        headers = b"X-Big: " + b"a" * HUGE_HEAD_BYTES + b"\r\n"
    else:
        headers = b"".join(b"X-Header-%05d: %s\r\n" % (n, b"v" * 40) for n in range(20_000))
    assert len(headers) > HUGE_HEAD_BYTES
    try:
        answer = _send_huge_head(port, b"GET /health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        after = _request(port, "GET", "/health")
    finally:
        _assert_stopped_cleanly(service)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert service.output.count("Invalid HTTP request received.") == 1, service.output
    assert after[0] == 200


def test_connections_past_the_concurrency_limit_get_503(project: Path) -> None:
    """With MAX_CONCURRENCY=3 and connections held open, the third and later get a 503;
    once those held are closed, the service serves again."""
    service, port = _serve(project, max_concurrency="3", keep_alive_timeout="600")
    held = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(4)]
    try:
        statuses = [_get_on(connection, "/health") for connection in held]
        for connection in held:
            connection.close()
        deadline = time.monotonic() + 60
        while (again := _request(port, "GET", "/health"))[0] != 200:
            assert time.monotonic() < deadline, service.output
            time.sleep(0.1)
    finally:
        _assert_stopped_cleanly(service)
    # uvicorn counts the arriving connection too: it serves at most MAX_CONCURRENCY - 1 others.
    assert statuses == [200, 200, 503, 503]
    assert again[0] == 200
    assert "Exceeded concurrency limit." in service.output


def test_idle_keep_alive_connections_close_after_the_setting(project: Path) -> None:
    """KEEP_ALIVE_TIMEOUT=1 closes an idle connection; with 600, one idle for 8 s (past
    uvicorn's default of 5) still serves the next request."""
    short, short_port = _serve(project, keep_alive_timeout="1")
    lasting, lasting_port = _serve(project, keep_alive_timeout="600")
    closing = http.client.HTTPConnection("127.0.0.1", short_port, timeout=120)
    staying = http.client.HTTPConnection("127.0.0.1", lasting_port, timeout=60)
    try:
        first = _get_on(closing, "/health")
        assert closing.sock is not None
        # An idle keep-alive connection: the next read ends (b"") when the server closes it.
        closed = closing.sock.recv(1)
        statuses = [_get_on(staying, "/health")]
        time.sleep(8)
        statuses.append(_get_on(staying, "/health"))
    finally:
        closing.close()
        staying.close()
        _assert_stopped_cleanly(short)
        _assert_stopped_cleanly(lasting)
    assert (first, closed) == (200, b"")
    assert statuses == [200, 200]


def test_graceful_shutdown_stops_waiting_at_its_timeout(
    project: Path, upstream: FaultUpstream
) -> None:
    """SIGTERM with a request stuck on an upstream that never answers: after
    GRACEFUL_SHUTDOWN_TIMEOUT the request gets a JSON 503, the session closes, the process exits."""
    service, port = _serve(
        project,
        upstream_base_url=upstream.url,
        upstream_timeout="600",
        graceful_shutdown_timeout="1",
    )
    answers: list[tuple[int, dict[str, str], bytes]] = []
    # /items/7 hangs at the fault upstream; only the shutdown can end it.
    stuck = threading.Thread(target=lambda: answers.append(_request(port, "GET", "/items/7")))
    stuck.start()
    deadline = time.monotonic() + 60
    while upstream.stats()["open"] < 1:
        assert time.monotonic() < deadline, service.output
        time.sleep(0.05)
    signalled = time.monotonic()
    code = service.stop(signal.SIGTERM, timeout=120)
    stopped_after = time.monotonic() - signalled
    stuck.join(timeout=60)
    after = upstream.wait_for_no_connections()
    print(f"\ngraceful shutdown: exited {stopped_after:.2f} s after SIGTERM")  # noqa: T201
    assert code == -signal.SIGTERM, service.output
    assert stopped_after >= 1.0
    assert [(status, json.loads(body)) for status, _, body in answers] == [
        (503, {"detail": "the service stopped before the request was done"})
    ]
    assert "Cancel 1 running task(s), timeout graceful shutdown exceeded" in service.output
    assert "Application shutdown complete" in service.output
    assert "Traceback" not in service.output
    assert after["open"] == 0


def test_every_line_is_json_with_the_request_id(project: Path) -> None:
    """With stderr not a terminal, every line the service writes is one JSON object, uvicorn's
    included; a request's id is on its access line and on its upstream fault's warning."""
    service, port = _serve(project, upstream_base_url=f"http://127.0.0.1:{free_port()}/")
    try:
        status, headers, _ = _request(port, "GET", "/items/1", {"X-Request-ID": "e2e-1"})
    finally:
        _assert_stopped_cleanly(service)
    assert (status, headers["x-request-id"]) == (502, "e2e-1")
    lines = [json.loads(line) for line in service.lines if line.strip()]
    assert {"Application startup complete.", "Application shutdown complete."} <= {
        line["event"] for line in lines if line["logger"] == "uvicorn.error"
    }
    mine = [line for line in lines if line.get("request_id") == "e2e-1"]
    # A refused connection is tried three times: stamina announces each retry.
    assert [(line["logger"], line["level"]) for line in mine] == [
        ("stamina", "warning"),
        ("stamina", "warning"),
        (f"{PACKAGE}.upstream", "warning"),
        ("uvicorn.access", "info"),
    ]
    assert [line["event"] for line in mine[:2]] == ["stamina.retry_scheduled"] * 2
    assert (mine[2]["error"], mine[2]["attempts"]) == ("ClientConnectorError", 3)
    assert mine[3]["event"].endswith('"GET /items/1 HTTP/1.1" 502')


@pytest.mark.parametrize("implementation", ["h11", "httptools"])
def test_an_unexpected_exception_is_a_json_500_and_the_connection_serves_on(
    project: Path, implementation: str
) -> None:
    """A route that raises: a JSON 500 carrying the request id, the exception logged once at
    error level with its traceback, and the same keep-alive connection then serves the next
    request."""
    port = free_port()
    command = [str(python_in(project / ".venv")), "-c", CRASHING_APP, str(port), implementation]
    service = _started(Service(command, project, PYTHONDEVMODE="1"), port)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        crashed = _get_with(connection, "/crash", {"X-Request-ID": "crash-1"})
        held = connection.sock
        after = _get_with(connection, "/health", {"X-Request-ID": "after-1"})
        kept = held is not None and connection.sock is held
    finally:
        connection.close()
        code = service.stop(signal.SIGTERM)
    assert code == -signal.SIGTERM, service.output
    assert crashed[0] == 500
    assert json.loads(crashed[2]) == {"detail": "internal error"}
    assert crashed[1]["content-type"] == "application/json"
    assert crashed[1]["x-request-id"] == "crash-1"
    assert "close" not in crashed[1].get("connection", "")
    assert (after[0], after[1]["x-request-id"], after[2]) == (200, "after-1", b'{"status":"ok"}')
    assert kept
    first, second = _client_addresses(service, ["crash-1", "after-1"])
    assert first == second
    lines = [json.loads(line) for line in service.lines if line.strip()]
    errors = [line for line in lines if line["level"] in {"error", "critical"}]
    assert [(line["event"], line["request_id"]) for line in errors] == [
        ("unhandled error", "crash-1")
    ]
    assert "RuntimeError: a fault no handler expected" in errors[0]["exception"]
    assert service.output.count("Traceback") == 1, service.output
    assert "Application shutdown complete" in service.output
