"""A recording upstream for the jobs' end-to-end tests: HTTP/1.1 on 127.0.0.1, standard library.

Run as a script, it binds a free port, prints `PORT <n>` and serves until SIGTERM or SIGINT.
`GET /items/<n>` is answered `{"id": n, "name": "item n"}` after DELAY_SECONDS, so that
a worker's jobs are still in flight when the worker is stopped; each such request is counted
as it arrives. `GET /counts` answers the counts so far, as `{"<n>": requests}`.
"""

import asyncio
import collections
import contextlib
import json
import signal
import sys

# Long enough that a worker killed mid-run holds jobs whose request is out, short enough that
# 200 jobs take a second or two on two workers.
DELAY_SECONDS = 0.1
HEAD_LIMIT = 65_536


def _json(status: str, body: object) -> bytes:
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}"
    return head.encode() + b"\r\n\r\n" + data


async def _answer(path: str, counts: collections.Counter[int]) -> bytes:
    if path == "/counts":
        return _json("200 OK", {str(number): count for number, count in counts.items()})
    item_id = path.removeprefix("/items/")
    if not path.startswith("/items/") or not item_id.isdigit():
        return _json("404 Not Found", {"detail": "no such path"})
    number = int(item_id)
    counts[number] += 1
    await asyncio.sleep(DELAY_SECONDS)
    return _json("200 OK", {"id": number, "name": f"item {number}"})


async def _serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counts: collections.Counter[int]
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode("ascii", "replace")
            writer.write(await _answer(path, counts))
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, IndexError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def main() -> None:
    """Serve on a free loopback port until SIGTERM or SIGINT."""
    counts: collections.Counter[int] = collections.Counter()
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(r, w, counts), "127.0.0.1", 0, limit=HEAD_LIMIT
    )
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)  # noqa: T201 - how the test learns it
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
