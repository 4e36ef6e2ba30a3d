"""Links taken from data (an alert's annotations, a sender's payload) that Vigil renders."""

from urllib.parse import urlparse


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
