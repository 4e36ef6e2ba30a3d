"""Writes to a team's own settings: its time zone, business hours and alert routing."""

import zoneinfo

from django.db import transaction

from audit.masking import masked_key, masked_url
from audit.services import audit_record
from teams.models import Team, TeamRouting


class TeamSettingsError(ValueError):
    """A setting a person chose that cannot be saved; the message says why."""


def _team_settings_snapshot(team, routing) -> dict:
    return {
        "time_zone": team.time_zone,
        "business_days": list(routing.business_days),
        "business_start": routing.business_start.strftime("%H:%M"),
        "business_end": routing.business_end.strftime("%H:%M"),
    }


@transaction.atomic
def team_settings_save(
    *, team, time_zone: str, business_days: list[int], business_start, business_end, by
):
    """Set the time zone and business hours that alert routing reads; audited."""
    if time_zone not in zoneinfo.available_timezones():
        raise TeamSettingsError(f"{time_zone!r} is not a known time zone (e.g. Europe/Berlin).")
    if not business_days or any(d not in range(7) for d in business_days):
        raise TeamSettingsError("Choose at least one business day (Monday to Sunday).")
    if business_start >= business_end:
        raise TeamSettingsError("Business hours must end after they start.")
    locked = Team.objects.select_for_update().get(pk=team.pk)
    # get_or_create: a team inserted around Team.save (a bulk insert) has no row yet.
    routing, _ = TeamRouting.objects.select_for_update().get_or_create(team=locked)
    before = _team_settings_snapshot(locked, routing)
    locked.time_zone = time_zone
    locked.save(update_fields=["time_zone"])
    routing.business_days = sorted(set(business_days))
    routing.business_start = business_start
    routing.business_end = business_end
    routing.save(update_fields=["business_days", "business_start", "business_end"])
    after = _team_settings_snapshot(locked, routing)
    if after != before:
        audit_record(
            actor=by, action="team.settings_change", obj=locked, before=before, after=after
        )
    return locked


# Routing fields that are credentials: the audit trail keeps them masked.
_ROUTING_SECRETS = {
    "incidents_webhook_url": masked_url,
    "oncall_webhook_url": masked_url,
    "alerts_webhook_url": masked_url,
    "pagerduty_routing_key": masked_key,
}


def _routing_changes(before: dict, after: dict) -> tuple[dict, dict]:
    """The fields an edit changed, before and after, credentials masked. A field is listed
    because its value changed, even where the masked forms read the same."""
    changed = [field for field, value in after.items() if before.get(field) != value]

    def shown(field, value):
        mask = _ROUTING_SECRETS.get(field)
        return mask(value or "") if mask else str(value)

    return (
        {field: shown(field, before.get(field)) for field in changed},
        {field: shown(field, after[field]) for field in changed},
    )


ROUTING_FIELDS = (
    "business_days",
    "business_start",
    "business_end",
    "severity_map",
    "incidents_webhook_url",
    "oncall_webhook_url",
    "alerts_webhook_url",
    "pagerduty_routing_key",
)


@transaction.atomic
def routing_save(*, routing, values: dict, by) -> TeamRouting:
    """Save a team's routing (the routing page's form, already validated); audits only the
    fields that changed, credentials masked."""
    unknown = set(values) - set(ROUTING_FIELDS)
    if unknown:
        raise TeamSettingsError(f"Not a routing setting: {', '.join(sorted(unknown))}.")
    locked = TeamRouting.objects.select_for_update().get(pk=routing.pk)
    before = TeamRouting.objects.filter(pk=locked.pk).values().first()
    for field, value in values.items():
        setattr(locked, field, value)
    locked.save(update_fields=list(values))
    after = TeamRouting.objects.filter(pk=locked.pk).values().first()
    before, after = _routing_changes(before, after)
    if after:
        audit_record(actor=by, action="routing.change", obj=locked, before=before, after=after)
    return locked
