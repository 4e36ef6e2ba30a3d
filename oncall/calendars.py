"""iCalendar (RFC 5545) feeds of shifts, per schedule and per person.

Events carry DTSTART/DTEND with the schedule's TZID and a VTIMEZONE of yearly rules
(oncall.vtimezone), so calendar programs show handoffs at the configured local time on both
sides of a daylight-saving change, whether they read the TZID or the VTIMEZONE.
A feed's URL carries a secret token; only its SHA-256 is stored (oncall.models.CalendarToken).
"""

import datetime as dt
import hmac
from zoneinfo import ZoneInfo

from django.utils import timezone
from icalendar import Calendar, Event

from alerts.models import token_hash
from oncall.models import CalendarToken, Schedule
from oncall.selectors import load_schedules
from oncall.vtimezone import vtimezone

PAST = dt.timedelta(days=30)
DAY = dt.timedelta(days=1)
FUTURE = dt.timedelta(days=183)


def feed_for_token(raw: str) -> CalendarToken | None:
    """The live feed a URL's token opens, found by the token's hash and confirmed in constant
    time; None for an unknown, revoked or deactivated person's feed."""
    if not raw or len(raw) > 200:
        return None
    digest = token_hash(raw)
    found = (
        CalendarToken.objects.filter(token_hash=digest, revoked_at=None)
        .select_related("schedule__team", "user")
        .first()
    )
    if found is None or not hmac.compare_digest(found.token_hash, digest):
        return None
    if found.user_id and not found.user.is_active:
        return None
    return found


def _calendar(name: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", "-//Vigil//On-call schedule//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    return cal


def _event(*, shift, summary: str, description: str, tz: ZoneInfo, stamp: dt.datetime) -> Event:
    event = Event()
    event.add("uid", f"shift-{shift.layer_id}-{shift.user_id}-{int(shift.start.timestamp())}@vigil")
    event.add("dtstamp", stamp)
    event.add("dtstart", shift.start.astimezone(tz))
    event.add("dtend", shift.end.astimezone(tz))
    event.add("summary", summary)
    event.add("description", description)
    event.add("transp", "TRANSPARENT")
    return event


def _events(loaded, start, end, *, only_user_id=None, stamp):
    for item in loaded:
        tz = ZoneInfo(item.schedule.time_zone)
        computed = item.compute(start, end)
        for layer in item.layers:
            for shift in computed.shifts[layer.pk]:
                if only_user_id is not None and shift.user_id != only_user_id:
                    continue
                person = item.users[shift.user_id]
                cover = " (override)" if shift.override_id else ""
                if only_user_id is None:
                    summary = f"{layer.name}: {person}{cover}"
                else:
                    summary = f"On call: {item.schedule.team} {layer.name}{cover}"
                yield _event(
                    shift=shift,
                    summary=summary,
                    description=f"{item.schedule} · {layer.name} · {person}",
                    tz=tz,
                    stamp=stamp,
                )


def _add_time_zones(cal: Calendar) -> None:
    """A VTIMEZONE, ahead of the events, for each zone they name (UTC times need none),
    written for the years the events span."""
    times: dict[str, list[dt.datetime]] = {}
    for event in cal.walk("VEVENT"):
        for name in ("DTSTART", "DTEND"):
            when = event[name].dt
            times.setdefault(str(when.tzinfo), []).append(when)
    cal.subcomponents[:0] = [
        vtimezone(ZoneInfo(tzid), min(times[tzid]), max(times[tzid]))
        for tzid in sorted(cal.get_missing_tzids())
    ]


def schedule_calendar(schedule: Schedule, *, now: dt.datetime | None = None) -> bytes:
    now = now or timezone.now()
    cal = _calendar(f"{schedule} on-call")
    loaded = load_schedules([schedule], now - PAST, now + FUTURE)
    for event in _events(loaded, now - PAST, now + FUTURE, stamp=now):
        cal.add_component(event)
    _add_time_zones(cal)
    return cal.to_ical()


def person_calendar(user, *, now: dt.datetime | None = None) -> bytes:
    now = now or timezone.now()
    cal = _calendar(f"{user}'s on-call shifts")
    schedules = Schedule.objects.filter(team__memberships__user=user).select_related("team")
    loaded = load_schedules(schedules.distinct(), now - PAST, now + FUTURE)
    for event in _events(loaded, now - PAST, now + FUTURE, only_user_id=user.pk, stamp=now):
        cal.add_component(event)
    _add_time_zones(cal)
    return cal.to_ical()


def shift_when(start: dt.datetime, end: dt.datetime, tz=None) -> str:
    """A calendar block's times, with dates once it spans a day or more (a weekly shift reads
    'Mon 30 Nov 09:00 – Mon 7 Dec 09:00', not 'Mon 09:00–Mon 09:00')."""
    tz = tz or timezone.get_current_timezone()
    s, e = start.astimezone(tz), end.astimezone(tz)
    if end - start >= DAY:
        return f"{s:%a} {s.day} {s:%b %H:%M} – {e:%a} {e.day} {e:%b %H:%M}"
    if s.date() == e.date():
        return f"{s:%a %H:%M}–{e:%H:%M}"
    return f"{s:%a %H:%M}–{e:%a %H:%M}"
