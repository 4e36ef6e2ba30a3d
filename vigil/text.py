"""Text from senders and people, made safe for the places it goes."""

import re

# C0 and C1 control characters (newlines and tabs included), DEL, and Unicode's line and
# paragraph separators: none belongs in a title, a mail subject or a chat header.
_CONTROL_RUNS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text, limit: int | None = None) -> str:
    """The text on one line: every run of control characters becomes one space, cut to
    `limit` characters. An alert name with a newline in it made every email page for its
    incident fail (mail headers cannot hold one)."""
    flat = " ".join(_CONTROL_RUNS.sub(" ", str(text or "")).split())
    return flat[:limit] if limit else flat
