"""The words of a status update: Vigil's default per phase, a team's own, and the
placeholders filled from the incident."""

import string
from datetime import timedelta

from django.utils import timezone

from status.models import Phase

DEFAULTS = {
    Phase.INVESTIGATING: (
        "We are investigating {impact} affecting {services}, which started at {started_at}. "
        "Next update by {next_update_at}."
    ),
    Phase.IDENTIFIED: (
        "We have identified the cause of {impact} affecting {services} and are working on a "
        "fix. Next update by {next_update_at}."
    ),
    Phase.MONITORING: (
        "A fix for {impact} affecting {services} is in place and we are watching the results. "
        "Next update by {next_update_at}."
    ),
    Phase.RESOLVED: (
        "The issue affecting {services} has been resolved. It started at {started_at}. "
        "Thank you for your patience."
    ),
}

PLACEHOLDERS = {
    "title": "the incident's title",
    "services": "the affected services (or components)",
    "impact": "the impact summary",
    "started_at": "when the impact started (the page's time zone)",
    "next_update_at": "when the next update is due under the severity's cadence",
    "severity": "the severity (SEV1–SEV4)",
}


class WordingError(ValueError):
    pass


def placeholders_in(text: str) -> list[str]:
    """The placeholder names in a template; a malformed one or an unknown name is refused."""
    names = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise WordingError(
            f"The template has a stray brace ({error}); write {{{{ or }}}} for a literal one."
        ) from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            known = ", ".join("{" + n + "}" for n in PLACEHOLDERS)
            raise WordingError(f"Unknown placeholder {{{name}}}: the known ones are {known}.")
        names.append(name)
    return names


def values_for(*, incident, components=(), tz=None, at=None) -> dict:
    """The placeholder values for an incident, times in `tz` (the status page's zone)."""
    at = at or timezone.now()
    tz = tz or timezone.get_current_timezone()
    started = incident.started_at or incident.declared_at
    cadence = incident.severity.update_cadence or timedelta(minutes=30)
    names = [c.name for c in components] or [str(s) for s in incident.affected_services or []]
    services = ", ".join(names) or "our service"
    return {
        "title": incident.title,
        "services": services,
        "impact": incident.summary or "an issue",
        "started_at": _clock(started.astimezone(tz)),
        "next_update_at": _clock((at + cadence).astimezone(tz)),
        "severity": incident.severity.name,
    }


def _clock(moment) -> str:
    return moment.strftime("%H:%M %Z").strip()


def fill(text: str, values: dict) -> str:
    placeholders_in(text)
    return text.format_map(values)
