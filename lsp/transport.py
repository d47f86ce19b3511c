"""Byte streams to `StarassistProtocol.handle_frame`, on stdio or one TCP connection at a time.

Replaces pygls's `start_io`/`start_tcp` loops, which cannot resynchronise a broken stream, hand a whole
announced length to `read()`, and let every TCP connection share (and steal) one session's writer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from typing import Any, BinaryIO

from pygls.io_ import StdoutWriter

from .framing import FrameDecoder, encode
from .protocol import StarassistProtocol

logger = logging.getLogger("starassist.lsp")

READ_SIZE = 65536
QUIET_S = 0.3  # no bytes for this long mid-body: check whether the announced length was too long


async def pump(reader: asyncio.StreamReader, protocol: StarassistProtocol, decoder: FrameDecoder | None = None) -> None:
    """Read frames until EOF and hand them to the protocol, one event at a time, never raising."""
    decoder = decoder or FrameDecoder()
    while True:
        if decoder.buffered:
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), QUIET_S)
            except asyncio.TimeoutError:
                events = decoder.stale()
                data = None
        else:
            data = await reader.read(READ_SIZE)
        if data is not None:
            if not data:
                return
            events = decoder.feed(data)
        for event in events:
            try:
                protocol.handle_frame(event)
            except Exception as exc:  # noqa: BLE001 - the reader must outlive any one message
                logger.warning("could not handle a message: %s", f"{exc.__class__.__name__}: {exc}".splitlines()[0])


def _stdin_reader(stdin: BinaryIO, loop: asyncio.AbstractEventLoop) -> asyncio.StreamReader:
    """A StreamReader fed by a thread doing plain blocking reads (works for pipes, files and terminals)."""
    reader = asyncio.StreamReader(limit=2**31 - 1, loop=loop)
    fd = stdin.fileno()

    def run() -> None:
        while True:
            try:
                chunk = os.read(fd, READ_SIZE)
            except OSError:
                chunk = b""
            try:
                loop.call_soon_threadsafe(reader.feed_data if chunk else (lambda _c: reader.feed_eof()), chunk)
            except RuntimeError:
                return  # the loop is closed
            if not chunk:
                return

    threading.Thread(target=run, name="starassist-stdin", daemon=True).start()
    return reader


async def _until_exit(protocol: StarassistProtocol, reader: asyncio.StreamReader) -> None:
    task = asyncio.ensure_future(pump(reader, protocol))
    protocol.on_exit = task.cancel
    try:
        await task
    except asyncio.CancelledError:
        pass  # `exit`


def run_stdio(protocol: StarassistProtocol, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
    """Serve on stdio until `exit` or EOF. Returns the process exit code."""

    async def main() -> None:
        protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        await _until_exit(protocol, _stdin_reader(stdin or sys.stdin.buffer, asyncio.get_running_loop()))

    try:
        asyncio.run(main())
    except BrokenPipeError:
        logger.warning("the client closed the connection")
    return protocol.exit_code or 0


def refusal(message: str) -> bytes:
    """What a second TCP client gets before the connection is closed: one `window/showMessage`."""
    note = {"jsonrpc": "2.0", "method": "window/showMessage",
            "params": {"type": 1, "message": f"starassist: {message}"}}
    import json

    return encode(json.dumps(note).encode())


def run_tcp(protocol: StarassistProtocol, host: str, port: int) -> int:
    """Serve one client on HOST:PORT; a second one while the first is connected is told why and closed
    (a session's documents, settings and answers belong to one editor). Returns the exit code."""

    async def main() -> None:
        done = asyncio.Event()
        busy = False

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal busy
            if busy:
                writer.write(refusal(f"another editor is connected to {host}:{port}; start a second "
                                     "`starassist lsp --tcp HOST:PORT` on another port for this one"))
                await writer.drain()
                writer.close()
                return
            busy = True
            protocol.set_writer(writer)  # type: ignore[arg-type]
            try:
                await _until_exit(protocol, reader)
            finally:
                done.set()

        server: Any = await asyncio.start_server(connection, host, port, limit=2**31 - 1)
        async with server:
            await done.wait()

    asyncio.run(main())
    return protocol.exit_code or 0
