"""One run of a dependency check: (ok, latency_ms, detail), never an exception.

Every host a person set passes common.outbound.check_endpoint right before connecting, and
the connection goes to the address it checked (TLS to Redis connects by name, as the
certificate names the host). Each run ends within the check's timeout. `detail` is a few
words for the history page and the alert: never the target's password, never a driver's
own message when that could carry the URL.
"""

import base64
import http.client
import json
import math
import os
import ssl
import time
import urllib.parse

import psycopg
import re2
import redis
import structlog
from redis.backoff import NoBackoff
from redis.retry import Retry

from checks.models import CheckKind, Comparison
from common.outbound import OutboundRefused, check_endpoint, pinned_connection

logger = structlog.get_logger(__name__)

Outcome = tuple[bool, float | None, str]

DETAIL_CHARS = 200
# The most of an HTTP body a check reads for its body match.
BODY_MAX_BYTES = 256 * 1024
# The most of a Prometheus answer a check reads.
PROMETHEUS_MAX_BYTES = 4 * 1024 * 1024
# Query parameters a postgres:// target may carry; others (passfile, sslkey, service, host
# lists…) could make the worker read its own files or connect elsewhere.
POSTGRES_PARAMS = {"sslmode", "application_name"}
SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
MIN_TIMEOUT, MAX_TIMEOUT = 0.1, 60.0


class TargetError(ValueError):
    """A target Vigil cannot use; the message says why, without its password."""


# --- targets ---------------------------------------------------------------------------


def _url_parts(target: str, schemes: tuple[str, ...], default_port: int, what: str):
    try:
        parts = urllib.parse.urlsplit((target or "").strip())
        port = parts.port
    except ValueError:
        raise TargetError(f"The {what}'s port must be a number from 1 to 65535.") from None
    if parts.scheme.lower() not in schemes:
        raise TargetError(f"Use a {' or '.join(s + '://' for s in schemes)} URL.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetError(f"The {what} has no host name.")
    if port == 0:
        raise TargetError(f"The {what}'s port must be a number from 1 to 65535.")
    return parts, host, port or default_port


def parse_http(target: str):
    parts = urllib.parse.urlsplit((target or "").strip())
    default = 443 if parts.scheme.lower() == "https" else 80
    return _url_parts(target, ("http", "https"), default, "URL")


def parse_tcp(target: str) -> tuple[str, int]:
    """host:port, [v6]:port."""
    text = (target or "").strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise TargetError("Give host:port, e.g. db.internal:5432 (an IPv6 address in [ ]).")
    if host.startswith("["):
        if not host.endswith("]"):
            raise TargetError("An IPv6 address goes in brackets: [2001:db8::1]:5432.")
        host = host[1:-1]
    elif ":" in host:
        raise TargetError("An IPv6 address goes in brackets: [2001:db8::1]:5432.")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise TargetError("The port must be a number from 1 to 65535.")
    if not host or any(c.isspace() or c in "/@?#" for c in host):
        raise TargetError("The host name is not valid.")
    return host.rstrip("."), int(port)


def parse_redis(target: str):
    parts, host, port = _url_parts(target, ("redis", "rediss"), 6379, "Redis URL")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise TargetError("The database after the host must be a number, e.g. redis://host/0.")
    if len(db) > 6:
        raise TargetError("The Redis database number is too large.")
    return parts, host, port, int(db or 0)


def parse_postgres(target: str):
    parts, host, port = _url_parts(target, ("postgres", "postgresql"), 5432, "PostgreSQL URL")
    if "," in (parts.netloc.rpartition("@")[2]):
        raise TargetError("Give one PostgreSQL host, not a list.")
    params = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(params) - POSTGRES_PARAMS)
    if unknown:
        raise TargetError(
            f"The PostgreSQL URL may carry only {', '.join(sorted(POSTGRES_PARAMS))}; "
            f"not {', '.join(unknown)[:80]}."
        )
    sslmode = params.get("sslmode", ["prefer"])[-1]
    if sslmode not in SSLMODES:
        raise TargetError(f"sslmode must be one of {', '.join(sorted(SSLMODES))}.")
    return parts, host, port, sslmode


def parse_prometheus(target: str):
    return parse_http(target)


def target_endpoint(kind: str, target: str) -> tuple[str, int]:
    """(host, port) the target connects to, or TargetError."""
    if kind in (CheckKind.HTTP, CheckKind.PROMETHEUS):
        _, host, port = parse_http(target)
    elif kind == CheckKind.TCP:
        host, port = parse_tcp(target)
    elif kind == CheckKind.REDIS:
        _, host, port, _ = parse_redis(target)
    elif kind == CheckKind.POSTGRES:
        _, host, port, _ = parse_postgres(target)
    else:
        raise TargetError("Unknown kind of check.")
    return host, port


# --- running ---------------------------------------------------------------------------


class _Clock:
    """The run's deadline: what is left of the timeout, never less than a millisecond."""

    def __init__(self, timeout: float):
        self.timeout = min(max(float(timeout), MIN_TIMEOUT), MAX_TIMEOUT)
        self.start = time.monotonic()
        self.deadline = self.start + self.timeout

    def left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return max(left, 0.001)

    def ms(self) -> float:
        return round((time.monotonic() - self.start) * 1000, 2)


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def _checked(host: str, port: int) -> tuple[str, ...]:
    addresses = check_endpoint(host, port)
    if not addresses:
        raise OutboundRefused(f"{host} could not be resolved.", unresolved=True)
    return addresses


def run_check(check) -> Outcome:
    """Run `check` once within its timeout. Never raises."""
    clock = _Clock(check.timeout_seconds)
    runner = RUNNERS.get(check.kind)
    if runner is None:
        return False, None, "Unknown kind of check."
    try:
        ok, detail = runner(check, clock)
    except OutboundRefused as exc:
        return False, None, _short(f"Not connected: {exc}")
    except TargetError as exc:
        return False, None, _short(str(exc))
    except TimeoutError:
        return False, clock.ms(), f"No answer within {clock.timeout:g} s."
    except Exception as exc:  # noqa: BLE001 (a check reports; it never breaks the tick)
        logger.warning("check_runner_failed", check_id=check.pk, error=type(exc).__name__)
        return False, clock.ms(), _short(f"Check failed: {type(exc).__name__}.")
    return ok, clock.ms(), _short(detail)


def _socket_reason(exc: OSError, what: str) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"{what} refused the connection."
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{what}'s certificate is not valid: {exc.verify_message}."
    if isinstance(exc, ssl.SSLError):
        return f"The TLS handshake with {what} failed."
    if isinstance(exc, ConnectionResetError):
        return f"{what} closed the connection."
    return f"{what} could not be reached ({exc.strerror or type(exc).__name__})."


def _http_get(parts, host, port, addresses, path, clock, max_bytes, headers=None):
    """(status, body, truncated): one GET to the checked addresses, no redirect followed,
    the whole request within the clock."""
    headers = {"User-Agent": "Vigil-check", "Accept": "*/*", **(headers or {})}
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {encoded}"
    if parts.scheme.lower() == "https":
        conn = http.client.HTTPSConnection(
            host, port, timeout=clock.left(), context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=clock.left())
    # The host name stays for the Host header, SNI and the certificate check.
    conn._create_connection = pinned_connection(addresses)
    try:
        conn.request("GET", path, headers=headers)
        sock = conn.sock
        sock.settimeout(clock.left())
        response = conn.getresponse()
        chunks, size = [], 0
        while size <= max_bytes:
            sock.settimeout(clock.left())
            chunk = response.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            chunks.append(chunk)
        body = b"".join(chunks)
        return response.status, body[:max_bytes], size > max_bytes
    finally:
        conn.close()


def _run_http(check, clock) -> tuple[bool, str]:
    parts, host, port = parse_http(check.target)
    addresses = _checked(host, port)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        status, body, _ = _http_get(parts, host, port, addresses, path, clock, BODY_MAX_BYTES)
    except TimeoutError:
        raise TimeoutError from None
    except OSError as exc:
        return False, _socket_reason(exc, host)
    except http.client.HTTPException as exc:
        return False, f"{host} did not answer HTTP ({type(exc).__name__})."
    if status != check.expected_status:
        where = " (a redirect, not followed)" if 300 <= status < 400 else ""
        return False, f"HTTP {status}{where}, expected {check.expected_status}."
    if check.body_match:
        text = body.decode("utf-8", "replace")
        if re2.search(check.body_match, text) is None:
            return False, f"HTTP {status}, but the body does not match."
        return True, f"HTTP {status}, body matches."
    return True, f"HTTP {status}."


def _run_tcp(check, clock) -> tuple[bool, str]:
    host, port = parse_tcp(check.target)
    addresses = _checked(host, port)
    try:
        with pinned_connection(addresses)((host, port), clock.left()):
            pass
    except TimeoutError:
        raise TimeoutError from None
    except OSError as exc:
        return False, _socket_reason(exc, f"{host}:{port}")
    return True, f"Connected to {host}:{port}."


def _run_redis(check, clock) -> tuple[bool, str]:
    parts, host, port, db = parse_redis(check.target)
    addresses = _checked(host, port)
    tls = parts.scheme.lower() == "rediss"
    left = clock.left()
    client = redis.Redis(
        # The certificate names the host, so TLS connects by name (checked just above).
        host=host if tls else addresses[0],
        port=port,
        db=db,
        username=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password is not None else None,
        ssl=tls,
        socket_timeout=left,
        socket_connect_timeout=left,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        client_name="vigil-check",
    )
    label = f"Redis at {host}:{port}"
    try:
        answer = client.ping()
    except redis.TimeoutError:
        raise TimeoutError from None
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        text = str(exc).lower()
        if parts.password is None and ("noauth" in text or "auth" in text):
            return False, f"{label} asks for a password and the URL has none."
        if isinstance(exc, redis.AuthenticationError) or "wrongpass" in text:
            return False, f"{label} refused the password."
        return False, f"{label} answered an error: {str(exc).split(' ', 1)[0][:40]}."
    except redis.ConnectionError as exc:
        text = str(exc).lower()
        if "timeout" in text or "timed out" in text:
            raise TimeoutError from None
        if "refused" in text:
            return False, f"{label} refused the connection."
        return False, f"{label} could not be reached."
    finally:
        client.close()
    return (True, "PONG.") if answer is True else (False, f"{label} did not answer PONG.")


def _run_postgres(check, clock) -> tuple[bool, str]:
    parts, host, port, sslmode = parse_postgres(check.target)
    addresses = _checked(host, port)
    unquote = urllib.parse.unquote
    password = unquote(parts.password) if parts.password is not None else None
    dbname = unquote(parts.path.lstrip("/")) or None
    label = f"PostgreSQL at {host}:{port}"
    left = clock.left()
    try:
        with psycopg.connect(
            host=host,
            hostaddr=addresses[0],
            port=port,
            user=unquote(parts.username) if parts.username else None,
            password=password,
            dbname=dbname,
            sslmode=sslmode,
            # libpq waits at least 2 s; the tick's own deadline bounds a check to its timeout.
            connect_timeout=max(1, math.ceil(left)),
            passfile=os.devnull,
            gssencmode="disable",
            application_name="vigil-check",
            options=f"-c statement_timeout={max(1, int(left * 1000))}",
            autocommit=True,
        ) as conn:
            row = conn.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        return False, _postgres_reason(exc, label, password, clock)
    if row != (1,):
        return False, f"{label} answered SELECT 1 with something else."
    return True, "SELECT 1 answered 1."


def _postgres_reason(exc, label, password, clock) -> str:
    state = getattr(exc, "sqlstate", None)
    text = str(exc)
    if password:
        text = text.replace(password, "••••••")
    lowered = text.lower()
    if state == "28P01" or "password authentication failed" in lowered:
        return f"{label} refused the user name or password."
    if state == "28000" or "no pg_hba.conf entry" in lowered:
        return f"{label} does not let this user in (pg_hba.conf)."
    if state == "3D000" or ("database" in lowered and "does not exist" in lowered):
        return f"{label}: no such database."
    if state == "57014" or "timeout" in lowered or "timed out" in lowered:
        return f"No answer from {label} within {clock.timeout:g} s."
    if "refused" in lowered:
        return f"{label} refused the connection."
    if "ssl" in lowered:
        return f"The TLS connection to {label} failed."
    return f"{label} failed: {type(exc).__name__}."


_COMPARE = {
    Comparison.GT: lambda v, t: v > t,
    Comparison.GE: lambda v, t: v >= t,
    Comparison.LT: lambda v, t: v < t,
    Comparison.LE: lambda v, t: v <= t,
}


def _run_prometheus(check, clock) -> tuple[bool, str]:
    query = (check.query or "").strip()
    if not query:
        return False, "No query given."
    compare = _COMPARE.get(check.comparison)
    if compare is None or check.threshold is None or not math.isfinite(check.threshold):
        return False, "The check needs a comparison and a finite threshold."
    values, problem = _prometheus_values(check.target, query, clock)
    if problem:
        return False, problem
    if not values:
        return False, "No data: the query gave an empty result."
    if any(math.isnan(v) for v in values):
        return False, "No data: the query gave NaN."
    worst = max(values) if check.comparison in (">", ">=") else min(values)
    threshold = check.threshold
    breached = [v for v in values if compare(v, threshold)]
    series = f" ({len(values)} series)" if len(values) > 1 else ""
    if breached:
        worst = max(breached) if check.comparison in (">", ">=") else min(breached)
        return False, f"{worst:.4g} {check.comparison} {threshold:g}{series}."
    return True, f"{worst:.4g}, threshold {check.comparison} {threshold:g}{series}."


def _prometheus_values(target, query, clock, at=None) -> tuple[list[float], str]:
    """One instant query: (values, "") or ([], why not). Raises TimeoutError,
    OutboundRefused and TargetError as the runners do."""
    parts, host, port = parse_prometheus(target)
    addresses = _checked(host, port)
    # Prometheus stops evaluating at its own timeout, a little before ours.
    params = {"query": query, "timeout": f"{max(1, int(clock.left() * 900))}ms"}
    if at is not None:
        params["time"] = f"{at.timestamp():.3f}"
    path = parts.path.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode(params)
    try:
        status, body, truncated = _http_get(
            parts,
            host,
            port,
            addresses,
            path,
            clock,
            PROMETHEUS_MAX_BYTES,
            headers={"Accept": "application/json"},
        )
    except TimeoutError:
        raise TimeoutError from None
    except OSError as exc:
        return [], _socket_reason(exc, f"Prometheus at {host}:{port}")
    except http.client.HTTPException as exc:
        return [], f"Prometheus at {host}:{port} did not answer HTTP ({type(exc).__name__})."
    if truncated:
        return [], "Prometheus answered more than Vigil reads: narrow the query."
    return _instant_values(status, body)


def prometheus_instant(target: str, query: str, *, timeout: float, at=None):
    """An instant query of the Prometheus at `target` (a base URL a person set, checked as
    every outgoing address is), within `timeout` seconds: (values, "") or ([], the reason
    in a few words). Never raises."""
    clock = _Clock(timeout)
    try:
        return _prometheus_values(target, query, clock, at=at)
    except OutboundRefused as exc:
        return [], _short(f"Not connected: {exc}")
    except TargetError as exc:
        return [], _short(str(exc))
    except TimeoutError:
        return [], f"Prometheus did not answer within {clock.timeout:g} s."
    except Exception as exc:  # noqa: BLE001 (a reading reports; it never breaks a page)
        logger.warning("prometheus_query_failed", error=type(exc).__name__)
        return [], _short(f"Query failed: {type(exc).__name__}.")


def _instant_values(status: int, body: bytes) -> tuple[list[float], str]:
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        answer = None
    if not isinstance(answer, dict):
        if 300 <= status < 400:
            return [], f"Prometheus answered a redirect (HTTP {status}), which is not followed."
        if status != 200:
            return [], f"Prometheus answered HTTP {status}."
        return [], "Prometheus did not answer JSON: is it a Prometheus?"
    if answer.get("status") != "success":
        reason = str(answer.get("error") or f"HTTP {status}")
        return [], f"Prometheus refused the query ({answer.get('errorType') or 'error'}): {reason}"
    data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
    kind, result = data.get("resultType"), data.get("result")
    try:
        if kind == "scalar":
            return [float(result[1])], ""
        if kind == "vector" and isinstance(result, list):
            return [float(sample["value"][1]) for sample in result], ""
    except (KeyError, IndexError, TypeError, ValueError):
        return [], "Prometheus answered a sample Vigil cannot read."
    return [], f"The query gives a {kind or 'result'}, not an instant vector or a scalar."


RUNNERS = {
    CheckKind.HTTP: _run_http,
    CheckKind.TCP: _run_tcp,
    CheckKind.REDIS: _run_redis,
    CheckKind.POSTGRES: _run_postgres,
    CheckKind.PROMETHEUS: _run_prometheus,
}
