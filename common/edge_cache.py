"""A small shared cache at the ASGI edge for answers that say they are public.

A GET under one of `prefixes` is answered from this process's memory when an answer to the
same host, address and request headers it may vary on (cookies, HTMX, encoding) came back
200 with `Cache-Control: public, max-age=N` and no cookie set, less than `seconds` ago (at
most N). Nothing enters Django then: no
middleware, no thread hop, no query. Everything else passes through untouched. It is what a
caching proxy in front of Vigil would do, kept to a second or two so a process never lags
the shared cache behind it by more than that.
"""

import re
import time

MAX_AGE = re.compile(rb"max-age=(\d+)")
# The request headers an answer may vary on and still be kept (each is part of the key).
KEYED = (b"cookie", b"hx-request", b"accept-encoding")
# How long past its time an answer may still be served while it is being fetched again.
STALE_SECONDS = 5.0


class PublicEdgeCache:
    def __init__(
        self, app, *, prefixes: tuple[str, ...], seconds: float, entries: int = 128, clock=None
    ):
        self.app = app
        self.clock = clock or time.monotonic
        self.prefixes = prefixes
        self.seconds = seconds
        self.entries = entries
        self.kept: dict[tuple, tuple[float, dict, list[bytes]]] = {}
        # Addresses being fetched again: meanwhile their last answer is served, so the
        # moment an entry expires under load only one request per process goes to Django.
        self.refreshing: set[tuple] = set()

    def _key(self, scope):
        headers = dict(scope.get("headers") or [])
        return (
            headers.get(b"host", b""),
            scope.get("path", ""),
            scope.get("query_string", b""),
            *(headers.get(name, b"") for name in KEYED),
        )

    async def __call__(self, scope, receive, send):
        if (
            self.seconds <= 0
            or scope["type"] != "http"
            or scope.get("method") not in ("GET", "HEAD")
            or not scope.get("path", "").startswith(self.prefixes)
        ):
            return await self.app(scope, receive, send)
        key = self._key(scope)
        now = self.clock()
        kept = self.kept.get(key)
        fresh = kept is not None and kept[0] > now
        stale_ok = kept is not None and key in self.refreshing and kept[0] + STALE_SECONDS > now
        if fresh or stale_ok:
            _, start, body = kept
            await send(start)
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            await send({"type": "http.response.body", "body": b"".join(body)})
            return
        if scope["method"] == "HEAD":
            return await self.app(scope, receive, send)

        start, body, keep = None, [], True

        async def capture(message):
            nonlocal start, keep
            if message["type"] == "http.response.start":
                start = message
                keep = self._keepable(message)
            elif message["type"] == "http.response.body" and keep:
                body.append(message.get("body", b""))
            await send(message)

        self.refreshing.add(key)
        try:
            await self.app(scope, receive, capture)
        finally:
            self.refreshing.discard(key)
        if start is not None and keep:
            ttl = min(self.seconds, self._max_age(start))
            if ttl > 0:
                if len(self.kept) >= self.entries:
                    self.kept.clear()  # a flood of distinct addresses: start again
                self.kept[key] = (self.clock() + ttl, start, body)

    @staticmethod
    def _keepable(start) -> bool:
        if start.get("status") != 200:
            return False
        headers = {name.lower(): value for name, value in start.get("headers", [])}
        control = headers.get(b"cache-control", b"").lower()
        if b"public" not in control or b"no-store" in control or b"private" in control:
            return False
        if b"set-cookie" in headers:
            return False
        vary = {v.strip() for v in headers.get(b"vary", b"").lower().split(b",") if v.strip()}
        return vary <= set(KEYED)

    @staticmethod
    def _max_age(start) -> float:
        for name, value in start.get("headers", []):
            if name.lower() == b"cache-control":
                found = MAX_AGE.search(value.lower())
                return float(found[1]) if found else 0.0
        return 0.0
