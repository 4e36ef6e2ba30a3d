"""Server-sent event streams that poll the database: the live timeline and the bell.

Polling keeps every web process equal (no pub/sub to miss a message, and the embedded
SQLite default works the same); a stream ends after its lifetime and the browser reconnects,
so a deploy never strands one.
"""

import asyncio
import time

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import StreamingHttpResponse

KEEPALIVE_SECONDS = 15
LIFETIME_SECONDS = 300


def event(name: str, html: str, *, id=None) -> str:
    """One SSE message carrying HTML: a data line per line, which the browser joins back."""
    data = "\n".join(f"data: {line}" for line in html.strip().splitlines())
    head = f"id: {id}\n" if id is not None else ""
    return f"{head}event: {name}\n{data}\n\n"


async def polling(poll, *, poll_seconds, retry_ms, comment="", on_close=None):
    """Yield what the synchronous `poll()` returns ("" for nothing) every `poll_seconds`, a
    keep-alive when quiet, until the lifetime is over or the client goes. `on_close` runs
    at the end, then the thread's database connection is closed."""
    started = last_sent = time.monotonic()
    yield f"retry: {retry_ms}\n" + (f": {comment}\n" if comment else "") + "\n"
    try:
        while time.monotonic() - started < LIFETIME_SECONDS:
            chunk = await sync_to_async(poll)()
            if chunk:
                yield chunk
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
            await asyncio.sleep(poll_seconds)
    finally:
        if on_close:
            on_close()
        await sync_to_async(connection.close)()


def response(stream) -> StreamingHttpResponse:
    result = StreamingHttpResponse(stream, content_type="text/event-stream")
    result["Cache-Control"] = "no-cache"
    result["X-Accel-Buffering"] = "no"  # proxies must pass each message on at once
    return result
