"""Connections to the Redis of an agent platform Vigil watches: a standalone server or a
Redis Cluster (every primary). Errors come out as StoreUnavailable with the reason in words
and never the password."""

import urllib.parse

import redis
from redis.cluster import RedisCluster

from common.outbound import OutboundRefused, check_endpoint


class StoreUnavailable(Exception):
    """The store cannot be read; the message is for people (no password in it)."""


class Connection:
    def __init__(self, client, nodes, label):
        self.client = client
        self.nodes = nodes
        self.label = label

    def close(self):
        for node in self.nodes:
            if node is not self.client:
                node.close()
        self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _parts(url: str):
    try:
        parts = urllib.parse.urlsplit((url or "").strip())
        port = parts.port or 6379
    except ValueError:
        raise StoreUnavailable("The Redis URL's port must be a number from 1 to 65535.") from None
    if parts.scheme not in ("redis", "rediss"):
        raise StoreUnavailable("Not a Redis URL: use redis:// or rediss://.")
    if not parts.hostname:
        raise StoreUnavailable("The Redis URL has no host name.")
    return parts, port


def reason(exc: Exception, label: str, timeout: float) -> str:
    """What went wrong, in words, for a run's record (redis-py's text can hold the URL)."""
    if isinstance(
        exc, redis.AuthenticationError | redis.exceptions.AuthenticationWrongNumberOfArgsError
    ):
        return f"Redis at {label} refused the password."
    if isinstance(exc, redis.TimeoutError):
        return f"Redis at {label} did not answer within {timeout:g} s."
    if isinstance(exc, redis.ConnectionError):
        text = str(exc).lower()
        if "auth" in text or "noauth" in text or "password" in text:
            return f"Redis at {label} needs a password (or refused it)."
        return f"Redis at {label} could not be reached (connection refused or closed)."
    if isinstance(exc, redis.ResponseError):
        text = str(exc)
        if text.startswith(("NOAUTH", "WRONGPASS")):
            return f"Redis at {label} refused the password."
        return f"Redis at {label} answered with an error: {text.split(' ')[0]}."
    return f"Redis at {label} failed: {type(exc).__name__}."


def connect(url: str, *, cluster: bool = False, timeout: float = 5.0, checked: bool = True):
    """A checked, PINGed connection. `checked=False` skips the address rule, for the CLI run
    by an operator on the server itself."""
    parts, port = _parts(url)
    host = parts.hostname
    label = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if checked:
        try:
            check_endpoint(host, port)
        except OutboundRefused as exc:
            raise StoreUnavailable(str(exc)) from None
    options = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "decode_responses": False,
        "health_check_interval": 0,
    }
    try:
        if cluster:
            client = RedisCluster.from_url(url, **options)
            nodes = [
                node.redis_connection or client.get_redis_connection(node)
                for node in client.get_primaries()
            ]
        else:
            client = redis.Redis.from_url(url, **options)
            nodes = [client]
        for node in nodes:
            node.ping()
    except redis.RedisError as exc:
        raise StoreUnavailable(reason(exc, label, timeout)) from None
    except OSError as exc:
        raise StoreUnavailable(f"Redis at {label} could not be reached ({exc.strerror}).") from None
    return Connection(client, nodes, label)
