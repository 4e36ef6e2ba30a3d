"""Server-sent event streams that poll the database: the live timeline and the bell.

Polling keeps every web process equal (no pub/sub to miss a message, and the embedded
SQLite default works the same); a stream ends after its lifetime and the browser reconnects,
so a deploy never strands one.

A stream lives for minutes and there may be hundreds per process, so it holds no database
connection between polls: each poll takes one (from the pool where DATABASE_POOL is on) and
gives it back in the same thread before it returns, and at most LIVE_STREAM_DB_SLOTS polls of
a process run at once, so the rest of the pool always serves pages, webhooks and /health.
"""

import asyncio
import time
import weakref

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import StreamingHttpResponse

KEEPALIVE_SECONDS = 15
LIFETIME_SECONDS = 300

log = structlog.get_logger(__name__)
_slots_by_loop = weakref.WeakKeyDictionary()


def _slots() -> asyncio.Semaphore:
    """The process's poll slots, one semaphore per event loop (tests run several loops)."""
    loop = asyncio.get_running_loop()
    slots = _slots_by_loop.get(loop)
    if slots is None:
        slots = _slots_by_loop[loop] = asyncio.Semaphore(settings.LIVE_STREAM_DB_SLOTS)
    return slots


def db_slot() -> asyncio.Semaphore:
    """`async with db_slot():` around a stream's database reads, one of the process's
    LIVE_STREAM_DB_SLOTS."""
    return _slots()


def release_connection():
    """Give this thread's database connection back (to the pool, where there is one). Inside
    an atomic block the connection is not the stream's to close (a test's transaction)."""
    if not connection.in_atomic_block:
        connection.close()


def _poll_once(poll):
    try:
        return poll()
    finally:
        release_connection()


def event(name: str, html: str, *, id=None) -> str:
    """One SSE message carrying HTML: a data line per line, which the browser joins back."""
    data = "\n".join(f"data: {line}" for line in html.strip().splitlines())
    head = f"id: {id}\n" if id is not None else ""
    return f"{head}event: {name}\n{data}\n\n"


async def polling(poll, *, poll_seconds, retry_ms, comment="", on_close=None):
    """Yield what the synchronous `poll()` returns ("" for nothing, None to end the stream)
    every `poll_seconds`, a keep-alive when quiet, until the lifetime is over or the client
    goes. `on_close` runs at the end, however the stream ends; a closed tab is routine and
    logs nothing above debug.

    The connection the view used before the stream began (signing in, the access check) is
    given back first; each poll then borrows one and gives it back in its own thread, which
    is the only thread allowed to close it."""
    started = last_sent = time.monotonic()
    await sync_to_async(release_connection)()
    yield f"retry: {retry_ms}\n" + (f": {comment}\n" if comment else "") + "\n"
    try:
        while time.monotonic() - started < LIFETIME_SECONDS:
            async with _slots():
                chunk = await sync_to_async(_poll_once)(poll)
            if chunk is None:  # the poll says the stream is over (e.g. access was removed)
                return
            if chunk:
                yield chunk
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
            await asyncio.sleep(poll_seconds)
    except (asyncio.CancelledError, GeneratorExit, OSError):
        log.debug("live_stream.client_gone")
        raise
    finally:
        if on_close:
            on_close()


def response(stream) -> StreamingHttpResponse:
    result = StreamingHttpResponse(stream, content_type="text/event-stream")
    result["Cache-Control"] = "no-cache"
    result["X-Accel-Buffering"] = "no"  # proxies must pass each message on at once
    return result
