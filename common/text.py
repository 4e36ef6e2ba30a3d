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


def duration(value) -> str:
    """A length of time as people read it: "under 1 s", "42 s", "3 min 12 s", "1 h 5 min",
    "2 d 3 h"; the two largest units, the rest cut off (never rounded up). `value` is a
    timedelta or a number of seconds; None is "" and a negative length counts as none. Raw
    timedeltas read "0:00:00.705633" and Django's timesince rounds to minutes."""
    if value is None:
        return ""
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else float(value)
    if seconds < 1:
        return "under 1 s"
    whole = int(seconds)
    days, hours = whole // 86400, whole % 86400 // 3600
    minutes, seconds = whole % 3600 // 60, whole % 60
    for big, big_unit, small, small_unit in (
        (days, "d", hours, "h"),
        (hours, "h", minutes, "min"),
        (minutes, "min", seconds, "s"),
    ):
        if big:
            return f"{big} {big_unit} {small} {small_unit}" if small else f"{big} {big_unit}"
    return f"{seconds} s"
