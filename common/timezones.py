"""Time zones from stored names: a name Vigil cannot read (removed from the tz database,
blank, garbage) means UTC rather than an error on a page."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = ZoneInfo("UTC")


def zone_or_utc(name) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC
