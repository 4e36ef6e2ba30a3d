"""Each dependency check against the real thing: a local HTTP server (status, body match, a
server that never answers), TCP ports, the suite's Redis and PostgreSQL, and Debian's
Prometheus scraping a tiny exporter for the seed's error-rate and p95-latency alerts. Every
failure is (False, latency, words) without the target's password; nothing raises."""

import json
import os
import socket
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis

from checks.models import SEED_EXAMPLES, Check, CheckKind
from checks.runners import run_check
from tests.paging_fakes import private_redis
from tests.prometheus_server import free_port, running_prometheus


def check(kind, target, **fields) -> Check:
    """An unsaved check: the runners read only its settings."""
    fields.setdefault("timeout_seconds", 2)
    return Check(pk=1, name="t", kind=kind, target=target, **fields)


@pytest.fixture(scope="module")
def web():
    """Answers /ok with a health body, /down with 503, /moved with a redirect."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/ok"):
                self.answer(200, b'{"status": "healthy", "model": "claude"}')
            elif self.path.startswith("/moved"):
                self.send_response(302)
                self.send_header("Location", "http://example.com/")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path.startswith("/auth"):
                self.answer(200 if self.headers.get("Authorization") else 401, b"")
            else:
                self.answer(503, b"overloaded")

        def answer(self, status, body):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port():
    """A port that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


# --- HTTP ------------------------------------------------------------------------------


def test_http_passes_on_the_expected_status(web):
    ok, latency, detail = run_check(check(CheckKind.HTTP, f"{web}/ok"))
    assert (ok, detail) == (True, "HTTP 200.")
    assert 0 < latency < 2000


def test_http_fails_on_another_status(web):
    ok, _, detail = run_check(check(CheckKind.HTTP, f"{web}/down"))
    assert not ok and detail == "HTTP 503, expected 200."


def test_http_may_expect_another_status(web):
    assert run_check(check(CheckKind.HTTP, f"{web}/down", expected_status=503))[0]


def test_http_does_not_follow_a_redirect(web):
    ok, _, detail = run_check(check(CheckKind.HTTP, f"{web}/moved"))
    assert not ok and "redirect, not followed" in detail


def test_http_body_match_runs_with_re2(web):
    assert run_check(check(CheckKind.HTTP, f"{web}/ok", body_match=r'"status":\s*"healthy"'))[0]
    ok, _, detail = run_check(check(CheckKind.HTTP, f"{web}/ok", body_match="degraded"))
    assert not ok and detail == "HTTP 200, but the body does not match."


def test_http_sends_the_urls_credentials_and_never_says_them(web):
    port = web.rsplit(":", 1)[1]
    ok, _, detail = run_check(check(CheckKind.HTTP, f"http://bot:s3cret@127.0.0.1:{port}/auth"))
    assert ok and "s3cret" not in detail


def test_http_gives_up_at_its_timeout_on_a_server_that_never_answers(silent_port):
    started = time.monotonic()
    ok, latency, detail = run_check(
        check(CheckKind.HTTP, f"http://127.0.0.1:{silent_port}/", timeout_seconds=0.5)
    )
    elapsed = time.monotonic() - started
    assert not ok and detail == "No answer within 0.5 s."
    assert 0.4 < elapsed < 1.5 and 400 < latency < 1500


def test_http_says_a_refused_connection():
    ok, _, detail = run_check(check(CheckKind.HTTP, f"http://127.0.0.1:{free_port()}/"))
    assert not ok and detail == "127.0.0.1 refused the connection."


# --- TCP -------------------------------------------------------------------------------


def test_tcp_connects_to_an_open_port(silent_port):
    ok, _, detail = run_check(check(CheckKind.TCP, f"127.0.0.1:{silent_port}"))
    assert ok and detail == f"Connected to 127.0.0.1:{silent_port}."


def test_tcp_fails_on_a_closed_port():
    port = free_port()
    ok, latency, detail = run_check(check(CheckKind.TCP, f"127.0.0.1:{port}"))
    assert not ok and detail == f"127.0.0.1:{port} refused the connection."
    assert latency is not None


def test_a_target_that_cannot_be_read_is_a_failure_not_an_exception():
    assert run_check(check(CheckKind.TCP, "no-port-here")) == (
        False,
        None,
        "Give host:port, e.g. db.internal:5432 (an IPv6 address in [ ]).",
    )
    assert run_check(check("smtp", "x"))[2] == "Unknown kind of check."


# --- the address check -----------------------------------------------------------------


def test_every_kind_is_refused_by_the_address_check_when_loopback_is_not_allowed(
    settings, web, silent_port
):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    targets = {
        CheckKind.HTTP: f"{web}/ok",
        CheckKind.TCP: f"127.0.0.1:{silent_port}",
        CheckKind.REDIS: "redis://:hunter2@127.0.0.1:6379/0",
        CheckKind.POSTGRES: "postgres://postgres:hunter2@127.0.0.1:5432/postgres",
        CheckKind.PROMETHEUS: web,
    }
    for kind, target in targets.items():
        ok, latency, detail = run_check(check(kind, target, query="up", threshold=1))
        assert not ok and latency is None, kind
        assert detail.startswith("Not connected: 127.0.0.1 is a loopback address"), detail
        assert "hunter2" not in detail


# --- Redis -----------------------------------------------------------------------------


def test_redis_ping_on_the_real_redis():
    ok, latency, detail = run_check(check(CheckKind.REDIS, os.environ["REDIS_URL"]))
    assert (ok, detail) == (True, "PONG.") and latency > 0


def test_redis_refused_connection():
    port = free_port()
    ok, _, detail = run_check(check(CheckKind.REDIS, f"redis://:pw@127.0.0.1:{port}/0"))
    assert not ok and detail == f"Redis at 127.0.0.1:{port} refused the connection."


@pytest.fixture(scope="module")
def locked_redis():
    """A Redis of the test's own that asks for a password."""
    port = free_port()
    with private_redis(port):
        client = redis.Redis(port=port)
        client.config_set("requirepass", "right-one")
        client.close()
        yield port


def test_redis_with_the_right_password(locked_redis):
    assert run_check(check(CheckKind.REDIS, f"redis://:right-one@127.0.0.1:{locked_redis}/0"))[0]


def test_redis_with_a_wrong_or_missing_password_says_so_without_it(locked_redis):
    ok, _, detail = run_check(check(CheckKind.REDIS, f"redis://:wr0ng@127.0.0.1:{locked_redis}"))
    assert not ok and detail == f"Redis at 127.0.0.1:{locked_redis} refused the password."
    ok, _, detail = run_check(check(CheckKind.REDIS, f"redis://127.0.0.1:{locked_redis}"))
    assert not ok and "asks for a password" in detail


def test_redis_that_never_answers_times_out(silent_port):
    started = time.monotonic()
    ok, _, detail = run_check(
        check(CheckKind.REDIS, f"redis://127.0.0.1:{silent_port}", timeout_seconds=0.5)
    )
    assert not ok and detail == "No answer within 0.5 s."
    assert time.monotonic() - started < 1.5


# --- PostgreSQL ------------------------------------------------------------------------


def postgres_url(**changes) -> str:
    parts = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
    return urllib.parse.urlunsplit(parts._replace(**changes))


def test_postgres_select_1_on_the_real_database():
    # The server's own maintenance database: DATABASE_URL's may exist only as test_<name>.
    ok, latency, detail = run_check(check(CheckKind.POSTGRES, postgres_url(path="/postgres")))
    assert (ok, detail) == (True, "SELECT 1 answered 1.") and latency > 0


def test_postgres_with_a_wrong_dsn_fails_without_the_password():
    ok, _, detail = run_check(
        check(CheckKind.POSTGRES, "postgres://postgres:pa55word@127.0.0.1:5432/no_such_db_here")
    )
    assert not ok and detail == "PostgreSQL at 127.0.0.1:5432: no such database."
    port = free_port()
    ok, _, detail = run_check(
        check(CheckKind.POSTGRES, f"postgres://postgres:pa55word@127.0.0.1:{port}/x")
    )
    assert not ok and detail == f"PostgreSQL at 127.0.0.1:{port} refused the connection."
    assert "pa55word" not in detail


def test_postgres_refuses_parameters_that_read_the_workers_files():
    ok, _, detail = run_check(check(CheckKind.POSTGRES, postgres_url(query="passfile=/etc/x")))
    assert not ok and "not passfile" in detail


def test_postgres_that_never_answers_gives_up(silent_port):
    started = time.monotonic()
    ok, _, detail = run_check(
        check(CheckKind.POSTGRES, f"postgres://u@127.0.0.1:{silent_port}/x", timeout_seconds=1)
    )
    # libpq waits at least 2 s for a connection; the tick bounds a run to its timeout.
    assert not ok and "within" in detail
    assert time.monotonic() - started < 4


# --- Prometheus ------------------------------------------------------------------------


class Exporter:
    """An agent platform's /metrics: per scrape, 4 requests and 1 error (an error rate of
    25%), and 10 responses, half under 1 s and half between 5 s and 10 s (p95 of 9.5 s)."""

    def __init__(self):
        self.scrapes = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if not self.path.startswith("/metrics"):
                    self.send_response(404)
                    self.end_headers()
                    return
                exporter.scrapes += 1
                n = exporter.scrapes
                buckets = {"1": 5 * n, "5": 5 * n, "10": 10 * n, "+Inf": 10 * n}
                lines = [
                    "# TYPE agent_requests_total counter",
                    f"agent_requests_total {4 * n}",
                    "# TYPE agent_errors_total counter",
                    f"agent_errors_total {n}",
                    "# TYPE agent_response_seconds histogram",
                    *(
                        f'agent_response_seconds_bucket{{le="{le}"}} {c}'
                        for le, c in buckets.items()
                    ),
                    f"agent_response_seconds_sum {40 * n}",
                    f"agent_response_seconds_count {10 * n}",
                ]
                body = ("\n".join(lines) + "\n").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def instant(base, query):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)["data"]["result"]


@pytest.fixture(scope="module")
def prometheus():
    exporter = Exporter()
    queries = [e["query"] for e in SEED_EXAMPLES.values()]
    try:
        # Ready when both of the seed's expressions have a value (rate needs two scrapes).
        with running_prometheus(
            exporter.port, ready=lambda base: all(instant(base, q) for q in queries)
        ) as base:
            yield base
    finally:
        exporter.close()


def seed_check(base, example, **changes):
    fields = {k: SEED_EXAMPLES[example][k] for k in ("query", "comparison", "threshold")}
    return check(CheckKind.PROMETHEUS, base, **(fields | changes))


def test_the_seeds_error_rate_breaches_its_threshold(prometheus):
    ok, latency, detail = run_check(seed_check(prometheus, "error_rate"))
    assert not ok and detail == "0.25 > 0.1." and latency > 0


def test_the_error_rate_under_a_higher_threshold_passes(prometheus):
    ok, _, detail = run_check(seed_check(prometheus, "error_rate", threshold=0.5))
    assert ok and detail == "0.25, threshold > 0.5."


def test_the_seeds_p95_latency_breaches_five_seconds(prometheus):
    ok, _, detail = run_check(seed_check(prometheus, "p95_latency"))
    assert not ok and detail == "9.5 > 5."
    assert run_check(seed_check(prometheus, "p95_latency", comparison="<", threshold=5))[0]


def test_no_data_is_a_failure(prometheus):
    ok, _, detail = run_check(seed_check(prometheus, "error_rate", query="agent_nothing_total"))
    assert not ok and detail == "No data: the query gave an empty result."


def test_a_query_prometheus_refuses_is_a_failure_with_its_reason(prometheus):
    ok, _, detail = run_check(seed_check(prometheus, "error_rate", query="sum(rate("))
    assert not ok and detail.startswith("Prometheus refused the query (bad_data)")


def test_a_prometheus_that_never_answers_times_out(silent_port):
    started = time.monotonic()
    ok, _, detail = run_check(
        check(
            CheckKind.PROMETHEUS,
            f"http://vigil:hunter2@127.0.0.1:{silent_port}",
            query="up",
            comparison="<",
            threshold=1,
            timeout_seconds=0.5,
        )
    )
    assert not ok and detail == "No answer within 0.5 s."
    assert time.monotonic() - started < 1.5


def test_something_that_is_not_a_prometheus_is_said(web):
    ok, _, detail = run_check(check(CheckKind.PROMETHEUS, web, query="up", threshold=1))
    assert not ok and detail == "Prometheus answered HTTP 503."
