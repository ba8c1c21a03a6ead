"""A misbehaving upstream for end-to-end tests: HTTP/1.1 on 127.0.0.1, standard library only.

Run as a script, it binds two free ports, prints `PORT <n> STATS <m>` and serves until SIGTERM
or SIGINT. On the first, `GET /items/<id>` behaves as MODES says for `id % 10`. On the second,
`GET /stats` reports the connections open on the first now and at most, so a test can tell
whether a client leaks connections without its own connection being counted.
"""

import asyncio
import contextlib
import json
import signal
import sys

MODES = {
    0: "ok",
    1: "ok",
    2: "status-500",
    3: "not-json",
    4: "cut-short",
    5: "too-large",
    6: "slow-body",
    7: "hang",
    8: "too-large-chunked",
    9: "ok",
}
# Bigger than any body cap the tests give the service.
LARGE_BODY_BYTES = 1_048_576
# "slow-body" sends its 100 bytes one at a time this far apart: 50 s in all, far past any
# timeout the tests give the service, so that no delay on a busy machine turns it into a 200.
SLOW_BYTE_SECONDS = 0.5
HEAD_LIMIT = 65_536


class Stats:
    """Connections open now, at most, and in all."""

    def __init__(self) -> None:
        self.open = 0
        self.max_open = 0
        self.accepted = 0

    def as_json(self) -> bytes:
        return json.dumps(
            {"open": self.open, "max_open": self.max_open, "accepted": self.accepted}
        ).encode()


def _head(status: str, content_type: str, length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}"]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _json(status: str, body: bytes) -> bytes:
    return _head(status, "application/json", len(body)) + body


async def _answer(
    path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stats: Stats
) -> bool:
    """Answer one request; False when the connection must close afterwards."""
    item_id = path.removeprefix("/items/")
    if not path.startswith("/items/") or not item_id.isdigit():
        writer.write(_json("404 Not Found", b'{"detail": "no such path"}'))
        return True
    number = int(item_id)
    mode = MODES[number % 10]
    if mode == "ok":
        writer.write(_json("200 OK", json.dumps({"id": number, "name": f"item {number}"}).encode()))
    elif mode == "status-500":
        writer.write(_json("500 Internal Server Error", b'{"detail": "upstream broke"}'))
    elif mode == "not-json":
        body = b"<html>not json</html>"
        writer.write(_head("200 OK", "text/html", len(body)) + body)
    elif mode == "too-large":
        writer.write(_json("200 OK", b'"' + b"x" * LARGE_BODY_BYTES + b'"'))
    elif mode == "too-large-chunked":
        writer.write(_head("200 OK", "application/json", None))
        chunk = b"x" * 65_536
        for _ in range(LARGE_BODY_BYTES // len(chunk)):
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")
    elif mode == "cut-short":
        writer.write(_head("200 OK", "application/json", 100) + b'{"id": 4, "na')
        return False
    elif mode == "slow-body":
        writer.write(_head("200 OK", "application/json", 100))
        for _ in range(100):
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(SLOW_BYTE_SECONDS)
    else:  # hang: the request was read, and no answer will ever come
        await reader.read()
        return False
    return True


async def _serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stats: Stats
) -> None:
    stats.open += 1
    stats.accepted += 1
    stats.max_open = max(stats.max_open, stats.open)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode("ascii", "replace")
            keep_open = await _answer(path, reader, writer, stats)
            await writer.drain()
            if not keep_open:
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, IndexError):
        pass
    finally:
        stats.open -= 1
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _serve_stats(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stats: Stats
) -> None:
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(_json("200 OK", stats.as_json()))
        await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def main() -> None:
    """Serve on two free loopback ports until SIGTERM or SIGINT."""
    stats = Stats()
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(r, w, stats), "127.0.0.1", 0, limit=HEAD_LIMIT
    )
    stats_server = await asyncio.start_server(
        lambda r, w: _serve_stats(r, w, stats), "127.0.0.1", 0, limit=HEAD_LIMIT
    )
    port = server.sockets[0].getsockname()[1]
    stats_port = stats_server.sockets[0].getsockname()[1]
    print(f"PORT {port} STATS {stats_port}", flush=True)  # noqa: T201 - how the test learns them
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server, stats_server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
