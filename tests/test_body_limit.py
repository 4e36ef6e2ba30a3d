"""Over-large bodies are refused at the ASGI edge, before Django reads them or anyone signs in."""

import asyncio
import json
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from common.body_limit import BodySizeLimit

MIB = 1024 * 1024


class Inner:
    """An ASGI app that records whether it ran and what body reached it."""

    def __init__(self):
        self.called = False
        self.body = b""

    async def __call__(self, scope, receive, send):
        self.called = True
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def call(app, path, headers, chunks):
    """Run one request through `app`; returns (status, body, messages the app pulled)."""
    pulled = []
    queue = list(chunks)
    sent = []

    async def receive():
        pulled.append(True)
        if queue:
            body, more = queue.pop(0)
            return {"type": "http.request", "body": body, "more_body": more}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers}
    # In a thread of its own: in a full run Playwright's event loop runs in the main thread.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, app(scope, receive, send)).result()
    status = sent[0]["status"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return status, body, len(pulled)


def limited(inner):
    return BodySizeLimit(inner, default=4 * MIB, prefixes={"/alerts/webhook/": MIB})


def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body():
    inner = Inner()
    headers = [(b"content-length", str(50 * MIB).encode())]
    status, body, pulled = call(limited(inner), f"/alerts/webhook/{uuid.uuid4()}/", headers, [])
    assert status == 413
    assert json.loads(body) == {"status": "error", "error": "The body is over 1 MiB."}
    assert pulled == 0 and not inner.called


def test_pages_and_the_api_have_the_larger_limit():
    inner = Inner()
    headers = [(b"content-length", str(2 * MIB).encode())]
    status, _, _ = call(limited(inner), "/runbooks/new/", headers, [(b"x" * 2 * MIB, False)])
    assert status == 204 and inner.called
    status, body, _ = call(
        limited(Inner()), "/api/v1/incidents", [(b"content-length", str(5 * MIB).encode())], []
    )
    assert status == 413 and json.loads(body) == {"detail": "The body is over 4 MiB."}


def test_a_bad_content_length_is_a_400():
    status, _, _ = call(limited(Inner()), "/login/", [(b"content-length", b"lots")], [])
    assert status == 400


def test_a_chunked_body_is_read_only_up_to_the_limit():
    inner = Inner()
    headers = [(b"transfer-encoding", b"chunked")]
    chunks = [(b"x" * 256 * 1024, True) for _ in range(40)]  # 10 MiB offered
    status, _, pulled = call(limited(inner), f"/alerts/webhook/{uuid.uuid4()}/", headers, chunks)
    assert status == 413
    assert pulled == 5  # 1.25 MiB taken in, not 10
    assert not inner.called


def test_a_chunked_body_within_the_limit_reaches_the_app_whole():
    inner = Inner()
    headers = [(b"transfer-encoding", b"chunked")]
    chunks = [(b"ab", True), (b"c", False)]
    status, _, _ = call(limited(inner), "/alerts/webhook/x/", headers, chunks)
    assert status == 204 and inner.body == b"abc"


@pytest.mark.django_db(transaction=True)
def test_the_web_process_refuses_a_huge_webhook_before_authentication(web_process):
    """Through the real ASGI server: the 413 comes while the client has sent headers only."""
    with socket.create_connection(("127.0.0.1", web_process.port), 10) as client:
        client.sendall(
            f"POST /alerts/webhook/{uuid.uuid4()}/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {32 * MIB}\r\n\r\n".encode()
        )
        # Headers and body may come in two packets; the server closes after its answer.
        chunks = []
        while chunk := client.recv(4096):
            chunks.append(chunk)
        response = b"".join(chunks).decode()
    assert response.startswith("HTTP/1.1 413"), response
    assert "The body is over 1 MiB." in response
