"""Text, dates and ids read from a request, checked in one place.

PostgreSQL refuses a NUL in text and psycopg cannot encode an unpaired surrogate, and Python's
dates end at year 9999: each of these reached a query or a time-zone conversion and answered
500, which a sender such as Alertmanager retries forever. Here each is an InputError whose
message says what to fix; pages and routers answer it with a 400.
"""

import datetime as dt
import re
from typing import Annotated

from django.core.exceptions import BadRequest
from django.utils import dateparse, timezone
from pydantic import AfterValidator

# Dates a request may name. Far enough apart for any schedule or report, and far enough from
# Python's year 1 and year 9999 that adding a window or an offset never overflows.
FIRST_DATE = dt.date(2000, 1, 1)
LAST_DATE = dt.date(2999, 12, 31)
# No time zone is further from UTC; PostgreSQL refuses offsets of 16 hours and more.
MAX_OFFSET = dt.timedelta(hours=14)
# Ids are PostgreSQL bigints; more digits than that cannot name a row.
MAX_ID_DIGITS = 18

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_REPLACEMENT = "\ufffd"


class InputError(BadRequest, ValueError):
    """Input Vigil refuses; str() is the reason, written for the person or the sender.

    A BadRequest, so Django answers 400 wherever it escapes; a ValueError, so a pydantic
    validator may raise it."""


def unstorable(value: str) -> str:
    """What in the text cannot be stored ("a NUL character", "an unpaired surrogate"), or ""."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return ""
    return "a NUL character" if found.group() == "\x00" else "an unpaired surrogate"


def check_text(value: str, where: str) -> str:
    """The text, or InputError naming `where` when it holds a NUL or an unpaired surrogate."""
    problem = unstorable(value)
    if problem:
        raise InputError(f"{where} contains {problem}, which Vigil cannot store.")
    return value


def clean_text(value: str) -> str:
    """The text with each NUL and unpaired surrogate replaced by U+FFFD."""
    return _UNSTORABLE.sub(_REPLACEMENT, value)


def _containers(data):
    """Every dict and list inside decoded JSON; a loop, as deep nesting is a sender's choice."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            yield node
            stack.extend(v for v in (node.values() if isinstance(node, dict) else node))


def clean_json(data):
    """Decoded JSON with every key and string cleaned (clean_text), changed in place."""
    if isinstance(data, str):
        return clean_text(data)
    for node in _containers(data):
        if isinstance(node, list):
            for i, item in enumerate(node):
                if isinstance(item, str):
                    node[i] = clean_text(item)
        else:
            items = list(node.items())
            node.clear()
            for key, item in items:
                node[clean_text(key)] = clean_text(item) if isinstance(item, str) else item
    return data


def unstorable_in_json(data) -> str:
    """What in decoded JSON (a key or a string anywhere in it) cannot be stored, or ""."""
    if isinstance(data, str):
        return unstorable(data)
    for node in _containers(data):
        strings = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        for item in strings:
            if isinstance(item, str) and (problem := unstorable(item)):
                return problem
    return ""


def reads_own_body(view):
    """Marks a view that reads and cleans its request body itself, so RequestInputMiddleware
    leaves the body alone: an alert webhook stores an unstorable label with U+FFFD rather
    than refusing the alert, and its JSON may arrive labelled as a form (curl -d)."""
    view.reads_own_body = True
    return view


def _no_unstorable(value: str) -> str:
    return check_text(value, "The text")


# A pydantic string that PostgreSQL can store: a NUL or an unpaired surrogate is a 400.
Text = Annotated[str, AfterValidator(_no_unstorable)]


def _in_range(day: dt.date, where: str) -> None:
    if not FIRST_DATE <= day <= LAST_DATE:
        raise InputError(
            f"{where} must be between {FIRST_DATE.isoformat()} and {LAST_DATE.isoformat()}."
        )


def _given(value, where: str, required: bool) -> str | None:
    text = check_text(str(value), where).strip() if value is not None else ""
    if not text:
        if required:
            raise InputError(f"{where} is required.")
        return None
    return text


def parse_date(value, where: str, *, required: bool = False) -> dt.date | None:
    """A YYYY-MM-DD date within FIRST_DATE and LAST_DATE; None when empty and not required."""
    text = _given(value, where, required)
    if text is None:
        return None
    try:
        parsed = dateparse.parse_date(text)
    except ValueError:  # well-formed but impossible: 2026-02-30, year 0
        parsed = None
    if parsed is None:
        raise InputError(f"{where} is not a date (YYYY-MM-DD): {text[:40]!r}.")
    _in_range(parsed, where)
    return parsed


def parse_datetime(
    value, where: str, *, required: bool = False, naive_tz=None
) -> dt.datetime | None:
    """An aware date and time within FIRST_DATE and LAST_DATE (ISO 8601, offset optional: a
    time without one is in `naive_tz`, by default the current time zone); None when empty and
    not required."""
    text = _given(value, where, required)
    if text is None:
        return None
    try:
        parsed = dateparse.parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise InputError(
            f"{where} is not a date and time (YYYY-MM-DDTHH:MM, optionally with an offset "
            f"such as +02:00 or Z): {text[:40]!r}."
        )
    _in_range(parsed.date(), where)
    offset = parsed.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise InputError(f"{where} has an offset from UTC beyond ±14:00: {text[:40]!r}.")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, naive_tz or timezone.get_current_timezone())
    return parsed


def parse_id(value) -> int | None:
    """A row id written in ASCII digits, or None: str.isdigit() also takes '²', which int()
    refuses."""
    text = (value or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS:
        return int(text)
    return None
