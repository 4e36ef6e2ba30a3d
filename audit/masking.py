"""What of a secret the audit trail may keep: enough to tell that it changed and roughly to
what, never enough to use it. Everyone who may read the trail is not everyone who owns it."""

from urllib.parse import urlsplit


def masked_url(url: str) -> str:
    """A webhook URL carries its credential in the path: keep the scheme and host only
    (`https://hooks.slack.com/…`)."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "…"
    return f"{parts.scheme}://{host}{port}/…" if parts.scheme and host else "…"


def masked_key(key: str) -> str:
    """`••••1234`: the last four characters of a long key, none of a short one."""
    if not key:
        return ""
    return "••••" + (key[-4:] if len(key) >= 16 else "")
