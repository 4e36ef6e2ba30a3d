"""Refuse over-large request bodies at the ASGI edge, before Django reads them.

Django's ASGI handler reads the whole body (spooling it to disk past 2.5 MiB) before any
view runs, so a view's own size check comes after the bytes were taken in, and an
unauthenticated sender could make every web process spool 32 MiB per request. This wrapper
answers 413 from the declared Content-Length without reading a byte, and for chunked bodies
(no length) reads at most the limit before refusing. Limits are per path prefix: the alert
webhooks take far less than the pages do.
"""

import json


class BodySizeLimit:
    def __init__(self, app, *, default: int, prefixes: dict[str, int] | None = None):
        self.app = app
        self.default = default
        # Longest prefix first, so /alerts/webhook/ wins over /alerts/.
        self.prefixes = sorted((prefixes or {}).items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.prefixes:
            if path.startswith(prefix):
                return limit
        return self.default

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return await _refuse(scope, send, 400, "Content-Length is not a number.")
            if length > limit:
                return await _refuse(scope, send, 413, _too_large(limit))
            return await self.app(scope, receive, send)
        if b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            return await self.app(scope, receive, send)
        # A chunked body: take it in up to the limit, then hand it on as one message.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before the body was complete
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await _refuse(scope, send, 413, _too_large(limit))
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def _too_large(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"The body is over {limit // (1024 * 1024)} MiB."
    return f"The body is over {limit} bytes."


async def _refuse(scope, send, status: int, reason: str):
    """JSON for machine paths (webhooks, the API), plain text for pages."""
    path = scope.get("path", "")
    if "/webhook/" in path:
        body, content_type = json.dumps({"status": "error", "error": reason}), b"application/json"
    elif path.startswith("/api/"):
        body, content_type = json.dumps({"detail": reason}), b"application/json"
    else:
        body, content_type = reason, b"text/plain; charset=utf-8"
    payload = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
