"""Labels of the on-call calendar's blocks, in the time zone the page shows."""

from django import template

from oncall.calendars import shift_when

register = template.Library()


@register.filter
def when_until(start, end):
    """`{{ b.start|when_until:b.end }}` → 'Mon 09:00–17:00' or, over a day, with dates."""
    return shift_when(start, end)
