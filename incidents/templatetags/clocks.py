"""How long ago something happened and how long something took, worded as everywhere else in
Vigil (common.text.duration); static/js/durations.js words the page's ticking clocks the same."""

from django import template
from django.utils import timezone

from common.text import duration as duration_text

register = template.Library()


@register.filter
def ago(moment, now=None):
    """'just now', '42 s ago', '3 min 12 s ago', '1 h 5 min ago', '5 d 3 h ago'."""
    if not moment:
        return ""
    seconds = ((now or timezone.now()) - moment).total_seconds()
    return f"{duration_text(seconds)} ago" if seconds >= 1 else "just now"


@register.filter
def duration(value):
    """A timedelta or a number of seconds: "42 s", "3 min 12 s", "1 h 5 min"."""
    return duration_text(value)


@register.filter
def duration_until(start, end):
    """`{{ start|duration_until:end }}`: how long from one moment to the other."""
    if not start or not end:
        return ""
    return duration_text(end - start)
