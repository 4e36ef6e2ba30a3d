"""Error patterns from a real Redis stream and from a real Prometheus (Debian's binary, scraping
a tiny exporter the test runs), in the seed's shape, and every failure as a clear error."""

import json
import os
import socket
import threading
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis

from jobstores.errors import prometheus_error_patterns, stream_error_patterns
from tests.paging_fakes import private_redis
from tests.prometheus_server import free_port, running_prometheus

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def client():
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.stream = f"vigil-test:{uuid.uuid4().hex}:errors"
    yield client
    client.delete(client.stream)
    client.close()


def add(client, at: datetime, fields: dict, seq: str = "*"):
    return client.xadd(client.stream, fields, id=f"{ms(at)}-{seq}")


def patterns(client, **kwargs):
    kwargs.setdefault("now", NOW)
    return stream_error_patterns(client, client.stream, **kwargs)


# --- the stream ------------------------------------------------------------------------


def test_it_counts_the_last_hours_errors_in_the_seeds_shape(client):
    add(client, NOW - timedelta(hours=2), {"type": "OldError"})
    add(client, NOW - timedelta(hours=1, seconds=1), {"type": "OldError"})
    start = NOW - timedelta(hours=1)
    for i, (error_type, count) in enumerate(
        [("APITimeoutError", 78), ("RateLimitError", 45), ("ValidationError", 22)]
    ):
        for n in range(count):
            add(client, start + timedelta(seconds=i * 100 + n), {"type": error_type, "job": n})
    add(client, NOW + timedelta(seconds=1), {"type": "FutureError"})
    result = patterns(client)
    assert result["total_errors"] == 145
    assert result["top_errors"] == [
        {"type": "APITimeoutError", "count": 78, "percentage": 53.8},
        {"type": "RateLimitError", "count": 45, "percentage": 31.0},
        {"type": "ValidationError", "count": 22, "percentage": 15.2},
    ]
    assert result["source"] == "stream"
    assert result["window_hours"] == 1
    assert result["truncated"] is False
    assert result["unreadable"] == 0


def test_the_window_starts_exactly_hours_before_now(client):
    add(client, NOW - timedelta(hours=2, milliseconds=1), {"type": "Outside"})
    add(client, NOW - timedelta(hours=2), {"type": "Inside"})
    result = patterns(client, hours=2)
    assert [e["type"] for e in result["top_errors"]] == ["Inside"]
    assert patterns(client, hours=0.5)["total_errors"] == 0


def test_without_now_the_window_reaches_the_latest_entry(client):
    client.xadd(client.stream, {"type": "JustNow"})
    add(client, datetime.now(UTC) + timedelta(seconds=5), {"type": "ClockAhead"})
    result = stream_error_patterns(client, client.stream)
    assert result["total_errors"] == 2


def test_it_reads_the_type_from_a_json_data_field(client):
    at = NOW - timedelta(minutes=5)
    add(client, at, {"data": json.dumps({"type": "RateLimitError", "retry": 3})})
    add(client, at, {"data": json.dumps({"message": "no type"})})
    add(client, at, {"data": "{not json"})
    add(client, at, {"data": json.dumps(["a list"])})
    add(client, at, {"message": "neither field"})
    add(client, at, {"type": "  "})
    add(client, at, {"type": b"Bad\xffBytes"})
    result = patterns(client)
    assert result["total_errors"] == 7
    assert {e["type"]: e["count"] for e in result["top_errors"]} == {
        "unknown": 5,
        "Bad\ufffdBytes": 1,
        "RateLimitError": 1,
    }
    assert result["unreadable"] == 1


def test_ties_are_sorted_by_type_and_top_cuts_the_list(client):
    at = NOW - timedelta(minutes=1)
    for error_type in ["b", "a", "c", "a", "b", "d"]:
        add(client, at, {"type": error_type})
    result = patterns(client, top=3)
    assert [(e["type"], e["count"]) for e in result["top_errors"]] == [("a", 2), ("b", 2), ("c", 1)]
    assert result["total_errors"] == 6
    assert result["top_errors"][0]["percentage"] == 33.3


def test_it_reads_in_pages_and_says_when_it_stopped_at_the_limit(client):
    at = NOW - timedelta(minutes=1)
    # Many entries in one millisecond: paging steps through sequence numbers.
    for n in range(25):
        add(client, at, {"type": f"E{n % 2}"})
    result = patterns(client, page=4, limit=10)
    assert result["total_errors"] == 10
    assert result["read"] == 10
    assert result["truncated"] is True
    exact = patterns(client, page=4, limit=25)
    assert (exact["total_errors"], exact["truncated"]) == (25, False)
    assert patterns(client, page=4, limit=26)["truncated"] is False
    assert patterns(client, page=1000)["total_errors"] == 25


def test_a_missing_stream_has_no_errors(client):
    result = patterns(client)
    assert result["total_errors"] == 0
    assert result["top_errors"] == []


def test_a_key_of_another_type_is_an_error(client):
    client.set(client.stream, "not a stream")
    assert patterns(client) == {"error": f"{client.stream} is a string, not a stream of errors."}


@pytest.mark.parametrize(
    "kwargs",
    [{"hours": 0}, {"hours": -1}, {"hours": float("nan")}, {"limit": 0}, {"top": 0}],
)
def test_it_refuses_a_window_or_limit_that_makes_no_sense(client, kwargs):
    assert "error" in patterns(client, **kwargs)


def test_a_huge_window_reads_from_the_start(client):
    add(client, datetime(1971, 1, 1, tzinfo=UTC), {"type": "Ancient"})
    assert patterns(client, hours=1e9)["total_errors"] == 1


def test_it_counts_a_hundred_thousand_errors_in_seconds():
    port = free_port()
    with private_redis(port):
        client = redis.Redis(port=port)
        start = ms(NOW - timedelta(minutes=50))
        with client.pipeline(transaction=False) as pipe:
            for n in range(100_001):
                pipe.xadd("errors", {"type": f"E{n % 7}", "job": n}, id=f"{start + n}-0")
                if n % 10_000 == 0:
                    pipe.execute()
            pipe.execute()
        started = time.perf_counter()
        result = stream_error_patterns(client, now=NOW)
        elapsed = time.perf_counter() - started
        client.close()
    assert result["total_errors"] == 100_000
    assert result["truncated"] is True
    assert len(result["top_errors"]) == 7
    assert elapsed < 5, f"took {elapsed:.2f}s"


# --- Prometheus ------------------------------------------------------------------------


class Exporter:
    """An agent platform's /metrics: agent_errors_total by type, growing on every scrape. Its
    /api/v1/query answers what a test sets, to play a Prometheus that is not one."""

    def __init__(self):
        self.counts = {"APITimeoutError": 78, "RateLimitError": 45, "ValidationError": 22}
        self.scrapes = 0
        self.reply = (200, "text/plain", b"hello")
        self.requests = []
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/metrics"):
                    exporter.scrapes += 1
                    lines = [
                        "# HELP agent_errors_total Errors the agents raised.",
                        "# TYPE agent_errors_total counter",
                    ]
                    for error_type, count in exporter.counts.items():
                        grown = count * exporter.scrapes
                        lines.append(f'agent_errors_total{{type="{error_type}"}} {grown}')
                    self.answer(200, "text/plain; version=0.0.4", "\n".join(lines) + "\n")
                    return
                exporter.requests.append((self.path, dict(self.headers)))
                status, content_type, body = exporter.reply
                self.answer(status, content_type, body)

            def answer(self, status, content_type, body):
                body = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                if status in (301, 302):
                    self.send_header("Location", "http://example.com/")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def query_api(base, query):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def exporter():
    exporter = Exporter()
    yield exporter
    exporter.close()


@pytest.fixture(scope="module")
def prometheus(exporter):
    def scraped_twice(base):
        # Two scrapes in, so increase() has something to compare.
        answer = query_api(base, "sum by (type) (increase(agent_errors_total[1m]))")
        return any(float(s["value"][1]) > 0 for s in answer["data"]["result"])

    with running_prometheus(exporter.port, ready=scraped_twice, timeout=20) as base:
        yield base


def test_it_reads_error_counts_from_a_real_prometheus(prometheus):
    result = prometheus_error_patterns(prometheus, "sum by (type) (agent_errors_total)")
    assert result["source"] == "prometheus"
    types = [e["type"] for e in result["top_errors"]]
    assert types == ["APITimeoutError", "RateLimitError", "ValidationError"]
    counts = [e["count"] for e in result["top_errors"]]
    # Counters grow 78/45/22 a scrape: the three stay in proportion, whatever the scrape.
    assert counts[0] * 45 == counts[1] * 78
    assert all(isinstance(c, int) for c in counts)
    assert result["total_errors"] == sum(counts)
    assert [e["percentage"] for e in result["top_errors"]] == [53.8, 31.0, 15.2]


def test_the_default_query_gives_the_seeds_shape(prometheus):
    result = prometheus_error_patterns(prometheus, timeout=5)
    assert set(result) >= {"total_errors", "top_errors", "source"}
    assert result["top_errors"][0]["type"] == "APITimeoutError"
    assert all(set(e) == {"type", "count", "percentage"} for e in result["top_errors"])
    assert result["total_errors"] > 0


def test_a_series_with_one_label_other_than_type_is_named_by_it(prometheus):
    result = prometheus_error_patterns(
        prometheus,
        'sum by (kind) (label_replace(agent_errors_total, "kind", "$1", "type", "(.*)"))',
    )
    assert [e["type"] for e in result["top_errors"]][0] == "APITimeoutError"


def test_it_passes_on_prometheus_refusing_a_query(prometheus):
    result = prometheus_error_patterns(prometheus, "sum by (type) (")
    assert set(result) == {"error"}
    assert result["error"].startswith("Prometheus refused the query (bad_data)")


@pytest.mark.parametrize("query", ["agent_errors_total[1m]", "scalar(vector(1))", '"text"'])
def test_it_refuses_what_is_not_an_instant_vector(prometheus, query):
    result = prometheus_error_patterns(prometheus, query)
    assert "not an instant vector" in result["error"]


def test_an_empty_vector_is_no_errors(prometheus):
    result = prometheus_error_patterns(prometheus, 'agent_errors_total{type="Nope"}')
    assert (result["total_errors"], result["top_errors"]) == (0, [])


def test_a_prometheus_that_never_answers_times_out(exporter):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        port = listener.getsockname()[1]
        started = time.monotonic()
        result = prometheus_error_patterns(f"http://vigil:hunter2@127.0.0.1:{port}", timeout=0.5)
        elapsed = time.monotonic() - started
    assert "did not answer within 0.5 s" in result["error"]
    assert "hunter2" not in result["error"]
    assert elapsed < 1.5


def test_nothing_listening_is_a_clear_error():
    result = prometheus_error_patterns(f"http://127.0.0.1:{free_port()}", timeout=2)
    assert result["error"].startswith("Could not reach Prometheus at http://127.0.0.1:")


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ((200, "text/html", b"<html>login</html>"), "did not answer JSON"),
        ((503, "text/plain", b"down"), "answered HTTP 503"),
        ((302, "text/plain", b""), "redirect (HTTP 302)"),
        ((200, "application/json", b'{"status": "success", "data": 3}'), "not an instant vector"),
        ((200, "application/json", b'{"status": "error"}'), "Prometheus refused the query"),
    ],
)
def test_it_explains_an_answer_that_is_not_prometheus(exporter, reply, reason):
    exporter.reply = reply
    result = prometheus_error_patterns(exporter.url)
    assert reason in result["error"]


def test_it_skips_samples_it_cannot_read_and_sends_basic_auth(exporter):
    answer = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"type": "A"}, "value": [1, "2.6"]},
                {"metric": {"type": "B"}, "value": [1, "NaN"]},
                {"metric": {"type": "C"}, "value": [1, "+Inf"]},
                {"metric": {"type": "D"}, "value": [1, "0.2"]},
                {"metric": {}, "value": [1, "4"]},
                {"metric": {"a": "1", "b": "2"}, "value": [1, "1"]},
                {"value": [1, "1"]},
                "junk",
            ],
        },
    }
    exporter.reply = (200, "application/json", json.dumps(answer).encode())
    result = prometheus_error_patterns(f"http://vigil:s%40cret@127.0.0.1:{exporter.port}/prom/")
    assert {e["type"]: e["count"] for e in result["top_errors"]} == {
        "unknown": 4,
        "A": 3,
        "a=1, b=2": 1,
    }
    assert result["unreadable"] == 4
    path, headers = exporter.requests[-1]
    assert path.startswith("/prom/api/v1/query?query=sum+by")
    assert headers["Authorization"] == "Basic dmlnaWw6c0BjcmV0"


def test_it_does_not_connect_where_outbound_rules_forbid(settings, exporter):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    before = len(exporter.requests)
    result = prometheus_error_patterns(exporter.url)
    assert "loopback" in result["error"]
    assert len(exporter.requests) == before


@pytest.mark.parametrize("url", ["", "ftp://127.0.0.1/", "http://127.0.0.1:99999/", "nonsense"])
def test_it_refuses_a_url_it_cannot_use(url):
    assert "error" in prometheus_error_patterns(url)
