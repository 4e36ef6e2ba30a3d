"""VTIMEZONE components (RFC 5545 §3.6.5) written from a zone's zoneinfo transitions.

Calendar programs that read a feed's own VTIMEZONE instead of its Olson name expect each
observance as a STANDARD or DAYLIGHT with a yearly RRULE, the way zones are published on
tzurl.org; of the long multi-valued RDATE lists icalendar writes, some parsers keep only the
first value (vobject read Berlin as +01:00 all summer). The rule in force at the end of the feed's
years becomes an RRULE; onsets that fit no yearly rule are listed, one RDATE line each.
"""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(days=7)
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class Onset:
    """A moment the zone's offset, daylight flag or abbreviation changes."""

    at: dt.datetime
    offset_from: dt.timedelta
    offset_to: dt.timedelta
    daylight: bool
    name: str

    @property
    def local(self) -> dt.datetime:
        """The onset on the wall clock it ends, as §3.6.5 wants DTSTART and RDATE."""
        return (self.at + self.offset_from).replace(tzinfo=None)

    @property
    def observance(self) -> tuple:
        return (self.daylight, self.offset_from, self.offset_to, self.name)


def _held(tz: ZoneInfo, at: dt.datetime) -> tuple[dt.timedelta, bool, str]:
    local = at.astimezone(tz)
    return local.utcoffset(), bool(local.dst()), local.tzname()


def _at(timestamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def onsets(tz: ZoneInfo, start: dt.datetime, end: dt.datetime) -> list[Onset]:
    """Every change between start and end, found a day at a time and bisected to the second,
    since zoneinfo does not list a zone's transitions."""
    found = []
    t, held = start, _held(tz, start)
    while t < end:
        step = min(t + DAY, end)
        if _held(tz, step) == held:
            t = step
            continue
        lo, hi = int(t.timestamp()), int(step.timestamp())
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if _held(tz, _at(mid)) == held else (lo, mid)
        t, after = _at(hi), _held(tz, _at(hi))
        found.append(Onset(t, held[0], after[0], after[1], after[2]))
        held = after
    return found


def _bydays(day: dt.date) -> set[str]:
    """The BYDAY values naming this date in its month: its ordinal, and -1 if it is the last."""
    weekday = WEEKDAYS[day.weekday()]
    names = {f"{(day.day - 1) // 7 + 1}{weekday}"}
    if (day + WEEK).month != day.month:
        names.add(f"-1{weekday}")
    return names


def _yearly_rule(run: list[Onset]) -> dict | None:
    """The RRULE producing exactly these onsets, one a year, or None if none does."""
    if len(run) < 2:
        return None
    first = run[0].local
    fits = _bydays(first.date())
    for before, onset in zip(run, run[1:], strict=False):
        local = onset.local
        if (local.year, local.month, local.time()) != (
            before.local.year + 1,
            first.month,
            first.time(),
        ):
            return None
        fits &= _bydays(local.date())
    if not fits:
        return None
    # Where the fourth and the last weekday both fit, the last is the rule zones keep.
    lasts = {name for name in fits if name.startswith("-1")}
    return {"freq": "yearly", "bymonth": first.month, "byday": (lasts or fits).pop()}


def _component(run: list[Onset], rule: dict | None = None):
    first = run[0]
    sub = TimezoneDaylight() if first.daylight else TimezoneStandard()
    sub.add("dtstart", first.local)
    sub.add("tzoffsetfrom", first.offset_from)
    sub.add("tzoffsetto", first.offset_to)
    sub.add("tzname", first.name)
    if rule:
        sub.add("rrule", rule)
    else:
        for onset in run[1:]:
            sub.add("rdate", onset.local)
    return sub


def _split(group: list[Onset], final_year: int) -> tuple[list[Onset], list[Onset], dict | None]:
    """The onsets before the yearly rule still in force in final_year, that rule's onsets and
    the rule; the longest such trailing run wins."""
    if group[-1].local.year == final_year:
        for k in range(len(group) - 1):
            rule = _yearly_rule(group[k:])
            if rule:
                return group[:k], group[k:], rule
    return group, [], None


def vtimezone(tz: ZoneInfo, first: dt.datetime, last: dt.datetime) -> Timezone:
    """The zone from the year before first through the year of last, which covers every
    event between them."""
    start = dt.datetime(first.year - 1, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(last.year + 1, 1, 1, tzinfo=dt.UTC)
    found = onsets(tz, start, end)
    component = Timezone()
    component.add("tzid", tz.key)
    if not found or found[0].at > first:
        offset, daylight, name = _held(tz, start)
        component.add_component(_component([Onset(start, offset, offset, daylight, name)]))
    groups: dict[tuple, list[Onset]] = {}
    for onset in found:
        groups.setdefault(onset.observance, []).append(onset)
    for group in groups.values():
        listed, ruled, rule = _split(group, last.year)
        if listed:
            component.add_component(_component(listed))
        if ruled:
            component.add_component(_component(ruled, rule))
    return component
