"""The auth option over TCP: real uvicorn (`python -m my_service`) and a real issuer process.

One `auth=jwt` render serves the module, with three processes on 127.0.0.1 for its tests:
the issuer (tests/auth_issuer.py, run by the render's interpreter), an upstream that serves
`GET /items/<n>` (tests/job_upstream.py) and the service, pointed at both. The issuer mints
the tokens, counts the fetches of its key set and rotates its keys when the test asks.

Nothing here depends on how fast the machine is: the load runs until enough requests have
been made, however long that takes, and the only waits are lower bounds.
"""

import base64
import hashlib
import hmac
import http.client
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from ..helpers import Service, free_port, python_in
from ..options.common import installed_with_randomly, run_suite

pytestmark = pytest.mark.slow

PACKAGE = "my_service"
PREFIX = "MY_SERVICE_"
AUDIENCE = "my-service-e2e"
ITEM = {"id": 1, "name": "item 1"}
# The service's defaults, which these tests check: tokens up to 8192 bytes, 30 s of leeway,
# a request head of 16 KiB at most.
MAX_TOKEN_BYTES = 8192
LEEWAY = 30
MAX_HEADER_BYTES = 16_384
# The issuer's keys at start (tests/auth_issuer.py names them in the order it makes them).
RSA_KID = "rsa-1"
EC_KID = "ec-2"
# Fetches of the issuer's keys are at least this far apart (the default is 10 s).
KEYS_MIN_INTERVAL = 0.5
# The rotation under load: client threads, and the requests made with each key before the
# next step (more if the machine is fast; never fewer).
CONCURRENCY = 20
REQUESTS_PER_STEP = 200
# Each step lasts at least this long, so that the load is there when the keys change.
STEP_SECONDS = 1.5
# How long the load may take at most: far more than it takes on a busy machine.
LOAD_DEADLINE_SECONDS = 120.0


class Answer(NamedTuple):
    """A response of the service: status, headers and JSON body."""

    status: int
    headers: dict[str, str]
    body: Any


def _call(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, body: Any = None
) -> Answer:
    """One request on a new connection to 127.0.0.1."""
    sent = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        raw = response.read()
        received = {name.lower(): value for name, value in response.getheaders()}
        is_json = received.get("content-type", "").startswith("application/json")
        return Answer(response.status, received, json.loads(raw) if is_json else raw)
    finally:
        connection.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Issuer(NamedTuple):
    """tests/auth_issuer.py, running at `url`; its keys at first are RSA_KID and EC_KID."""

    url: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def _ask(self, method: str, path: str, body: Any = None) -> Any:
        answer = _call(self.port, method, path, body=body)
        assert answer.status == 200, answer
        return answer.body

    def tokens(
        self,
        kid: str = RSA_KID,
        count: int = 1,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> list[str]:
        """`count` tokens of the key `kid`, valid for an hour, with these claims and header
        fields added or replaced (None removes one)."""
        asked = {"kid": kid, "count": count, "claims": claims, "headers": headers or {}}
        tokens: list[str] = self._ask("POST", "/control/tokens", asked)["tokens"]
        return tokens

    def token(
        self, kid: str = RSA_KID, headers: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        """One token, as `tokens` makes them."""
        return self.tokens(kid, 1, headers, **claims)[0]

    def rotate(self) -> str:
        """Publish a new RSA key first, the old ones kept; its kid."""
        kid: str = self._ask("POST", "/control/rotate", {"algorithm": "RS256"})["kid"]
        return kid

    def public_pem(self, kid: str) -> bytes:
        """The public half of the key `kid`, PEM."""
        pem: bytes = self._ask("GET", f"/control/keys/{kid}.pem")
        return pem

    def jwks_fetches(self) -> int:
        """How many times the key set was fetched so far."""
        fetches: int = self._ask("GET", "/control/stats")["jwks_fetches"]
        return fetches


@pytest.fixture(name="auth_project", scope="module")
def fixture_auth_project(
    tmp_path_factory: pytest.TempPathFactory, cookiecutter_config: Path
) -> Path:
    """A project rendered with auth=jwt (every other answer its default), installed with uv,
    and pytest-randomly beside it."""
    return installed_with_randomly(tmp_path_factory.mktemp("auth"), cookiecutter_config, auth="jwt")


def test_its_own_suite_passes_in_random_order_with_two_workers(auth_project: Path) -> None:
    """The render's suite (its refusal list against the local issuer included), shuffled and
    split over two pytest-xdist workers, under -W error in dev mode."""
    code, output, counts = run_suite(auth_project, "-p", "randomly", "-n", "2")
    assert code == 0, output
    assert counts.keys() == {"passed"}, counts
    assert counts["passed"] >= 200
    assert "--randomly-seed=" in output


def _stopped_cleanly(process: Service, code: int) -> None:
    assert process.stop(signal.SIGTERM) == code, process.output
    assert "Traceback" not in process.output, process.output


@pytest.fixture(name="issuer", scope="module")
def fixture_issuer(auth_project: Path) -> Iterator[Issuer]:
    """The issuer process, run by the render's interpreter, for the module."""
    script = Path(__file__).parent.parent / "auth_issuer.py"
    python = str(python_in(auth_project / ".venv"))
    process = Service([python, str(script), AUDIENCE], auth_project)
    try:
        yield Issuer(process.wait_for(r"^ISSUER (http://127\.0\.0\.1:\d+)$", timeout=60).group(1))
    finally:
        _stopped_cleanly(process, 0)


@pytest.fixture(name="upstream_url", scope="module")
def fixture_upstream_url() -> Iterator[str]:
    """The base URL of an upstream process that serves `GET /items/<n>` (job_upstream.py)."""
    script = Path(__file__).parent.parent / "job_upstream.py"
    process = Service([sys.executable, str(script)], script.parent)
    try:
        port = process.wait_for(r"^PORT (\d+)$", timeout=60).group(1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        _stopped_cleanly(process, 0)


@pytest.fixture(name="port", scope="module")
def fixture_port(auth_project: Path, issuer: Issuer, upstream_url: str) -> Iterator[int]:
    """The port of `python -m my_service`, its keys fetched from the issuer, for the module.
    No token sent in an Authorization header reaches its log."""
    port = free_port()
    settings = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "AUTH_ISSUER": issuer.url,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_KEYS_MIN_INTERVAL": str(KEYS_MIN_INTERVAL),
        "UPSTREAM_BASE_URL": upstream_url,
        "LOG_FORMAT": "json",
    }
    python = str(python_in(auth_project / ".venv"))
    service = Service(
        [python, "-m", PACKAGE],
        auth_project,
        **{f"{PREFIX}{name}": value for name, value in settings.items()},
    )
    service.wait_until_up(f"http://127.0.0.1:{port}/health")
    try:
        yield port
    finally:
        # uvicorn ends by raising the SIGTERM it caught again, as an init system expects.
        _stopped_cleanly(service, -signal.SIGTERM)
    # The access log keeps each URL: test_a_token_in_the_query_string_is_not_read's token too.
    leaked = [line for line in service.lines if "eyJ" in line and "access_token=" not in line]
    assert not leaked, f"a token reached the service's log: {leaked}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signed_by_hand(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A JWT made without a JWT library: HMAC-SHA256 under `secret`, or unsigned."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if secret is None:
        return f"{signing_input}."
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(digest)}"


def _valid_claims(issuer: Issuer) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer.url, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 600}


def _alg_none(issuer: Issuer) -> str:
    return _signed_by_hand({"alg": "none", "kid": RSA_KID}, _valid_claims(issuer), None)


def _hs256_keyed_with_the_public_key(issuer: Issuer) -> str:
    """The algorithm confusion attack: HMAC under the RSA key's public PEM, as a verifier that
    let the token choose its algorithm would check it."""
    header = {"alg": "HS256", "typ": "JWT", "kid": RSA_KID}
    return _signed_by_hand(header, _valid_claims(issuer), issuer.public_pem(RSA_KID))


def _expired(issuer: Issuer) -> str:
    now = int(time.time())
    return issuer.token(exp=now - LEEWAY - 60, iat=now - 600, nbf=now - 600)


def _not_yet_valid(issuer: Issuer) -> str:
    return issuer.token(nbf=int(time.time()) + LEEWAY + 60)


def _tampered(issuer: Issuer) -> str:
    """A valid token with `items:write` added to its payload, its signature kept."""
    header, payload, signature = issuer.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "items:write"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


# Tokens the service must refuse, each made by its function, with the reason it must give.
REFUSED: dict[str, tuple[Callable[[Issuer], str], str]] = {
    "not a JWT": (lambda _issuer: "not-a-token", "malformed token"),
    "alg none": (_alg_none, "algorithm not accepted"),
    "HS256 keyed with the RSA public key": (
        _hs256_keyed_with_the_public_key,
        "algorithm not accepted",
    ),
    "expired past the leeway": (_expired, "token expired"),
    "not yet valid past the leeway": (_not_yet_valid, "token not yet valid"),
    "wrong audience": (lambda issuer: issuer.token(aud="another-service"), "wrong audience"),
    "wrong issuer": (lambda issuer: issuer.token(iss="http://127.0.0.1:1"), "wrong issuer"),
    "the issuer with a trailing slash": (
        lambda issuer: issuer.token(iss=f"{issuer.url}/"),
        "wrong issuer",
    ),
    "tampered payload": (_tampered, "bad signature"),
}


def _assert_refused(answer: Answer, challenge: str, detail: str) -> None:
    """A 401 with this `WWW-Authenticate`, a JSON detail and a request id."""
    assert answer.status == 401, answer
    assert answer.headers.get("www-authenticate") == challenge, answer
    assert answer.headers.get("content-type") == "application/json", answer
    assert answer.body == {"detail": detail}, answer
    assert answer.headers.get("x-request-id"), answer


def _invalid_token(reason: str) -> str:
    return f'Bearer error="invalid_token", error_description="{reason}"'


@pytest.mark.parametrize("what", list(REFUSED))
def test_a_bad_token_is_a_401_invalid_token(port: int, issuer: Issuer, what: str) -> None:
    """Each token in REFUSED is a 401 `invalid_token` that says why, with a JSON detail and
    the request id."""
    make, reason = REFUSED[what]
    answer = _call(port, "GET", "/items/1", bearer(make(issuer)))
    _assert_refused(answer, _invalid_token(reason), "invalid token")


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer  ", "Token abc"],
    ids=["no header", "Basic", "Bearer and nothing", "Bearer and spaces", "another scheme"],
)
def test_no_bearer_token_is_a_401_with_a_bare_challenge(
    port: int, authorization: str | None
) -> None:
    """Without a bearer token in the Authorization header: 401 `WWW-Authenticate: Bearer`,
    no error code (RFC 6750, 3.1)."""
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = _call(port, "GET", "/items/1", headers)
    _assert_refused(answer, "Bearer", "a bearer token is required")


def test_a_token_in_the_query_string_is_not_read(port: int, issuer: Issuer) -> None:
    """A valid token sent only as `?access_token=` is no token."""
    answer = _call(port, "GET", f"/items/1?access_token={issuer.token()}")
    _assert_refused(answer, "Bearer", "a bearer token is required")


def test_an_unknown_key_is_fetched_once_then_refused(port: int, issuer: Issuer) -> None:
    """A token naming a key the issuer does not publish makes the service fetch the keys
    exactly once more, then it is a 401 `unknown key`."""
    token = issuer.token(headers={"kid": "nobody-knows-me"})
    # The last fetch (at start) must be at least the minimum interval ago: a lower bound.
    time.sleep(KEYS_MIN_INTERVAL * 2)
    before = issuer.jwks_fetches()
    answer = _call(port, "GET", "/items/1", bearer(token))
    fetched = issuer.jwks_fetches() - before
    _assert_refused(answer, _invalid_token("unknown key"), "invalid token")
    assert fetched == 1, f"{fetched} fetches of the key set for one unknown key"


def test_an_oversized_token_is_refused_unread(port: int, issuer: Issuer) -> None:
    """A token longer than 8192 bytes, in a head the server takes (under 16 KiB), is a 401
    `token too large`."""
    token = issuer.token(padding="x" * 6500)
    assert MAX_TOKEN_BYTES < len(token) < MAX_HEADER_BYTES - 2048, len(token)
    answer = _call(port, "GET", "/items/1", bearer(token))
    _assert_refused(answer, _invalid_token("token too large"), "invalid token")


def _expired_within_the_leeway(issuer: Issuer) -> str:
    now = int(time.time())
    return issuer.token(exp=now - LEEWAY // 2, iat=now - 600, nbf=now - 600)


# Tokens the service must take, each made by its function.
ACCEPTED: dict[str, Callable[[Issuer], str]] = {
    "RS256": lambda issuer: issuer.token(RSA_KID),
    "ES256": lambda issuer: issuer.token(EC_KID),
    "expired 15 s ago, within the leeway": _expired_within_the_leeway,
}


@pytest.mark.parametrize("what", list(ACCEPTED))
def test_a_valid_token_reads_the_item(port: int, issuer: Issuer, what: str) -> None:
    """A token of the issuer's RSA key or of its EC key is taken, and so is one expired less
    than the leeway ago: the item comes from the upstream."""
    answer = _call(port, "GET", "/items/1", bearer(ACCEPTED[what](issuer)))
    assert (answer.status, answer.body) == (200, ITEM), answer


def test_writing_without_the_write_scope_is_a_403(port: int, issuer: Issuer) -> None:
    """A valid token without `items:write` may not `POST /items`: 403 `insufficient_scope`
    naming the scope, with a JSON detail and the request id."""
    token = issuer.token(scope="items:read")
    answer = _call(port, "POST", "/items", bearer(token), body={"name": "x"})
    assert answer.status == 403, answer
    assert answer.headers.get("www-authenticate") == (
        'Bearer error="insufficient_scope", scope="items:write"'
    ), answer
    assert answer.body == {"detail": "the token lacks the scope items:write"}, answer
    assert answer.headers.get("x-request-id"), answer


@pytest.mark.parametrize("path", ["/health", "/ready"])
def test_health_and_ready_take_no_token(port: int, path: str) -> None:
    """/health and /ready answer 200 without a token; /ready once the keys are loaded."""
    answer = _call(port, "GET", path)
    assert answer.status == 200, answer


# What the load's tokens are labelled with: which key signed them, and when they were sent.
OLD = "old key"
NEW = "new key"
OLD_AFTER = "old key, after the rotation"


class Load:
    """CONCURRENCY threads reading `/items/1` on new connections until stopped, each with the
    token its turn gives from `pool`, which the test may replace as they run."""

    def __init__(self, port: int, pool: list[tuple[str, str]]) -> None:
        self.port = port
        # (a label, a token): replaced whole, never changed in place.
        self.pool = pool
        # Each thread's requests: the label of the token and the outcome, 200 or what failed.
        self.outcomes: list[list[tuple[str, int | str]]] = [[] for _ in range(CONCURRENCY)]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(CONCURRENCY)
        ]

    def _run(self, number: int) -> None:
        mine = self.outcomes[number]
        turn = number
        while not self._stop.is_set():
            pool = self.pool
            label, token = pool[turn % len(pool)]
            turn += 1
            try:
                answer = _call(self.port, "GET", "/items/1", bearer(token))
            except (OSError, http.client.HTTPException) as exc:
                mine.append((label, repr(exc)))
                continue
            ok = answer.status == 200 and answer.body == ITEM
            mine.append((label, 200 if ok else f"{answer.status} {answer.headers} {answer.body!r}"))

    def count(self, *labels: str) -> int:
        """The requests made so far with a token of one of these labels."""
        return sum(1 for thread in self.outcomes for label, _ in list(thread) if label in labels)

    def failed(self) -> list[tuple[str, int | str]]:
        """The requests that did not read the item."""
        return [outcome for thread in self.outcomes for outcome in thread if outcome[1] != 200]

    def wait_for(self, label: str, requests: int, deadline: float) -> None:
        """Wait at least STEP_SECONDS, and until `requests` were made with tokens of `label`."""
        time.sleep(STEP_SECONDS)
        while self.count(label) < requests:
            assert time.monotonic() < deadline, f"only {self.count(label)} requests: {label}"
            time.sleep(0.05)

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=LOAD_DEADLINE_SECONDS)


def test_a_key_rotation_under_load_fails_no_request(port: int, issuer: Issuer) -> None:
    """20 clients read continuously with tokens of the RSA key; the issuer publishes a new
    key first (the old one kept), and the clients send tokens of the new key and the old in
    turn: every request reads the item, and one fetch of the key set serves the new key."""
    old = issuer.tokens(RSA_KID, CONCURRENCY)
    # A lower bound: the fetch the new key needs must not fall within the minimum interval.
    time.sleep(KEYS_MIN_INTERVAL * 2)
    fetched_before = issuer.jwks_fetches()
    started = time.monotonic()
    deadline = started + LOAD_DEADLINE_SECONDS
    with Load(port, [(OLD, token) for token in old]) as load:
        load.wait_for(OLD, REQUESTS_PER_STEP, deadline)
        new_kid = issuer.rotate()
        new = issuer.tokens(new_kid, CONCURRENCY)
        # From now on, a token of the new key and one of the old in turn.
        load.pool = [
            pair
            for new_token, old_token in zip(new, old, strict=True)
            for pair in ((NEW, new_token), (OLD_AFTER, old_token))
        ]
        load.wait_for(NEW, REQUESTS_PER_STEP, deadline)
    elapsed = time.monotonic() - started
    fetches = issuer.jwks_fetches() - fetched_before
    failed = load.failed()
    figures = (
        f"key rotation under load at concurrency {CONCURRENCY}: "
        f"{load.count(OLD, NEW, OLD_AFTER)} requests in {elapsed:.1f} s, "
        f"{load.count(OLD)} with the old key before the new key's tokens were sent, "
        f"{load.count(NEW)} with the new key ({new_kid}) and {load.count(OLD_AFTER)} with the "
        f"old key after; {fetches} fetch(es) of the key set; {len(failed)} failed"
    )
    print(f"\n{figures}")  # noqa: T201 - the figures, for whoever reads the run
    assert not failed, f"{figures}; the first: {failed[:5]}"
    assert load.count(OLD) >= REQUESTS_PER_STEP, figures
    assert load.count(NEW) >= REQUESTS_PER_STEP, figures
    assert load.count(OLD_AFTER) > 0, figures
    assert fetches == 1, figures
