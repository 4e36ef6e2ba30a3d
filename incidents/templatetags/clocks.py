"""How long ago something happened, worded as the incident page's ticking clocks word it,
and how long something took, worded as everywhere else in Vigil (common.text.duration)."""

from django import template
from django.utils import timezone

from common.text import duration as duration_text

register = template.Library()


@register.filter
def ago(moment, now=None):
    """'just now', '12 min ago', '3h 05m ago', '5d 3h ago' (static/js/incidents.js agrees)."""
    if not moment:
        return ""
    seconds = max(0, int(((now or timezone.now()) - moment).total_seconds()))
    days, hours, minutes = seconds // 86400, seconds % 86400 // 3600, seconds % 3600 // 60
    if days:
        return f"{days}d {hours}h ago"
    if hours:
        return f"{hours}h {minutes:02d}m ago"
    if minutes:
        return f"{minutes} min ago"
    return "just now"


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
