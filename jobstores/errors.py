"""The seed's get_error_patterns, for real: the agent platform's errors by type over the last
hours, read from the Redis stream it XADDs them to, or from Prometheus's agent_errors_total.
Both give the seed's shape, {"total_errors", "top_errors": [{"type", "count", "percentage"}]},
and {"error": reason} instead of an exception when the source cannot be read."""

import base64
import http.client
import json
import math
import ssl
import time
import urllib.parse
from collections import Counter
from datetime import UTC, datetime, timedelta

import redis

from common.outbound import OutboundRefused, check_endpoint, pinned_connection
from jobstores.models import redact_url

# Entries read per XRANGE call.
PAGE = 1000
# An error type longer than this is cut (it is a label, not a message).
TYPE_CHARS = 200
# The most of a Prometheus answer Vigil reads.
PROMETHEUS_MAX_BYTES = 16 * 1024 * 1024
UNKNOWN = "unknown"


def stream_error_patterns(
    client,
    stream: str = "errors",
    *,
    hours: float = 1,
    now: datetime | None = None,
    limit: int = 100_000,
    top: int = 10,
    page: int = PAGE,
) -> dict:
    """Errors in `stream` whose entry ID is within the last `hours`, counted by their `type`
    field (or the `type` of a JSON `data` field; "unknown" without one). Reads at most
    `limit` entries, `page` per call, and says "truncated" when more were there. When `now`
    is given the window ends at it; otherwise it is open-ended, so a Redis clock running a
    little ahead of Vigil's loses no entry."""
    if not isinstance(hours, int | float) or not math.isfinite(hours) or hours <= 0:
        return {"error": "The window must be a positive number of hours."}
    if limit < 1 or top < 1 or page < 1:
        return {"error": "limit, top and page must be at least 1."}
    ends = now is not None
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        start_ms = max(0, int((now - timedelta(hours=hours)).timestamp() * 1000))
    except OverflowError:
        start_ms = 0
    end = f"{int(now.timestamp() * 1000)}-18446744073709551615" if ends else "+"
    extra = {"window_hours": hours, "source": "stream", "truncated": False, "unreadable": 0}

    try:
        kind = client.type(stream).decode("utf-8", "replace")
        if kind == "none":
            return {"total_errors": 0, "top_errors": [], **extra}
        if kind != "stream":
            return {"error": f"{stream} is a {kind}, not a stream of errors."}
        counts: Counter[str] = Counter()
        unreadable = read = 0
        low = f"{start_ms}-0"
        while read < limit:
            wanted = min(page, limit - read)
            entries = client.xrange(stream, min=low, max=end, count=wanted)
            for _id, fields in entries:
                error_type, readable = _entry_type(fields)
                counts[error_type] += 1
                unreadable += not readable
            read += len(entries)
            if len(entries) < wanted:
                break
            low = _after(entries[-1][0])
        truncated = read >= limit and bool(client.xrange(stream, min=low, max=end, count=1))
    except redis.ResponseError as exc:
        return {"error": f"Redis refused to read the stream {stream}: {exc}"}
    extra.update(truncated=truncated, unreadable=unreadable)
    return {**_patterns(counts, top), **extra, "read": read}


def _entry_type(fields) -> tuple[str, bool]:
    """The entry's error type, and whether its fields could be read."""
    if not isinstance(fields, dict):
        return UNKNOWN, False
    value = fields.get(b"type")
    if value is None and b"data" in fields:
        try:
            data = json.loads(fields[b"data"])
        except (ValueError, RecursionError):
            return UNKNOWN, False
        value = data.get("type") if isinstance(data, dict) else None
        if value is not None and not isinstance(value, str):
            return UNKNOWN, False
    return _type_name(value), True


def _type_name(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or not value.strip():
        return UNKNOWN
    value = value.strip()
    return value if len(value) <= TYPE_CHARS else value[:TYPE_CHARS] + "…"


def _after(entry_id: bytes) -> str:
    """The smallest stream ID after `entry_id` (exclusive ranges without Redis 6.2's "(")."""
    ms, _, seq = entry_id.decode().partition("-")
    if int(seq) >= 2**64 - 1:
        return f"{int(ms) + 1}-0"
    return f"{ms}-{int(seq) + 1}"


def _patterns(counts: Counter, top: int) -> dict:
    total = sum(counts.values())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return {
        "total_errors": total,
        "top_errors": [
            {"type": name, "count": count, "percentage": round(100 * count / total, 1)}
            for name, count in ranked
        ],
    }


# --- Prometheus ------------------------------------------------------------------------


def prometheus_error_patterns(
    base_url: str,
    query: str = "sum by (type) (increase(agent_errors_total[1h]))",
    *,
    timeout: float = 10,
    top: int = 10,
) -> dict:
    """The query's instant vector as error counts by type: the `type` label (or the series'
    only label), its value rounded. The host is checked (common.outbound) right before
    connecting and the connection goes to the address checked; no redirect is followed.
    `timeout` bounds the whole request."""
    shown = redact_url(base_url)
    if not isinstance(query, str) or not query.strip():
        return {"error": "No Prometheus query given."}
    if not isinstance(timeout, int | float) or not 0 < timeout < math.inf or top < 1:
        return {"error": "The timeout must be a positive number of seconds and top at least 1."}
    try:
        parts = urllib.parse.urlsplit((base_url or "").strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return {"error": f"{shown} is not a URL Vigil can read (its port?)."}
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return {"error": "The Prometheus URL must be http:// or https:// with a host name."}
    try:
        addresses = check_endpoint(parts.hostname, port)
    except OutboundRefused as exc:
        return {"error": f"Vigil does not connect to {shown}: {exc}"}
    path = parts.path.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    headers = {"Accept": "application/json", "User-Agent": "Vigil"}
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        credentials = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {credentials}"
    try:
        status, body = _get(parts.scheme, parts.hostname, port, addresses, path, headers, timeout)
    except TimeoutError:
        return {"error": f"Prometheus at {shown} did not answer within {timeout:g} s."}
    except (OSError, http.client.HTTPException) as exc:
        return {"error": f"Could not reach Prometheus at {shown}: {_reason(exc)}"}
    except _TooLarge:
        return {"error": f"Prometheus at {shown} answered more than Vigil reads; narrow the query."}
    return _prometheus_result(shown, status, body, top, query)


class _TooLarge(Exception):
    pass


def _reason(exc) -> str:
    return str(exc) or type(exc).__name__


def _get(scheme, host, port, addresses, path, headers, timeout) -> tuple[int, bytes]:
    deadline = time.monotonic() + timeout
    if scheme == "https":
        conn = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    # The host name stays for the Host header, SNI and the certificate check.
    conn._create_connection = pinned_connection(addresses)
    try:
        conn.request("GET", path, headers=headers)
        sock = conn.sock  # getresponse() lets go of it when the server closes after answering
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        response = conn.getresponse()
        chunks, size = [], 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            chunk = response.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > PROMETHEUS_MAX_BYTES:
                raise _TooLarge
            chunks.append(chunk)
        return response.status, b"".join(chunks)
    finally:
        conn.close()


def _prometheus_result(shown, status, body, top, query) -> dict:
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        answer = None
    if not isinstance(answer, dict):
        if 300 <= status < 400:
            return {
                "error": f"Prometheus at {shown} answered a redirect (HTTP {status}), "
                "which Vigil does not follow: give the URL it points to."
            }
        if status != 200:
            return {"error": f"Prometheus at {shown} answered HTTP {status}."}
        return {"error": f"Prometheus at {shown} did not answer JSON: is it a Prometheus?"}
    if answer.get("status") != "success":
        reason = str(answer.get("error") or f"HTTP {status}")[:500]
        kind = answer.get("errorType")
        return {"error": f"Prometheus refused the query ({kind or 'error'}): {reason}"}
    data = answer.get("data")
    result_type = data.get("resultType") if isinstance(data, dict) else None
    if result_type != "vector":
        return {
            "error": f"The query gives a {result_type or 'nothing Vigil knows'}, not an instant "
            "vector: use one like sum by (type) (increase(agent_errors_total[1h]))."
        }
    counts: Counter[str] = Counter()
    unreadable = 0
    series = data.get("result") if isinstance(data.get("result"), list) else []
    for sample in series:
        try:
            metric, (_, value) = sample["metric"], sample["value"]
            count = round(float(value))
        except (KeyError, TypeError, ValueError, OverflowError):
            unreadable += 1  # NaN, ±Inf or not a sample at all
            continue
        if count > 0:
            counts[_series_type(metric)] += count
    return {
        **_patterns(counts, top),
        "source": "prometheus",
        "query": query,
        "series": len(series),
        "unreadable": unreadable,
    }


def _series_type(metric) -> str:
    if not isinstance(metric, dict):
        return UNKNOWN
    if "type" in metric:
        return _type_name(metric["type"])
    labels = {k: v for k, v in metric.items() if k != "__name__"}
    if len(labels) == 1:
        return _type_name(next(iter(labels.values())))
    if not labels:
        return UNKNOWN
    return _type_name(", ".join(f"{k}={v}" for k, v in sorted(labels.items())))
