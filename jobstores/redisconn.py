"""Connections to the agent platforms' Redis: a URL a person gave, checked against the
outbound rule right before connecting, with timeouts, and failures said in words that never
carry the password."""

import contextlib
import dataclasses
import socket
import urllib.parse

import redis
import redis.cluster
import structlog
from redis.backoff import NoBackoff
from redis.retry import Retry

from common.outbound import OutboundRefused, check_endpoint

logger = structlog.get_logger(__name__)


class StoreUnavailable(Exception):
    """The store could not be reached or used; the message says why, without secrets."""


@dataclasses.dataclass(frozen=True)
class RedisTarget:
    tls: bool
    host: str
    port: int
    db: int
    username: str | None
    password: str | None

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_redis_url(url: str) -> RedisTarget:
    """redis://[user:password@]host[:port][/db] or rediss://; sockets and the rest refused."""
    try:
        parts = urllib.parse.urlsplit((url or "").strip())
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").rstrip(".")
        port = parts.port or 6379
    except ValueError:
        raise StoreUnavailable("Not a Redis URL: its port must be a number.") from None
    if scheme == "unix":
        raise StoreUnavailable("Unix sockets are not allowed: give a redis:// URL.")
    if scheme not in ("redis", "rediss"):
        raise StoreUnavailable("Not a Redis URL: it must start with redis:// or rediss://.")
    if not host:
        raise StoreUnavailable("Not a Redis URL: it has no host name.")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise StoreUnavailable("Not a Redis URL: the database after the host must be a number.")
    unquote = urllib.parse.unquote
    return RedisTarget(
        tls=scheme == "rediss",
        host=host,
        port=port,
        db=int(path or 0),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


class Connection:
    """`client` for commands routed by key, `nodes` (one per primary) for scans."""

    def __init__(self, client, nodes: list[redis.Redis], label: str, cluster: bool = False):
        self.client = client
        self.nodes = nodes
        self.label = label
        self.cluster = cluster

    def close(self):
        # Closing a dead node must not hide the result of what ran before.
        for node in [*self.nodes, self.client]:
            with contextlib.suppress(Exception):
                node.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def node_label(node: redis.Redis) -> str:
    kwargs = node.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


def _checked(host: str, port: int) -> str:
    """The address to connect to for host:port, or StoreUnavailable with the rule's reason."""
    try:
        addresses = check_endpoint(host, port)
    except OutboundRefused as exc:
        raise StoreUnavailable(str(exc)) from None
    if not addresses:
        raise StoreUnavailable(f"{host} could not be resolved.")
    return addresses[0]


def reason(exc: Exception, label: str, timeout: float = 5.0) -> str:
    """What went wrong, in words (redis-py's own text can carry the URL, so it is not used
    but for the first word of a server error)."""
    if isinstance(exc, StoreUnavailable):
        return str(exc)
    text = str(exc).lower()
    if "noauth" in text or "authentication required" in text:
        return f"Redis at {label} asks for a password and the URL has none."
    if isinstance(exc, redis.AuthenticationError) or "wrongpass" in text or "invalid pass" in text:
        return f"Redis at {label} refused the password."
    if isinstance(exc, redis.TimeoutError | socket.timeout):
        return f"Redis at {label} did not answer within {timeout:g} s."
    if "refused" in text:
        return f"Redis at {label} refused the connection."
    if "cluster support disabled" in text or "cluster mode is not enabled" in text:
        return f"Redis at {label} is not a Redis Cluster."
    if "ssl" in text or "certificate" in text:
        return f"The TLS handshake with {label} failed."
    if isinstance(exc, redis.ConnectionError | OSError):
        return f"Redis at {label} could not be reached (refused, closed or unreachable)."
    if isinstance(exc, redis.ResponseError):
        word = str(exc).split(" ", 1)[0][:40]
        return f"Redis at {label} answered with an error: {word}."
    return f"Redis at {label} failed: {type(exc).__name__}."


def connect(
    url: str, *, cluster: bool = False, timeout: float = 5.0, checked: bool = True
) -> Connection:
    """A connected, PINGed store, or StoreUnavailable saying why in words. `checked=False`
    skips the outbound rule, for the CLI an operator runs on the server itself."""
    target = parse_redis_url(url)
    address = _checked(target.host, target.port) if checked else target.host
    common = {
        "username": target.username,
        "password": target.password,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": False,
        # A scan fails fast and says so; the next scheduled one is the retry.
        "retry": Retry(NoBackoff(), 0),
    }
    if target.tls:
        # The certificate names the host, so TLS connects by name (checked just above).
        common.update(ssl=True, ssl_check_hostname=True)
        address = target.host
    try:
        if cluster:
            if target.db:
                raise StoreUnavailable("A Redis Cluster has only database 0.")
            client = redis.cluster.RedisCluster(
                host=address,
                port=target.port,
                address_remap=_remap_checked if checked else None,
                require_full_coverage=False,
                **common,
            )
            nodes = [client.get_redis_connection(node) for node in client.get_primaries()]
            for node in nodes:
                node.ping()
        else:
            client = redis.Redis(host=address, port=target.port, db=target.db, **common)
            client.ping()
            nodes = [client]
    except StoreUnavailable:
        raise
    except OutboundRefused as exc:
        raise StoreUnavailable(f"The cluster announced a node Vigil may not reach: {exc}") from None
    except (redis.RedisError, OSError) as exc:
        error = reason(exc, target.label, timeout)
        if isinstance(exc, redis.AuthenticationError) and not target.password:
            error = f"Redis at {target.label} asks for a password and the URL has none."
        logger.info("job_store_unavailable", store=target.label, reason=error)
        raise StoreUnavailable(error) from None
    return Connection(client, nodes, target.label, cluster)


def _remap_checked(host_port):
    """Every node a cluster announces passes the outbound rule before Vigil connects to it."""
    host, port = host_port
    check_endpoint(host, port)
    return host, port
