"""The edge cache keeps only what says it is public, per host, address and the request
headers an answer may vary on, for at most its max-age, and serves the last answer while
one request fetches it again."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from common.edge_cache import PublicEdgeCache


class App:
    def __init__(self, headers=((b"cache-control", b"public, max-age=5"),), status=200):
        self.calls = 0
        self.headers = list(headers)
        self.status = status
        self.delay = 0.0

    async def __call__(self, scope, receive, send):
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": f"answer {self.calls}".encode()})


def get(app, path="/status/", method="GET", headers=()):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": b"",
             "headers": [(b"host", b"status.example"), *headers]}  # fmt: skip
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def in_thread(fn, *args):
    # In a full run Playwright's event loop may run in the main thread.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def test_a_public_answer_is_kept_per_address_and_cookie_and_head_is_served_from_it():
    def run():
        inner = App()
        edge = PublicEdgeCache(inner, prefixes=("/status/",), seconds=1)
        assert get(edge) == (200, b"answer 1")
        assert get(edge) == (200, b"answer 1")
        assert get(edge, method="HEAD") == (200, b"")
        assert get(edge, path="/status/history/") == (200, b"answer 2")
        assert get(edge, headers=[(b"cookie", b"sessionid=x")]) == (200, b"answer 3")
        assert get(edge, path="/incidents/") == (200, b"answer 4")  # not under the prefix
        assert get(edge, path="/incidents/") == (200, b"answer 5")
        assert get(edge, method="POST") == (200, b"answer 6")
        return inner.calls

    assert in_thread(run) == 6


def test_what_is_not_public_or_sets_a_cookie_or_failed_is_never_kept():
    def run(headers, status=200):
        inner = App(headers=headers, status=status)
        edge = PublicEdgeCache(inner, prefixes=("/status/",), seconds=1)
        get(edge)
        get(edge)
        return inner.calls

    assert in_thread(run, [(b"cache-control", b"private, max-age=5")]) == 2
    assert in_thread(run, [(b"cache-control", b"public, max-age=0")]) == 2
    assert in_thread(run, []) == 2
    assert in_thread(run, [(b"cache-control", b"public, max-age=5"), (b"set-cookie", b"a=b")]) == 2
    assert in_thread(run, [(b"cache-control", b"public, max-age=5"), (b"vary", b"Origin")]) == 2
    assert in_thread(run, [(b"cache-control", b"public, max-age=5")], 404) == 2
    assert in_thread(run, [(b"cache-control", b"public, max-age=5"), (b"vary", b"Cookie")]) == 1


def test_an_expired_answer_is_fetched_again_once_while_the_others_get_the_last_one():
    async def scenario():
        inner = App()
        now = [100.0]
        edge = PublicEdgeCache(inner, prefixes=("/status/",), seconds=0.05, clock=lambda: now[0])

        async def one():
            sent = []

            async def send(message):
                sent.append(message)

            scope = {"type": "http", "method": "GET", "path": "/status/", "query_string": b"",
                     "headers": [(b"host", b"status.example")]}  # fmt: skip
            await edge(scope, None, send)
            return sent[1]["body"]

        assert await one() == b"answer 1"
        now[0] += 0.06  # the answer's 50 ms are over
        inner.delay = 0.05
        bodies = await asyncio.gather(*(one() for _ in range(20)))
        return inner.calls, bodies

    calls, bodies = in_thread(asyncio.run, scenario())
    assert calls == 2
    assert bodies.count(b"answer 2") == 1 and bodies.count(b"answer 1") == 19
