"""The seed's AlertRouter as data: what a new alert group should do, decided from its labels
and the team's routing settings. Pure: no writes, so the rules are easy to test."""

import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from alerts.models import Decision

CHANNEL_LABELS = {
    "incidents": "#incidents",
    "oncall": "#on-call",
    "alerts": "#alerts",
}


@dataclass(frozen=True)
class Route:
    severity: str
    page: bool
    channel: str | None  # "incidents", "oncall", "alerts" or None
    opens_incident: bool
    business_hours: bool
    override: str | None
    decision: str

    def describe(self) -> str:
        parts = []
        if self.page:
            parts.append("paging the on-call now")
        if self.channel:
            parts.append(f"posting to {CHANNEL_LABELS[self.channel]}")
        why = f"severity {self.severity}"
        if self.override:
            why += f", label oncall={self.override}"
        elif self.severity == "warning":
            why += ", inside business hours" if self.business_hours else ", outside business hours"
        return f"Routing ({why}): {' and '.join(parts) or 'no action'}"


def is_business_hours(routing, time_zone: str, at: datetime) -> bool:
    local = at.astimezone(zoneinfo.ZoneInfo(time_zone))
    return (
        local.weekday() in routing.business_days
        and routing.business_start <= local.time().replace(tzinfo=None) < routing.business_end
    )


def decide(*, labels: dict, routing, time_zone: str, at: datetime) -> Route:
    severity = (labels.get("severity") or "warning").lower()
    if severity not in ("critical", "warning", "info"):
        severity = "warning"
    business = is_business_hours(routing, time_zone, at)
    if severity == "critical":
        page, channel = True, "incidents"
    elif severity == "warning":
        page, channel = business, (None if business else "oncall")
    else:
        page, channel = False, "alerts"
    override = labels.get("oncall", "").lower() or None
    if override == "page":
        page = True
    elif override == "slack":
        page = False
        channel = channel or ("oncall" if severity == "warning" else "incidents")
    else:
        override = None
    if page:
        decision = (
            Decision.PAGE_BUSINESS_HOURS
            if severity == "warning" and not override
            else Decision.PAGE
        )
    else:
        decision = {
            "incidents": Decision.INCIDENTS_CHANNEL,
            "oncall": Decision.ONCALL_CHANNEL,
            "alerts": Decision.ALERTS_CHANNEL,
        }[channel]
    return Route(
        severity=severity,
        page=page,
        channel=channel,
        # Paging needs an incident to acknowledge: oncall=page opens one even for info.
        opens_incident=page or severity in ("critical", "warning"),
        business_hours=business,
        override=override,
        decision=decision,
    )
