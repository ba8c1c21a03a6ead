"""A small HTTP/1.1 load generator over keep-alive connections, standard library only."""

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    """What became of one request.

    `status` is None when the connection closed or was refused before any byte of an
    answer arrived; `partial` is True when an answer started and then broke off. `seconds`
    is the time from sending the request to the end of its answer, as the client saw it.
    """

    target: str
    status: int | None
    body: bytes = b""
    partial: bool = False
    seconds: float = 0.0

    def json(self) -> object:
        """The body, decoded."""
        return json.loads(self.body)


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server will close the connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection", "").lower() == "close"


async def run_load(  # noqa: PLR0913 - the knobs of one load, given by keyword
    port: int,
    targets: Sequence[str],
    *,
    concurrency: int,
    deadline_seconds: float,
    on_progress: Callable[[int], None] | None = None,
    until: Callable[[], bool] | None = None,
) -> list[Outcome]:
    """GET every target from 127.0.0.1:`port`, `concurrency` at a time, within the deadline;
    with `until`, stop taking new targets as soon as it returns True."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for target in targets:
        queue.put_nowait(target)
    outcomes: list[Outcome] = []

    async def worker() -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while not queue.empty() and not (until is not None and until()):
            target = queue.get_nowait()
            try:
                if connection is None:
                    connection = await asyncio.open_connection("127.0.0.1", port)
                reader, writer = connection
                sent = time.monotonic()
                writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                await writer.drain()
            except ConnectionError:
                outcomes.append(Outcome(target, None))
                await _close(connection)
                connection = None
                continue
            try:
                status, body, closing = await _read_answer(reader)
            except asyncio.IncompleteReadError as exc:
                outcomes.append(Outcome(target, None, partial=bool(exc.partial)))
                await _close(connection)
                connection = None
                continue
            except ConnectionError:
                outcomes.append(Outcome(target, None))
                await _close(connection)
                connection = None
                continue
            outcomes.append(Outcome(target, status, body, seconds=time.monotonic() - sent))
            if on_progress is not None:
                on_progress(len(outcomes))
            if closing:
                await _close(connection)
                connection = None
        await _close(connection)

    started = time.monotonic()
    async with asyncio.timeout(deadline_seconds):
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    assert time.monotonic() - started <= deadline_seconds
    return outcomes


async def _close(connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
    """Close the connection, if any; the caller then holds None."""
    if connection is not None:
        writer = connection[1]
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
