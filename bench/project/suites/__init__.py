"""Test modules the benchmarks copy into a rendered project's `tests/` (as
`test_bench_<name>.py`) and time there, under the project's own conftest and configuration.

`health_*`: part 1, the same `GET /health` test written with each client style. `notes_*`:
part 4, the same create-and-read test under each way of keeping tests apart. Each test is
parametrized `BENCH_TESTS` times (500 by default), so a module is a suite of that many tests.
`durations` is a plugin that records each test's setup, call and teardown.
"""
