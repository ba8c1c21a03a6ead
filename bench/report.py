"""The table `make bench` prints: every figure and ratio from one run, with the targets."""

from collections.abc import Iterable, Sequence

from . import cpu_profile
from .check_cost import CheckCost
from .common import median
from .database import ISOLATIONS, DatabaseResult
from .database import TARGETS as DATABASE_TARGETS
from .loadgen import Load
from .observability import VARIANTS as OBSERVABILITY_VARIANTS
from .observability import ObservabilityResult
from .suite_overhead import TESTCLIENT_FILTER, SuiteResult
from .throughput import TARGETS, ThroughputResult
from .upstream_calls import (
    PROFILE_SECONDS,
    PROFILED,
    PROXIES,
    RETRY_PAIR,
    UpstreamResult,
)
from .upstream_down import FAULTS

FAST_TIER_TARGET = 60.0
RENDER_TARGET = 1.0
GREEN_TARGET = 20.0
TESTCLIENT_RATIO_TARGET = 4.0
FLOOR_RATIO_TARGET = 2.0
PER_REQUEST_RATIO_TARGET = 3.0
# The hop through the proxy, measured unloaded (one connection): below a millisecond.
ADDED_P50_TARGET_MS = 1.0
TRUNCATE_RATIO_TARGET = 3.0
RECREATE_RATIO_TARGET = 10.0
DATABASE_ADDED_TARGET_MS = 2.0
POOL_RATIO_TARGET = 3.0
POSTGRES_GREEN_TARGET = 30.0
# What each layer of observability may cost: the rate it keeps of the one before it.
KEPT_SHARE_TARGET = 0.90
# What the retry layer may cost a call that succeeds at once, as a share of the rate.
RETRY_COST_TARGET = 0.03
# The template's rate as a share of a bare Starlette proxy's.
FLOOR_SHARE_TARGET = 0.80
# A call to an upstream that is down ends by its deadline, plus the service's own work.
DEADLINE_RATIO_TARGET = 1.05


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _load_row(label: str, connections: int, load: Load, baseline: Load) -> list[str]:
    """One row of a throughput table: the figures of `load`, and `baseline`'s rate over its."""
    return [
        label,
        str(connections),
        f"{load.requests_per_second:,.0f}",
        f"{load.p50_ms:.2f}",
        f"{load.p99_ms:.2f}",
        str(load.errors),
        f"{baseline.requests_per_second / load.requests_per_second:.2f}x",
    ]


def suite_section(results: dict[str, SuiteResult], tests: int) -> list[str]:
    """Per-test overhead over the no-op baseline, ratios and the two targets."""
    baseline = results["noop"].median
    overhead = {key: (r.median - baseline) / tests * 1000 for key, r in results.items()}
    runs = len(results["noop"].times)
    lines = [
        f"### 1. Test-suite overhead: {tests} GET /health tests, one pytest process each, "
        f"median of {runs} runs",
        "",
    ]
    rows = []
    for key, result in results.items():
        ratio = "" if key == "noop" else f"{overhead[key] / overhead['a']:.2f}x"
        per_test = "0 (baseline)" if key == "noop" else f"{overhead[key]:.3f}"
        rows.append([result.variant.label, f"{result.median:.2f}", per_test, ratio])
    lines += _table(["variant", "wall s", "overhead ms/test", "overhead vs (a)"], rows)
    vs_testclient = overhead["c"] / overhead["a"]
    vs_floor = overhead["a"] / overhead["floor"]
    lines += [
        "",
        f"- (c) / (a) = {vs_testclient:.2f}x (target >= {TESTCLIENT_RATIO_TARGET:g}x): "
        f"{_verdict(vs_testclient >= TESTCLIENT_RATIO_TARGET)}",
        f"- (a) / floor = {vs_floor:.2f}x (target <= {FLOOR_RATIO_TARGET:g}x): "
        f"{_verdict(vs_floor <= FLOOR_RATIO_TARGET)}",
        f"- (b) / (a) = {overhead['b'] / overhead['a']:.2f}x, "
        f"(d) / (c) = {overhead['d'] / overhead['c']:.2f}x",
        f"- (c) and (d) ran with `-W {TESTCLIENT_FILTER}` (importing starlette.testclient with "
        "httpx warns, and the project turns warnings into errors); otherwise every variant ran "
        "under the generated project's own pytest configuration.",
    ]
    return lines


def throughput_section(result: ThroughputResult) -> list[str]:
    """Requests/s, p50 and p99 per target and concurrency; ratios and the targets."""
    lines = [
        f"### 2. Service throughput: GET /items/1 through real uvicorn, {result.generator}; "
        f"median of {result.rounds} interleaved {result.duration:g} s runs, after a warm-up",
        "",
    ]
    loads = result.loads
    rows = []
    for target in TARGETS:
        if target.key not in loads:
            continue  # the TLS targets, when openssl could not make a certificate
        for connections in result.concurrencies:
            load = loads[target.key][connections]
            rows.append(
                _load_row(target.label, connections, load, loads[target.baseline][connections])
            )
    header = ["target", "conns", "req/s", "p50 ms", "p99 ms", "errors", "template ÷ this"]
    lines += _table(header, rows)
    lines.append("")
    for connections in result.concurrencies:
        template = loads["template"][connections]
        per_request = loads["per_request"][connections]
        via_httpx = loads["httpx"][connections]
        ceiling = loads["ceiling"][connections]
        ratio = template.requests_per_second / per_request.requests_per_second
        ahead = template.requests_per_second / via_httpx.requests_per_second
        added = template.p50_ms - ceiling.p50_ms
        lines.append(
            f"- {connections} conns: template / per-request = {ratio:.2f}x "
            f"(target >= {PER_REQUEST_RATIO_TARGET:g}x: "
            f"{_verdict(ratio >= PER_REQUEST_RATIO_TARGET)}); "
            f"template / httpx = {ahead:.2f}x (target > 1x: {_verdict(ahead > 1)}); "
            f"added p50 = {added:.2f} ms over the ceiling's {ceiling.p50_ms:.2f} ms"
        )
        if "template_tls" in loads:
            over_tls = (
                loads["template_tls"][connections].requests_per_second
                / loads["per_request_tls"][connections].requests_per_second
            )
            lines[-1] += (
                f"; upstream over TLS: template / per-request = {over_tls:.2f}x "
                f"({_verdict(over_tls >= PER_REQUEST_RATIO_TARGET)})"
            )
    lowest = min(result.concurrencies)
    added = loads["template"][lowest].p50_ms - loads["ceiling"][lowest].p50_ms
    lines.append(
        f"- added p50 at {lowest} conn(s), the proxy hop itself: {added:.2f} ms "
        f"(target <= {ADDED_P50_TARGET_MS:g} ms: {_verdict(added <= ADDED_P50_TARGET_MS)}); "
        "at higher concurrency the p50 is mostly queueing (connections ÷ req/s)."
    )
    return lines


def check_section(cost: CheckCost) -> list[str]:
    """Wall times of the template's checks, with their targets."""
    renders = ", ".join(f"{seconds:.2f}" for seconds in cost.render_times)
    fast = _verdict(cost.test_fast < FAST_TIER_TARGET)
    if cost.test_fast_exit != 0:
        fast = f"FAILED (exit {cost.test_fast_exit}): the time is not meaningful"
    slow = "" if cost.test_slow_exit == 0 else f"FAILED (exit {cost.test_slow_exit})"
    one = _verdict(cost.render < RENDER_TARGET)
    green = _verdict(cost.render_to_green < GREEN_TARGET)
    rows = [
        ["make test-fast", f"{cost.test_fast:.1f}", f"< {FAST_TIER_TARGET:g} s", fast],
        ["make test-slow", f"{cost.test_slow:.1f}", "(none)", slow],
        [f"render (median of {renders})", f"{cost.render:.2f}", f"< {RENDER_TARGET:g} s", one],
        ["render-to-green", f"{cost.render_to_green:.1f}", f"< {GREEN_TARGET:g} s", green],
    ]
    return [
        "### 3. Cost of the template's own checks",
        "",
        *_table(["check", "seconds", "target", ""], rows),
        "",
        "- render-to-green: a fresh render, `uv sync` with uv's cache warm, then pytest.",
    ]


def database_section(result: DatabaseResult) -> list[str]:
    """Isolation cost per test, pool against a connection per request, render-to-green."""
    per_test = {isolation.key: result.per_test_ms(isolation.key) for isolation in ISOLATIONS}
    lines = [
        f"### 4. Database (database=postgres): isolation cost per test, {result.tests} tests "
        f"per file, median of {result.runs} shuffled runs",
        "",
    ]
    rows = []
    for isolation in ISOLATIONS:
        wall = median(result.walls[isolation.key])
        ratio = per_test[isolation.key] / per_test["default"]
        rows.append(
            [isolation.label, f"{wall:.2f}", f"{per_test[isolation.key]:.2f}", f"{ratio:.2f}x"]
        )
    lines += _table(["isolation", "wall s", "ms per test", "vs default"], rows)
    # What keeping tests apart costs: each way's time over the same test with none at all.
    cost = {key: per_test[key] - per_test["bare"] for key in ("default", "truncate", "recreate")}
    truncate = cost["truncate"] / cost["default"]
    recreate = cost["recreate"] / cost["default"]
    added = per_test["default"] - per_test["none"]
    lines += [
        "",
        f"- isolation alone (each way minus no isolation): default {cost['default']:.2f} ms, "
        f"TRUNCATE {cost['truncate']:.2f} ms, recreate {cost['recreate']:.2f} ms per test",
        f"- TRUNCATE / default = {truncate:.2f}x (target >= {TRUNCATE_RATIO_TARGET:g}x: "
        f"{_verdict(truncate >= TRUNCATE_RATIO_TARGET)})",
        f"- recreate / default = {recreate:.2f}x (target >= {RECREATE_RATIO_TARGET:g}x: "
        f"{_verdict(recreate >= RECREATE_RATIO_TARGET)})",
        f"- default - no database = {added:.2f} ms per test (target <= "
        f"{DATABASE_ADDED_TARGET_MS:g} ms: {_verdict(added <= DATABASE_ADDED_TARGET_MS)}), of "
        f"which the isolation {cost['default']:.2f} ms and the two requests' own database "
        f"work {per_test['bare'] - per_test['none']:.2f} ms",
        "",
        f"GET /notes/1 through real uvicorn, {result.generator}; median of {result.rounds} "
        f"interleaved {result.duration:g} s runs, after a warm-up",
        "",
    ]
    rows = []
    for key, (label, _) in DATABASE_TARGETS.items():
        for connections in result.concurrencies:
            load = result.loads[key][connections]
            rows.append(_load_row(label, connections, load, result.loads["pool"][connections]))
    header = ["target", "conns", "req/s", "p50 ms", "p99 ms", "errors", "pool ÷ this"]
    lines += _table(header, rows)
    lines.append("")
    for connections in result.concurrencies:
        ratio = (
            result.loads["pool"][connections].requests_per_second
            / result.loads["per_request"][connections].requests_per_second
        )
        lines.append(
            f"- {connections} conns: pool / connection per request = {ratio:.2f}x "
            f"(target >= {POOL_RATIO_TARGET:g}x: {_verdict(ratio >= POOL_RATIO_TARGET)})"
        )
    green = result.render_to_green
    lines.append(
        f"- render-to-green with the database (warm uv cache, PostgreSQL's start included): "
        f"{green:.1f} s (target < {POSTGRES_GREEN_TARGET:g} s: "
        f"{_verdict(green < POSTGRES_GREEN_TARGET)})"
    )
    return lines


def observability_section(result: ObservabilityResult) -> list[str]:
    """Throughput as logging, metrics and tracing are added, each against the one before."""
    lines = [
        f"### 5. Observability: GET /items/1 through real uvicorn with its access log, "
        f"{result.generator}; median of {result.rounds} interleaved {result.duration:g} s "
        "runs, after a warm-up",
        "",
    ]
    rows = []
    previous = None
    for variant in OBSERVABILITY_VARIANTS:
        for connections in result.concurrencies:
            load = result.loads[variant.key][connections]
            baseline = result.loads[(previous or variant).key][connections]
            rows.append(_load_row(variant.label, connections, load, baseline))
        previous = variant
    header = ["variant", "conns", "req/s", "p50 ms", "p99 ms", "errors", "previous ÷ this"]
    lines += _table(header, rows)
    lines.append("")
    for connections in result.concurrencies:
        rate = {key: loads[connections].requests_per_second for key, loads in result.loads.items()}
        logging_share = rate["logging"] / rate["before"]
        metrics_share = rate["metrics"] / rate["logging"]
        lines.append(
            f"- {connections} conns: logging keeps {logging_share:.1%} of the rate before it "
            f"(target >= {KEPT_SHARE_TARGET:.0%}: {_verdict(logging_share >= KEPT_SHARE_TARGET)})"
            f"; metrics keep {metrics_share:.1%} of that (target >= {KEPT_SHARE_TARGET:.0%}: "
            f"{_verdict(metrics_share >= KEPT_SHARE_TARGET)}); tracing keeps "
            f"{rate['tracing'] / rate['metrics']:.1%} with no exporter, "
            f"{rate['exporting'] / rate['metrics']:.1%} exporting"
        )
    return lines


def _rate(load: Load) -> float:
    return load.requests_per_second


def upstream_section(result: UpstreamResult) -> list[str]:
    """Part 6: the retry layer's cost, the floor, the upstream down, and the CPU profiles."""
    main = result.concurrencies[0]
    lines = [
        f"### 6. Upstream calls: GET /items/1 through real uvicorn, {result.generator}; median "
        f"of {result.main_rounds} interleaved {result.duration:g} s runs at {main} connections "
        f"({result.rounds} at the others), after a warm-up",
        "",
    ]
    loads, cpu = result.loads, result.cpu_us
    rows = []
    for proxy in PROXIES:
        for connections in sorted(loads[proxy.key]):
            load = loads[proxy.key][connections]
            baseline = loads[proxy.baseline].get(connections)
            row = _load_row(proxy.label, connections, load, baseline or load)
            if baseline is None:  # the baseline was not loaded at this concurrency
                row[-1] = ""
            rows.append([*row, f"{cpu[proxy.key][connections]:,.0f}"])
    header = ["target", "conns", "req/s", "p50 ms", "p99 ms", "errors", "baseline ÷ this"]
    lines += _table([*header, "CPU µs/request"], rows)
    lines += [
        "",
        "The one-attempt rows compare with the overridden twin, the others with the template.",
        "",
    ]
    retrying, one_attempt = RETRY_PAIR
    kept = 1 - RETRY_COST_TARGET
    for connections in sorted(result.concurrencies):
        ratio = _rate(loads[retrying][connections]) / _rate(loads[one_attempt][connections])
        added = cpu[retrying][connections] / cpu[one_attempt][connections] - 1
        lines.append(
            f"- the retry layer at {connections} conns: with ÷ without = {ratio:.3f} by "
            f"rate (target >= {kept:.2f}, a cost of at most {RETRY_COST_TARGET:.0%}: "
            f"{_verdict(ratio >= kept)}); CPU per request {added:+.1%} (target <= "
            f"+{RETRY_COST_TARGET:.0%}: {_verdict(added <= RETRY_COST_TARGET)})"
        )
        if connections == main:
            by_rate = sorted(
                _rate(round_[retrying]) / _rate(round_[one_attempt])
                for round_ in result.rounds_at_main
            )
            by_cpu = sorted(
                round_[retrying] / round_[one_attempt] - 1 for round_ in result.cpu_rounds_at_main
            )
            lines[-1] += (
                f"; round by round {by_rate[0]:.3f} to {by_rate[-1]:.3f} by rate, "
                f"{by_cpu[0]:+.1%} to {by_cpu[-1]:+.1%} by CPU (the spread is noise: the two "
                "differ only by the retry layer)"
            )
    with_ns, without_ns = result.retry_ns["with_ns"], result.retry_ns["without_ns"]
    per_request = (with_ns - without_ns) / 1000 / cpu["template"][main]
    lines.append(
        f"- the retry layer's own code, timed in-process with the attempt stubbed out: "
        f"{with_ns:,.0f} ns a call with it, {without_ns:,.0f} ns without, "
        f"{with_ns - without_ns:+,.0f} ns: {per_request:.3%} of the template's CPU per request "
        f"(target <= {RETRY_COST_TARGET:.0%}: {_verdict(per_request <= RETRY_COST_TARGET)})"
    )
    share = _rate(loads["template"][main]) / _rate(loads["floor"][main])
    override = _rate(loads["template"][main]) / _rate(loads[retrying][main])
    lines += [
        f"- FastAPI's dependency override itself at {main} conns (a test's tool, not the "
        f"template's): template ÷ overridden = {override:.3f} by rate, "
        f"{cpu[retrying][main] / cpu['template'][main] - 1:+.1%} CPU per request once any "
        "override is set (FastAPI rebuilds each sub-dependency on every request)",
        f"- the template's structure at {main} conns: it keeps {share:.1%} of the bare "
        f"Starlette floor's rate (target >= {FLOOR_SHARE_TARGET:.0%}: "
        f"{_verdict(share >= FLOOR_SHARE_TARGET)}), at "
        f"{cpu['template'][main] / cpu['floor'][main]:.2f}x its CPU per request; the floor "
        f"keeps {_rate(loads['floor'][main]) / _rate(loads['upstream'][main]):.1%} of the "
        "upstream's own rate",
        "",
        *_faults(result, main),
        "",
        *_profiles(result, main),
    ]
    return lines


def _faults(result: UpstreamResult, connections: int) -> list[str]:
    lines = [
        f"The upstream down: the template at {connections} connections, with real backoff "
        "(stamina's testing mode is off in a served app); attempts as the upstream counted them.",
        "",
    ]
    rows = []
    for fault in FAULTS:
        measured = result.faults[fault.mode]
        load = measured.load
        per_request = measured.attempts / measured.requests if measured.requests else 0.0
        limits = (
            f"deadline {fault.deadline:g} s, {fault.attempt_timeout:g} s an attempt, "
            f"{fault.attempts} attempts"
        )
        rows.append(
            [
                fault.label,
                limits,
                measured.answer,
                str(load.requests),
                f"{load.p50_ms:,.0f}",
                f"{load.p99_ms:,.0f}",
                f"{load.p99_ms / 1000 / fault.deadline:.2f}",
                f"{per_request:.2f}",
            ]
        )
    header = ["upstream", "limits", "answer", "answers", "p50 ms", "p99 ms", "p99 ÷ deadline"]
    lines += _table([*header, "attempts per request"], rows)
    worst = max(result.faults[f.mode].load.p99_ms / 1000 / f.deadline for f in FAULTS)
    lines += [
        "",
        f"- every p99 within its deadline (p99 ÷ deadline <= {DEADLINE_RATIO_TARGET:g}: the "
        f"deadline plus the service's own work): {_verdict(worst <= DEADLINE_RATIO_TARGET)}",
    ]
    return lines


def _profiles(result: UpstreamResult, connections: int) -> list[str]:
    template, floor = (result.profiles.get(key) for key in PROFILED)
    if not isinstance(template, cpu_profile.Profile):
        return [f"Where the template's CPU goes: no profile ({template or 'not run'})."]
    lines = [
        f"Where the template's CPU goes: py-spy at {cpu_profile.RATE} Hz for "
        f"{PROFILE_SECONDS:g} s under {connections} connections ({template.samples:,} samples "
        "in which it ran), each sample counted for the code running then; CPU per request "
        "from /proc, shared out by the samples, beside the floor's:",
        "",
    ]
    rows = []
    for layer in [*cpu_profile.LAYERS, "all"]:
        if layer != "all" and not template.layers.get(layer):
            continue
        share = 1.0 if layer == "all" else template.share(layer)
        rows.append([layer, f"{share:.1%}", _us(template, layer), _us(floor, layer)])
    header = ["layer", "template: samples", "template: µs/request", "floor: µs/request"]
    lines += _table(header, rows)
    modules = sorted(template.template_modules.items(), key=lambda item: -item[1])
    split = ", ".join(f"{name} {count / template.samples:.1%}" for name, count in modules)
    lines += ["", f"- the template's modules one by one, in samples: {split or 'none sampled'}"]
    if isinstance(floor, str):
        lines.append(f"- the floor: no profile ({floor})")
    return lines


def _us(profile: cpu_profile.Profile | str | None, layer: str) -> str:
    if not isinstance(profile, cpu_profile.Profile) or profile.cpu_per_request_us is None:
        return ""
    if layer == "all":
        return f"{profile.cpu_per_request_us:,.0f}"
    cost = profile.per_request_us(layer)
    return "" if cost is None else f"{cost:,.0f}"
