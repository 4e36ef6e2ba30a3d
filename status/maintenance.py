"""Planned maintenance silences its components' alerts for the window, through the team's
ordinary silences (so the alerts page shows them and they expire like any other)."""

from django.db import transaction

from alerts.services import silence_create, silence_expire


def _wanted(maintenance) -> list[tuple[str, object, object]]:
    if maintenance.cancelled_at is not None:
        return []
    services = {c.alert_service for c in maintenance.components.all() if c.alert_service}
    return sorted((s, maintenance.starts_at, maintenance.ends_at) for s in services)


def maintenance_silences_sync(*, maintenance, by) -> list:
    """Make the window's silences match it: one per component `service` label, from its
    start to its end; a cancelled window's silences end now. Running it again with nothing
    changed changes nothing."""
    with transaction.atomic():
        current = list(maintenance.silences.select_for_update())
        have = sorted(
            (s.matchers[0]["value"], s.starts_at, s.ends_at)
            for s in current
            if len(s.matchers) == 1
        )
        wanted = _wanted(maintenance)
        if have == wanted and len(have) == len(current):
            return current
        for silence in current:
            silence_expire(silence=silence, by=by)
        maintenance.silences.clear()
        made = [
            silence_create(
                team=maintenance.page.team,
                matchers=[{"name": "service", "op": "=", "value": service}],
                starts_at=starts_at,
                ends_at=ends_at,
                reason=f"Planned maintenance on {maintenance.page.title}: {maintenance.name}",
                by=by,
            )
            for service, starts_at, ends_at in wanted
        ]
        maintenance.silences.add(*made)
    return made
