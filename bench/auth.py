"""Part 9, the auth option: what checking a caller's bearer token costs on the example read
route, and what the service's own client-credentials token for the upstream costs.

A render with auth=jwt, installed; a token issuer (bench/project/auth_issuer.py: discovery,
a key set with an RSA 2048 key for RS256 and a P-256 key for ES256, a client-credentials
token endpoint) and the upstream of the other parts (which takes any token), all in
processes of their own on 127.0.0.1. The service is `python -m my_service` with one route
more (bench/project/auth_serve.py): `GET /bench/open/items/1`, the same handler as `GET
/items/1` in the same router, mounted without `guarded`.

1. Verification. One service; `GET /items/1` with an RS256 token, the same with an ES256
   token, and `GET /bench/open/items/1` (no token checked), in turns, at 1, 10 and 100
   connections. The tokens are minted once by the issuer, before the load, and wrk sends the
   same `Authorization: Bearer ...` to all three. The keys are cached: fetched once when the
   service starts (the issuer counts the fetches). The target: the guarded route keeps at
   least 90% of the unguarded route's rate, round by round.
2. Where the check's time goes, in-process (bench/project/auth_cost.py): the verifier's
   `caller` against PyJWT's `decode`, the signature alone, the header read, the `Caller` built.
3. The upstream's token. Three services, each loaded at `GET /bench/open/items/1` (no
   caller's token checked): a static `UPSTREAM_TOKEN`; client credentials with a token for an
   hour (fetched by the first request, then cached); client credentials with a token that
   lives 1 ms, so that every upstream call fetches a new one (at 1 connection only: with more,
   the fetches queue behind the one lock). In turns, 1 and 10 connections. Then the first
   request after a start, timed from the outside, static token against client credentials
   (the token fetched by that request), over a few starts.
"""

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .common import (
    Server,
    bench_env,
    free_port,
    median,
    progress,
    python_of,
    render,
    stopped_at_exit,
    sync,
    timings_in,
)
from .loadgen import (
    Load,
    Measured,
    Results,
    cpu_seconds,
    find_wrk,
    paired,
    parse_wrk,
    per_request_us,
    require_loopback,
)
from .servers import setting, start_upstream

ROUNDS = 3
DURATION = 3.0
WARM_UP = 2.0
CONCURRENCIES = (1, 10, 100)
TOKEN_CONCURRENCIES = (1, 10)
FIRST_REQUESTS = 3  # service starts per upstream credential, for the first request's latency
RATE_TARGET = 0.90  # the guarded route's rate over the unguarded one's, each concurrency
AUDIENCE = "bench-audience"
# The issuer's clients and their secret, as bench/project/auth_issuer.py names them.
CACHED_CLIENT = "bench-cached"
RENEWING_CLIENT = "bench-renewing"
CLIENT_SECRET = "bench-secret"  # noqa: S105 - the bench's own client, on loopback


@dataclass(frozen=True)
class Target:
    """One thing to load: its label, the path on its service, the token wrk sends, and the
    concurrencies it is loaded at."""

    label: str
    path: str
    algorithm: str = "RS256"
    concurrencies: tuple[int, ...] = CONCURRENCIES


OPEN = "bench/open/items/1"
# key -> what 1 (above) loads, all on one service.
VERIFY = {
    "open": Target("`GET /bench/open/items/1`, the same handler unguarded", OPEN),
    "rs256": Target("`GET /items/1`, RS256 token (RSA 2048)", "items/1", "RS256"),
    "es256": Target("`GET /items/1`, ES256 token (P-256)", "items/1", "ES256"),
}
# key -> what 3 (above) loads, each on a service of its own.
UPSTREAM = {
    "static": Target("static `UPSTREAM_TOKEN`", OPEN, concurrencies=TOKEN_CONCURRENCIES),
    "cached": Target(
        "client credentials, token cached (1 h)", OPEN, concurrencies=TOKEN_CONCURRENCIES
    ),
    "renewing": Target(
        "client credentials, a new token every call (1 ms)", OPEN, concurrencies=(1,)
    ),
}
# The steps auth_cost times, in the order the report lists them.
STEPS = {
    "first": "`TokenVerifier.caller`, a token not seen before: the whole check",
    "caller": "`TokenVerifier.caller`, a token checked before (kept until it expires)",
    "decode": "`jwt.decode` (signature, claims)",
    "signature": "the signature alone (OpenSSL)",
    "header": "`jwt.get_unverified_header`",
    "caller_model": "`Caller(...)` built",
}


@dataclass
class AuthResult:
    """Every figure of part 9."""

    verify: Results = field(default_factory=dict)
    upstream: Results = field(default_factory=dict)
    # The key set's fetches while the verification was loaded (after the service's start).
    jwks_fetches: int = 0
    # Token endpoint calls per request served, with the 1 ms token.
    renewals: float = 0.0
    # "static"/"cached" -> the first and second request's ms after each start.
    first: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    # auth_cost's nanoseconds, "<algorithm>_<step>_ns".
    cost: dict[str, float] = field(default_factory=dict)


def _python(project: Path) -> str:
    return str(python_of(project))


def _json(url: str) -> dict[str, object]:
    require_loopback(url)
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
        answer: dict[str, object] = json.loads(response.read())
    return answer


def _status(url: str, token: str | None) -> int:
    """The status `GET url` answers, with `token` as a bearer token if given."""
    require_loopback(url)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            response.read()
            status: int = response.status
    except urllib.error.HTTPError as refused:
        status = refused.code
    return status


def _timed_get(url: str) -> float:
    """Milliseconds for `GET url` answered 200, from urllib's side."""
    started = time.perf_counter()
    status = _status(url, None)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:  # noqa: PLR2004 - HTTP OK
        raise RuntimeError(f"GET {url} answered {status}")
    return elapsed


def _start_issuer(servers: list[Server], project: Path) -> Server:
    port = free_port()
    command = [_python(project), "-m", "bench.project.auth_issuer", "--port", str(port)]
    issuer = Server("issuer", [*command, "--audience", AUDIENCE], project, bench_env())
    servers.append(issuer)
    # An issuer's identifier has no trailing slash: the tokens' `iss` is exactly this.
    issuer.url = f"http://127.0.0.1:{port}"
    issuer.wait_until_answering(f"{issuer.url}/.well-known/openid-configuration")
    return issuer


def _start_service(
    servers: list[Server], project: Path, name: str, env: Mapping[str, str]
) -> Server:
    """bench.project.auth_serve, once `/ready` answers (the issuer's keys fetched); its
    `url` ends with a slash."""
    port = free_port()
    command = [_python(project), "-m", "bench.project.auth_serve"]
    service = Server(name, command, project, {**env, setting("port"): str(port)})
    servers.append(service)
    service.url = f"http://127.0.0.1:{port}/"
    service.wait_until_answering(f"{service.url}ready")
    return service


def _credentials(key: str, issuer: Server) -> dict[str, str]:
    """The settings that give the service its upstream token the way `key` names."""
    if key == "static":
        return {setting("upstream_token"): "bench-static-token"}
    return {
        setting("upstream_token_url"): f"{issuer.url}/token",
        setting("upstream_client_id"): CACHED_CLIENT if key == "cached" else RENEWING_CLIENT,
        setting("upstream_client_secret"): CLIENT_SECRET,
    }


def _wrk(server: Server, target: Target, connections: int, duration: float, token: str) -> Load:
    """One wrk run of `GET target.path` with the bearer token, with the CPU the server used
    per request (as loadgen.run_wrk, which sends no header)."""
    url = f"{server.url}{target.path}"
    require_loopback(url)
    command = [find_wrk(), "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s"]
    command += ["-H", f"Authorization: Bearer {token}", "--latency", url]
    before = cpu_seconds(server.pid)
    result = subprocess.run(  # noqa: S603 - wrk with a loopback URL
        command, capture_output=True, text=True, check=True, timeout=duration + 60
    )
    load = parse_wrk(result.stdout)
    cpu_us, _ = per_request_us(before, cpu_seconds(server.pid), load.requests)
    return replace(load, cpu_us=cpu_us)


def _in_turns(
    loaded: Mapping[str, tuple[Server, Target]],
    tokens: Mapping[str, str],
    rounds: int,
    duration: float,
    label: str,
) -> Results:
    """Each target at each of its concurrencies once a round, in turns, each round starting
    with the next target (loadgen.in_turns, with a token and a path per target)."""
    results: Results = {key: {} for key in loaded}
    every = sorted({count for _, target in loaded.values() for count in target.concurrencies})
    for connections in every:
        keys = [key for key, (_, target) in loaded.items() if connections in target.concurrencies]
        for turn in range(rounds):
            shift = turn % len(keys)
            for key in keys[shift:] + keys[:shift]:
                server, target = loaded[key]
                time.sleep(0.3)  # the last run's connections close
                load = _wrk(server, target, connections, duration, tokens[target.algorithm])
                results[key].setdefault(connections, Measured()).runs.append(load)
        progress(f"{label}: {connections} connections done", level=1)
    return results


def _check(service: Server, tokens: Mapping[str, str]) -> None:
    """Fail loudly unless the guarded route refuses no token and takes both, and the bench
    route answers: the load must measure answers, not refusals."""
    seen = {
        "no token": _status(f"{service.url}items/1", None),
        **{name: _status(f"{service.url}items/1", token) for name, token in tokens.items()},
        "unguarded": _status(f"{service.url}{OPEN}", None),
    }
    if seen != {"no token": 401, **dict.fromkeys(tokens, 200), "unguarded": 200}:
        raise RuntimeError(f"unexpected answers {seen}:\n{service.log.read_text()[-3000:]}")


@dataclass(frozen=True)
class _Setup:
    """What every service of the part is started with: the project, its environment (the
    upstream, the issuer, the audience), the issuer, and the tokens it minted."""

    project: Path
    env: dict[str, str]
    issuer: Server
    tokens: dict[str, str]


def _verification(setup: _Setup, rounds: int, duration: float) -> tuple[Results, int]:
    with stopped_at_exit() as servers:
        service = _start_service(servers, setup.project, "auth-service", setup.env)
        _check(service, setup.tokens)
        loaded = {key: (service, target) for key, target in VERIFY.items()}
        fetched = _jwks_fetches(setup.issuer)
        for target in VERIFY.values():
            _wrk(service, target, max(CONCURRENCIES), WARM_UP, setup.tokens[target.algorithm])
        results = _in_turns(loaded, setup.tokens, rounds, duration, "verification")
        return results, _jwks_fetches(setup.issuer) - fetched


def _jwks_fetches(issuer: Server) -> int:
    return int(str(_json(f"{issuer.url}/bench/stats")["jwks_fetches"]))


def _renewals(issuer: Server) -> int:
    fetches = _json(f"{issuer.url}/bench/stats")["token_fetches"]
    return int(fetches[RENEWING_CLIENT]) if isinstance(fetches, dict) else 0


def _upstream_token(setup: _Setup, rounds: int, duration: float) -> tuple[Results, float]:
    with stopped_at_exit() as servers:
        loaded = {}
        for key, target in UPSTREAM.items():
            env = {**setup.env, **_credentials(key, setup.issuer)}
            loaded[key] = (_start_service(servers, setup.project, f"auth-{key}", env), target)
        for service, target in loaded.values():
            token = setup.tokens[target.algorithm]
            _wrk(service, target, max(target.concurrencies), WARM_UP, token)
        before = _renewals(setup.issuer)
        results = _in_turns(loaded, setup.tokens, rounds, duration, "upstream token")
        fetched = _renewals(setup.issuer) - before
    served = sum(run.requests for measured in results["renewing"].values() for run in measured.runs)
    return results, fetched / served if served else float("nan")


def _first_requests(setup: _Setup, starts: int) -> dict[str, list[tuple[float, float]]]:
    """For a static token and client credentials in turns: a service started, then its first
    and second `GET /bench/open/items/1` timed (the first pays the token's fetch)."""
    keys = ["static", "cached"]
    first: dict[str, list[tuple[float, float]]] = {key: [] for key in keys}
    for turn in range(starts):
        for key in keys[turn % 2 :] + keys[: turn % 2]:
            with stopped_at_exit() as servers:
                env = {**setup.env, **_credentials(key, setup.issuer)}
                service = _start_service(servers, setup.project, f"auth-first-{key}", env)
                url = f"{service.url}{OPEN}"
                first[key].append((_timed_get(url), _timed_get(url)))
    progress("first requests done", level=1)
    return first


def run(
    folder: Path,
    *,
    rounds: int = ROUNDS,
    duration: float = DURATION,
    first_requests: int = FIRST_REQUESTS,
) -> AuthResult:
    """Render and install the auth=jwt project under `folder`, then measure; every server
    always stopped."""
    project = render(folder, auth="jwt")
    sync(project)
    result = AuthResult()
    progress("the check's steps, in-process ...", level=1)
    result.cost = timings_in(project, "bench.project.auth_cost")
    with stopped_at_exit() as servers:
        issuer = _start_issuer(servers, project)
        upstream = start_upstream(servers, project)
        minted = _json(f"{issuer.url}/bench/tokens")
        env = bench_env(
            **{
                setting("upstream_base_url"): upstream,
                setting("docs_enabled"): "false",
                setting("auth_issuer"): issuer.url,
                setting("auth_audience"): AUDIENCE,
            }
        )
        setup = _Setup(project, env, issuer, {name: str(token) for name, token in minted.items()})
        result.verify, result.jwks_fetches = _verification(setup, rounds, duration)
        result.upstream, result.renewals = _upstream_token(setup, rounds, duration)
        result.first = _first_requests(setup, first_requests)
    return result


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _load_rows(results: Results, targets: Mapping[str, Target], baseline: str) -> list[list[str]]:
    """One row per target and concurrency; the rate kept against `baseline`'s, round by
    round, and the CPU per request added to it."""
    rows = []
    for key, target in targets.items():
        for connections, measured in sorted(results[key].items()):
            typical = measured.typical
            compared = ["", ""]
            if key != baseline:
                base = results[baseline][connections]
                compared = [
                    f"{paired(measured, base).rate:.0%}",
                    f"{measured.cpu_us - base.cpu_us:+,.0f}",
                ]
            rows.append(
                [
                    target.label if connections == min(results[key]) else "",
                    str(connections),
                    f"{measured.rate:,.0f}",
                    f"{typical.p50_ms:.2f}",
                    f"{typical.p99_ms:.2f}",
                    str(sum(run.errors for run in measured.runs)),
                    f"{measured.cpu_us:,.0f}",
                    *compared,
                ]
            )
    return rows


LOAD_HEADER = ["conns", "req/s", "p50 ms", "p99 ms", "errors", "CPU µs/request"]


def _verify_lines(result: AuthResult) -> list[str]:
    header = ["", *LOAD_HEADER, "÷ unguarded rate", "CPU µs vs unguarded"]
    lines = _table(header, _load_rows(result.verify, VERIFY, "open"))
    lines.append("")
    for connections, open_route in sorted(result.verify["open"].items()):
        parts = []
        for key in ("rs256", "es256"):
            pair = paired(result.verify[key][connections], open_route)
            low, high = pair.rate_range
            verdict = "met" if pair.rate >= RATE_TARGET else "MISSED"
            parts.append(
                f"{key.upper()} keeps {pair.rate:.0%} of the rate ({low:.0%} to {high:.0%}) at"
                f" {pair.cpu:.2f}x the CPU: {verdict}"
            )
        lines.append(
            f"- {connections} conns, target >= {RATE_TARGET:.0%} of the unguarded rate: "
            + "; ".join(parts)
        )
    lines.append(
        f"- the key set was fetched {result.jwks_fetches} time(s) while the routes were loaded"
        " (the keys cached from the service's start)"
    )
    return lines


def _cost_lines(cost: dict[str, float]) -> list[str]:
    rows = [
        [
            label,
            *(f"{cost[f'{algorithm}_{step}_ns'] / 1000:,.1f}" for algorithm in ("RS256", "ES256")),
        ]
        for step, label in STEPS.items()
    ]
    return _table(["in-process, µs a token", "RS256", "ES256"], rows)


def _upstream_lines(result: AuthResult) -> list[str]:
    header = ["", *LOAD_HEADER, "÷ static rate", "CPU µs vs static"]
    lines = _table(header, _load_rows(result.upstream, UPSTREAM, "static"))
    static = result.upstream["static"]
    lines.append("")
    for connections, cached in sorted(result.upstream["cached"].items()):
        pair = paired(cached, static[connections])
        low, high = pair.rate_range
        lines.append(
            f"- {connections} conns, the token cached: {pair.rate:.0%} of the static token's rate"
            f" ({low:.0%} to {high:.0%}) at {pair.cpu:.2f}x its CPU"
        )
    renewing = result.upstream["renewing"][1]
    base = static[1]
    per_fetch = (renewing.cpu_us - base.cpu_us) / result.renewals if result.renewals else 0.0
    added = renewing.typical.p50_ms - base.typical.p50_ms
    lines.append(
        f"- a token fetched for every call, 1 conn: {result.renewals:.2f} fetches a request;"
        f" +{added:.2f} ms p50 and about {per_fetch:,.0f} µs of the service's CPU a fetch"
    )
    first = {key: [one for one, _ in runs] for key, runs in result.first.items()}
    second = {key: [two for _, two in runs] for key, runs in result.first.items()}
    lines.append(
        f"- the first request after a start (median of {len(first['static'])}, urllib's side):"
        f" {median(first['static']):.1f} ms with the static token,"
        f" {median(first['cached']):.1f} ms with client credentials (the token fetched);"
        f" the second: {median(second['static']):.1f} and {median(second['cached']):.1f} ms"
    )
    return lines


def section(result: AuthResult) -> list[str]:
    """Part 9's report: the three tables, the target, the first request."""
    rounds = len(result.verify["open"][1].runs)
    lines = [
        "### 9. The auth option (auth=jwt; a local issuer, its keys cached)",
        "",
        f"Verification, `python -m my_service`, wrk, median of {rounds} runs in turns:",
        "",
    ]
    lines += _verify_lines(result)
    lines += ["", "Where the check's time goes (fastest of several repeats):", ""]
    lines += _cost_lines(result.cost)
    lines += [
        "",
        f"The upstream's token, `GET /bench/open/items/1` (no caller's token checked), median of"
        f" {rounds} runs in turns:",
        "",
    ]
    lines += _upstream_lines(result)
    return lines
