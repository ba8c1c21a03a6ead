"""The report `make bench` prints: every figure and ratio of one run, beside its target.

Nothing asserts: a target missed is printed as MISSED.
"""

import math
from collections.abc import Iterable, Sequence

from . import cpu_profile, shutdown_time
from .check_cost import CheckCost
from .common import median
from .database import ISOLATIONS, DatabaseResult
from .database import TARGETS as DATABASE_TARGETS
from .loadgen import Measured, Results, paired
from .observability import VARIANTS, ObservabilityResult
from .server_options import OPTIONS, ServerResult
from .suite_overhead import STYLES, TESTCLIENT_FILTER, overhead_ms
from .throughput import TARGETS
from .upstream_calls import CONNECTIONS, PROFILE_SECONDS, PROFILED, UpstreamResult
from .upstream_calls import TARGETS as UPSTREAM_TARGETS
from .upstream_down import FAULTS

FAST_TIER_TARGET = 60.0
RENDER_TARGET = 1.0
GREEN_TARGET = 20.0
TESTCLIENT_RATIO_TARGET = 4.0
FLOOR_RATIO_TARGET = 2.0
PER_REQUEST_RATIO_TARGET = 3.0
ADDED_P50_TARGET_MS = 1.0  # the hop through the proxy, unloaded (one connection)
TRUNCATE_RATIO_TARGET = 3.0
RECREATE_RATIO_TARGET = 10.0
DATABASE_ADDED_TARGET_MS = 2.0
POOL_RATIO_TARGET = 3.0
POSTGRES_GREEN_TARGET = 30.0
KEPT_SHARE_TARGET = 0.90  # what each layer of observability keeps of the rate before it
RETRY_COST_TARGET = 0.03  # of a request's CPU, for a call that succeeds at once
# The template against plain FastAPI at CONNECTIONS, both logging their access line.
PLAIN_RATE_TARGET = 0.85
PLAIN_CPU_TARGET = 1.2
FLOOR_SHARE_TARGET = 0.80  # the template's rate as a share of a bare Starlette proxy's
DEADLINE_RATIO_TARGET = 1.05  # a call to an upstream that is down ends by its deadline


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


LOAD_HEADER = ["conns", "req/s", "p50 ms", "p99 ms", "errors", "CPU µs/request"]


def _load_cells(connections: int, measured: Measured) -> list[str]:
    typical = measured.typical
    cpu = "" if math.isnan(measured.cpu_us) else f"{measured.cpu_us:,.0f}"
    return [
        str(connections),
        f"{measured.rate:,.0f}",
        f"{typical.p50_ms:.2f}",
        f"{typical.p99_ms:.2f}",
        str(sum(run.errors for run in measured.runs)),
        cpu,
    ]


def _load_rows(results: Results, labels: Sequence[tuple[str, str, str]]) -> list[list[str]]:
    """One row per target and concurrency, with the baseline's rate over this one's and this
    one's CPU per request over the baseline's. `labels`: each target's key, its label and
    its baseline's key."""
    rows = []
    for key, label, baseline in labels:
        for connections, measured in sorted(results.get(key, {}).items()):
            ratios = ["", ""]
            base = results.get(baseline, {}).get(connections)
            if base is not None and key != baseline:
                ratios = [
                    f"{base.rate / measured.rate:.2f}x",
                    f"{measured.cpu_us / base.cpu_us:.2f}x",
                ]
            first = connections == min(results[key])
            rows.append([label if first else "", *_load_cells(connections, measured), *ratios])
    return rows


def _load_table(
    results: Results, labels: Sequence[tuple[str, str, str]], baseline_name: str
) -> list[str]:
    header = ["", *LOAD_HEADER, f"{baseline_name} ÷ this, req/s", f"CPU ÷ {baseline_name}'s"]
    return _table(header, _load_rows(results, labels))


def _compared(first: Measured, second: Measured) -> str:
    """`first` over `second`, round by round: the rate kept and the CPU per request."""
    pair = paired(first, second)
    low, high = pair.rate_range
    cpu_low, cpu_high = pair.cpu_range
    return (
        f"keeps {pair.rate:.1%} of the rate ({low:.0%} to {high:.0%} round by round), at "
        f"{pair.cpu:.2f}x the CPU per request ({cpu_low:.2f}x to {cpu_high:.2f}x)"
    )


def _plain_targets(results: Results) -> list[str]:
    """The template against plain FastAPI at every concurrency, round by round (the medians
    of the per-round ratios); the verdicts at CONNECTIONS."""
    lines = []
    for connections, template in sorted(results["template"].items()):
        plain = results["plain"][connections]
        pair = paired(template, plain)
        compared = _compared(template, plain)
        line = f"- {connections} conns: against plain FastAPI, the template {compared}"
        if connections == CONNECTIONS:
            line += (
                f": targets >= {PLAIN_RATE_TARGET:.0%} of the rate "
                f"{_verdict(pair.rate >= PLAIN_RATE_TARGET)}, <= {PLAIN_CPU_TARGET:g}x the CPU "
                f"{_verdict(pair.cpu <= PLAIN_CPU_TARGET)}"
            )
        lines.append(line)
    return lines


def suite_section(walls: dict[str, list[float]], tests: int) -> list[str]:
    """Part 1: per-test overhead over the no-op baseline, ratios and the two targets."""
    overhead = overhead_ms(walls, tests)
    lines = [
        f"### 1. Test-suite overhead: {tests} `GET /health` tests, one pytest process each, "
        f"median of {len(walls['noop'])} runs",
        "",
    ]
    rows = []
    for style in STYLES:
        ratio = "" if style.key == "noop" else f"{overhead[style.key] / overhead['a']:.2f}x"
        cost = "0" if style.key == "noop" else f"{overhead[style.key]:.2f}"
        rows.append([style.label, f"{median(walls[style.key]):.2f}", cost, ratio])
    lines += _table(["test style", "wall s", "overhead ms/test", "vs (a)"], rows)
    vs_testclient = overhead["c"] / overhead["a"]
    vs_floor = overhead["a"] / overhead["floor"]
    return [
        *lines,
        "",
        f"- (c) / (a) = {vs_testclient:.2f}x (target >= {TESTCLIENT_RATIO_TARGET:g}x): "
        f"{_verdict(vs_testclient >= TESTCLIENT_RATIO_TARGET)}",
        f"- (a) / floor = {vs_floor:.2f}x (target <= {FLOOR_RATIO_TARGET:g}x): "
        f"{_verdict(vs_floor <= FLOOR_RATIO_TARGET)}",
        f"- (c) and (d) ran with `-W {TESTCLIENT_FILTER}`; otherwise every style ran under the "
        "generated project's own pytest configuration.",
    ]


def throughput_section(results: Results, duration: float) -> list[str]:
    """Part 2: rate, latency and CPU per target and concurrency; ratios and targets."""
    rounds = len(results["template"][min(results["template"])].runs)
    lines = [
        f"### 2. Service throughput: `GET /items/1`, wrk, median of {rounds} interleaved "
        f"{duration:g} s runs, after a warm-up; every server logs an access line",
        "",
    ]
    labels = [(t.key, t.label, t.baseline) for t in TARGETS if t.key in results]
    lines += _load_table(results, labels, "template")
    lines += ["", "The TLS rows compare with the template over TLS.", ""]
    lines += _plain_targets(results)
    for connections, template in sorted(results["template"].items()):
        per_request = template.rate / results["per_request"][connections].rate
        ahead = template.rate / results["httpx"][connections].rate
        line = (
            f"- {connections} conns: template ÷ session per request = {per_request:.2f}x "
            f"(target >= {PER_REQUEST_RATIO_TARGET:g}x: "
            f"{_verdict(per_request >= PER_REQUEST_RATIO_TARGET)}); template ÷ httpx = "
            f"{ahead:.2f}x (target > 1x: {_verdict(ahead > 1)})"
        )
        if "template_tls" in results:
            tls = results["template_tls"][connections].rate
            over_tls = tls / results["per_request_tls"][connections].rate
            line += f"; over TLS {over_tls:.2f}x ({_verdict(over_tls >= PER_REQUEST_RATIO_TARGET)})"
        lines.append(line)
    lowest = min(results["template"])
    added = results["template"][lowest].typical.p50_ms - results["upstream"][lowest].typical.p50_ms
    lines.append(
        f"- added p50 at {lowest} conn(s), the proxy hop itself: {added:.2f} ms "
        f"(target <= {ADDED_P50_TARGET_MS:g} ms: {_verdict(added <= ADDED_P50_TARGET_MS)})"
    )
    return lines


def check_section(cost: CheckCost) -> list[str]:
    """Part 3: wall times of the template's checks, with their targets."""
    renders = ", ".join(f"{seconds:.2f}" for seconds in cost.render_times)
    fast = _verdict(cost.test_fast < FAST_TIER_TARGET)
    if cost.test_fast_exit != 0:
        fast = f"FAILED (exit {cost.test_fast_exit}): the time is not meaningful"
    slow = "" if cost.test_slow_exit == 0 else f"FAILED (exit {cost.test_slow_exit})"
    rows = [
        ["make test-fast", f"{cost.test_fast:.1f}", f"< {FAST_TIER_TARGET:g}", fast],
        ["make test-slow", f"{cost.test_slow:.1f}", "", slow],
        [
            f"render (median of {renders})",
            f"{cost.render:.2f}",
            f"< {RENDER_TARGET:g}",
            _verdict(cost.render < RENDER_TARGET),
        ],
        [
            "render-to-green (warm uv cache)",
            f"{cost.render_to_green:.1f}",
            f"< {GREEN_TARGET:g}",
            _verdict(cost.render_to_green < GREEN_TARGET),
        ],
    ]
    return [
        "### 3. Cost of the template's own checks",
        "",
        *_table(["check", "seconds", "target", ""], rows),
    ]


def database_section(result: DatabaseResult) -> list[str]:
    """Part 4: isolation cost per test, pool against a connection per request."""
    per_test = {key: result.per_test_ms(key) for key in ISOLATIONS}
    lines = [
        f"### 4. The database option: {result.tests} tests per module, median of "
        f"{len(result.walls['default'])} shuffled rounds",
        "",
    ]
    rows = [
        [label, f"{median(result.walls[key]):.2f}", f"{per_test[key]:.2f}"]
        for key, (label, _) in ISOLATIONS.items()
    ]
    lines += _table(["isolation", "wall s", "ms per test"], rows)
    cost = {key: per_test[key] - per_test["bare"] for key in ("default", "truncate", "recreate")}
    truncate = cost["truncate"] / cost["default"]
    recreate = cost["recreate"] / cost["default"]
    added = per_test["default"] - per_test["none"]
    lines += [
        "",
        f"- isolation alone (each way less none at all): default {cost['default']:.2f} ms, "
        f"TRUNCATE {cost['truncate']:.2f} ms, recreating {cost['recreate']:.2f} ms a test",
        f"- TRUNCATE ÷ default = {truncate:.2f}x (target >= {TRUNCATE_RATIO_TARGET:g}x: "
        f"{_verdict(truncate >= TRUNCATE_RATIO_TARGET)}); recreating ÷ default = "
        f"{recreate:.2f}x (target >= {RECREATE_RATIO_TARGET:g}x: "
        f"{_verdict(recreate >= RECREATE_RATIO_TARGET)})",
        f"- default less no database = {added:.2f} ms a test (target <= "
        f"{DATABASE_ADDED_TARGET_MS:g} ms: {_verdict(added <= DATABASE_ADDED_TARGET_MS)})",
        "",
    ]
    labels = [(key, label, "pool") for key, (label, _) in DATABASE_TARGETS.items()]
    lines += _load_table(result.loads, labels, "pool")
    lines.append("")
    for connections, pool in sorted(result.loads["pool"].items()):
        ratio = pool.rate / result.loads["per_request"][connections].rate
        lines.append(
            f"- {connections} conns: pool ÷ connection per request = {ratio:.2f}x "
            f"(target >= {POOL_RATIO_TARGET:g}x: {_verdict(ratio >= POOL_RATIO_TARGET)})"
        )
    green = result.render_to_green
    verdict = _verdict(green < POSTGRES_GREEN_TARGET)
    if result.green_failure:
        verdict = f"the generated suite FAILED: {result.green_failure}"
    lines.append(
        f"- render-to-green with the database: {green:.1f} s (target < "
        f"{POSTGRES_GREEN_TARGET:g} s: {verdict})"
    )
    return lines


def observability_section(result: ObservabilityResult) -> list[str]:
    """Part 5: each layer of observability against the one before; SIGTERM's time."""
    lines = [
        "### 5. Observability: `GET /items/1` through uvicorn, its access log on",
        "",
    ]
    labels = []
    for before, variant in zip([VARIANTS[0], *VARIANTS], VARIANTS, strict=False):
        # The collector down or hanging compares with it up.
        baseline = "exporting" if variant.key in {"down", "hang"} else before.key
        labels.append((variant.key, variant.label, baseline))
    lines += _load_table(result.loads, labels, "previous")
    lines.append("")
    loads = result.loads
    for connections in sorted(loads["before"]):
        at = {key: by_connections[connections] for key, by_connections in loads.items()}
        logging_share = at["logging"].rate / at["before"].rate
        metrics_share = at["metrics"].rate / at["logging"].rate
        lines += [
            f"- {connections} conns: logging keeps {logging_share:.1%} of the rate before it "
            f"(target >= {KEPT_SHARE_TARGET:.0%}: {_verdict(logging_share >= KEPT_SHARE_TARGET)})"
            f"; metrics keep {metrics_share:.1%} of that (target >= {KEPT_SHARE_TARGET:.0%}: "
            f"{_verdict(metrics_share >= KEPT_SHARE_TARGET)}); tracing keeps "
            f"{at['tracing'].rate / at['metrics'].rate:.1%} of that",
            f"- {connections} conns, round by round: exporting to a collector, against no "
            f"exporter, {_compared(at['exporting'], at['tracing'])}; the collector down, "
            f"against it up, {_compared(at['down'], at['exporting'])}, against no exporter "
            f"{_compared(at['down'], at['tracing'])}; the collector hanging, against it up, "
            f"{_compared(at['hang'], at['exporting'])}",
        ]
    lines += [
        "",
        "Seconds from SIGTERM to exit, `python -m` with tracing, after 3 s of load at "
        "10 connections:",
        "",
    ]
    rows = []
    for key, label in shutdown_time.CASES.items():
        every = ", ".join(f"{seconds:.2f}" for seconds in result.shutdowns[key])
        rows.append([label, f"{median(result.shutdowns[key]):.2f}", every])
    lines += _table(["spans go to", "median s", "every run"], rows)
    return lines


def upstream_section(result: UpstreamResult) -> list[str]:
    """Part 6: the template against plain FastAPI and the floor, the profiles, the retry
    layer's code, the upstream down."""
    runs = len(result.loads["template"][CONNECTIONS].runs)
    lines = [
        f"### 6. The upstream calls: `GET /items/1`, wrk, median of {runs} interleaved runs "
        f"at {CONNECTIONS} connections (fewer at the others); every server logs an access line",
        "",
    ]
    labels = [(key, label, "template") for key, label, _ in UPSTREAM_TARGETS]
    lines += _load_table(result.loads, labels, "template")
    lines += ["", *_plain_targets(result.loads)]
    template, floor = result.loads["template"][CONNECTIONS], result.loads["floor"][CONNECTIONS]
    share = template.rate / floor.rate
    lines.append(
        f"- the template keeps {share:.1%} of the bare Starlette floor's rate (target >= "
        f"{FLOOR_SHARE_TARGET:.0%}: {_verdict(share >= FLOOR_SHARE_TARGET)}), at "
        f"{template.cpu_us / floor.cpu_us:.2f}x its CPU per request"
    )
    with_ns, without_ns = result.retry_ns["with_ns"], result.retry_ns["without_ns"]
    share_of_request = (with_ns - without_ns) / 1000 / template.cpu_us
    lines.append(
        f"- the retry layer's own code, in-process with the attempt stubbed out: "
        f"{with_ns:,.0f} ns a call with it, {without_ns:,.0f} ns without: "
        f"{share_of_request:.3%} of the template's CPU per request (target <= "
        f"{RETRY_COST_TARGET:.0%}: {_verdict(share_of_request <= RETRY_COST_TARGET)})"
    )
    return [*lines, "", *_profiles(result), "", *_faults(result)]


def _profiles(result: UpstreamResult) -> list[str]:
    profiles = {key: result.profiles.get(key) for key in PROFILED}
    missing = [f"{key}: {why}" for key, why in profiles.items() if isinstance(why, str)]
    found = {key: p for key, p in profiles.items() if isinstance(p, cpu_profile.Profile)}
    if "template" not in found:
        return [f"Where the CPU goes: no profile ({'; '.join(missing) or 'not run'})."]
    template = found["template"]
    lines = [
        f"Where the CPU goes, µs per request: py-spy at {cpu_profile.RATE} Hz for "
        f"{PROFILE_SECONDS:g} s under {CONNECTIONS} connections ({template.samples:,} samples "
        "of the template in layers), each sample counted for the code running then; the user "
        "time per request (/proc) shared out by the samples, the system time on a row of its "
        "own:",
        "",
    ]
    rows = []
    for layer in [*cpu_profile.LAYERS, KERNEL, "all"]:
        cells = [_us(found.get(key), layer) for key in PROFILED]
        if any(cell not in {"", "0"} for cell in cells):
            rows.append([layer, *cells])
    lines += _table(["layer", *PROFILED], rows)
    modules = sorted(template.own_modules.items(), key=lambda item: -item[1])
    split = ", ".join(f"{name} {count / template.samples:.1%}" for name, count in modules)
    writes = ", ".join(f"{key} {p.writes / (p.writes + p.samples):.0%}" for key, p in found.items())
    lines += [
        "",
        f"- the template's own modules, in samples: {split or 'none sampled'}",
        f"- samples in a socket write, left out (the kernel, or a wait for a core): {writes}",
    ]
    lines += [f"- no profile of {why}" for why in missing]
    if "plain" in found:
        lines += ["", *_beyond_plain(template, found["plain"])]
    return lines


def _beyond_plain(template: cpu_profile.Profile, plain: cpu_profile.Profile) -> list[str]:
    """The functions whose own time differs most between the template and plain FastAPI."""
    functions = set(template.functions) | set(plain.functions)
    added = {name: template.function_us(name) - plain.function_us(name) for name in functions}
    ordered = sorted(functions, key=lambda name: -added[name])
    rows = [
        [
            f"`{name}`",
            f"{template.function_us(name):,.1f}",
            f"{plain.function_us(name):,.1f}",
            f"{added[name]:+,.1f}",
        ]
        for name in [*ordered[:BEYOND_ROWS], *ordered[-BEYOND_ROWS // 3 :]]
    ]
    return [
        f"Where the template's user time goes beyond plain FastAPI's, function by function (the "
        f"function's own time and the standard library it calls, µs per request; the "
        f"{BEYOND_ROWS} largest additions, then the largest savings):",
        "",
        *_table(["function", "template", "plain", "added"], rows),
    ]


BEYOND_ROWS = 24


KERNEL = "the kernel (system time: sockets, mostly)"


def _us(profile: cpu_profile.Profile | None, layer: str) -> str:
    if profile is None or profile.user_us is None or profile.system_us is None:
        return ""
    if layer == "all":
        return f"{profile.user_us + profile.system_us:,.0f}"
    if layer == KERNEL:
        return f"{profile.system_us:,.0f}"
    return f"{profile.share(layer) * profile.user_us:,.0f}"


def _faults(result: UpstreamResult) -> list[str]:
    lines = [
        f"The upstream down: the template at {CONNECTIONS} connections with real backoff; "
        "attempts as the upstream counted them.",
        "",
    ]
    rows = []
    for fault in FAULTS:
        measured = result.faults[fault.mode]
        load = measured.load
        per_request = measured.attempts / measured.requests if measured.requests else 0.0
        rows.append(
            [
                fault.label,
                f"{fault.deadline:g} s deadline, {fault.attempt_timeout:g} s an attempt, "
                f"{fault.attempts} attempts",
                measured.answer,
                f"{load.p50_ms:,.0f}",
                f"{load.p99_ms:,.0f}",
                f"{load.p99_ms / 1000 / fault.deadline:.2f}",
                f"{per_request:.2f}",
            ]
        )
    header = ["upstream", "limits", "answer", "p50 ms", "p99 ms", "p99 ÷ deadline", "attempts"]
    lines += _table(header, rows)
    worst = max(result.faults[f.mode].load.p99_ms / 1000 / f.deadline for f in FAULTS)
    lines += [
        "",
        f"- every p99 within its deadline (p99 ÷ deadline <= {DEADLINE_RATIO_TARGET:g}): "
        f"{_verdict(worst <= DEADLINE_RATIO_TARGET)}",
    ]
    return lines


def server_options_section(result: ServerResult) -> list[str]:
    """Part 7: the parser and the loop of `python -m`, each against the default."""
    results = result.loads
    lines = [
        "### 7. The server under `python -m`: HTTP parser and event loop, `GET /items/1`",
        "",
    ]
    labels = [(option.key, option.label, "default") for option in OPTIONS]
    lines += _load_table(results, labels, "default")
    lines.append("")
    for connections, default in sorted(results["default"].items()):
        option = {key: by_connections[connections] for key, by_connections in results.items()}
        lines += [
            f"- {connections} conns, against the default: h11 {_compared(option['h11'], default)}"
            f"; httptools without the cap {_compared(option['uncapped'], default)}; asyncio's "
            f"loop {_compared(option['asyncio'], default)}; h11 on asyncio "
            f"{_compared(option['h11_asyncio'], default)}",
        ]
    with_ns, without_ns = result.cap_ns["with_ns"], result.cap_ns["without_ns"]
    share = (with_ns - without_ns) / 1000 / results["default"][max(results["default"])].cpu_us
    lines.append(
        f"- the cap's own code, in-process with uvicorn's methods under it stubbed out: "
        f"{with_ns:,.0f} ns a request with it, {without_ns:,.0f} ns without: {share:.3%} of "
        "the default's CPU per request"
    )
    return lines
