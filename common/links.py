"""Links taken from data (an alert's annotations, a sender's payload) that Vigil renders."""

import urllib.parse
from urllib.parse import urlparse

SECRET_MASK = "••••••"  # noqa: S105 (the mask shown instead of a password)


def http_url(value) -> str:
    """The value when it is an http(s) URL with a host, else "": anyone can write an alert's
    annotations, and a javascript: or data: link must never reach an href."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        parsed = urlparse(value.strip())
    except ValueError:  # "http://[oops" and the like
        return ""
    return value.strip() if parsed.scheme.lower() in ("http", "https") and parsed.netloc else ""


def redact_url(url: str) -> str:
    """The URL with its password (and a user name's secret part) masked, for every place a
    person or a log sees it."""
    try:
        parts = urllib.parse.urlsplit(url or "")
        password = parts.password
    except ValueError:
        return "(an unreadable URL)"
    if not password:
        return url or ""
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{user}:{SECRET_MASK}@{host}" + (f":{port}" if port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
