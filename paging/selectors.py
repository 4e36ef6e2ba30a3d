from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Prefetch
from django.urls import reverse

from common.links import http_url
from common.timezones import zone_or_utc
from incidents.models import EventKind, Status, TimelineEvent
from paging.models import DeliveryAttempt, Escalation, EscalationStatus, Notification, Page
from runbooks.selectors import runbook_slug_from_url, runbooks_for_incident
from teams.access import has_team_role, role_in, sees_contact_values
from teams.models import Role


def delivery_log_for(*, incident, user) -> dict:
    """The incident's escalation and every notification with its attempts (fixed queries).

    Everyone who may see the incident sees whether each notification went out; the raw error
    (an address, "Connection refused") only its owner does: the person paged, or for a team's
    chat channels and PagerDuty the team's managers, and Vigil administrators (the rules of
    teams.access); `n.shows_error` says which."""
    escalation = (
        Escalation.objects.filter(incident=incident).select_related("acknowledged_by").first()
    )
    notifications = list(
        Notification.objects.filter(incident=incident)
        .select_related("user")
        .prefetch_related(
            Prefetch("delivery_attempts", queryset=DeliveryAttempt.objects.order_by("started_at"))
        )
        .order_by("created_at", "id")[:200]
    )
    role = role_in(user, incident.team_id)
    manages_team = has_team_role(user, incident.team_id, Role.MANAGER)
    for n in notifications:
        if n.user_id is None:
            n.shows_error = manages_team
        else:
            n.shows_error = sees_contact_values(user, n.user, team_role=role)
    return {
        "escalation": escalation,
        "notifications": notifications,
        "drill": incident.is_drill,
    }


@dataclass
class FiredAlert:
    name: str
    summary: str


@dataclass
class AckPage:
    """What the acknowledge page shows the paged person: what fired, since when, what to
    read first, and who (if anyone) already acknowledged it."""

    page: Page
    incident: object
    alerts: list
    runbook: object
    runbook_url: str
    external_runbook_url: str
    time_zone: str

    @property
    def escalation(self):
        return self.page.escalation

    @property
    def can_acknowledge(self):
        if self.page.ack_link_used_at:
            return False
        return self.escalation.status in (EscalationStatus.ACTIVE, EscalationStatus.EXHAUSTED)


def _zone_name(name) -> str:
    return zone_or_utc(name).key


def ack_page_for(*, page_id) -> AckPage | None:
    """The acknowledge link's page: the incident's alerts (names and summaries) and its
    matched runbook, as the incident page finds it. Fixed queries."""
    page = (
        Page.objects.select_related("incident__severity", "user", "escalation__acknowledged_by")
        .filter(pk=page_id)
        .first()
    )
    if page is None:
        return None
    incident = page.incident
    alerts, links = [], []
    datas = TimelineEvent.objects.filter(
        incident_id=incident.pk, kind=EventKind.ALERT, deleted_at__isnull=True
    ).values_list("data", flat=True)
    for data in datas:
        if not isinstance(data, dict) or data.get("status") == "resolved":
            continue
        name = data.get("alertname")
        annotations = data.get("annotations")
        summary = annotations.get("summary", "") if isinstance(annotations, dict) else ""
        if not isinstance(name, str) or not name or any(a.name == name for a in alerts):
            continue
        alerts.append(FiredAlert(name=name, summary=summary if isinstance(summary, str) else ""))
        link = http_url(data.get("runbook_url"))
        if link and link not in links:
            links.append(link)
    offered = runbooks_for_incident(incident=incident)
    runbook = offered[0].runbook if offered else None
    runbook_url = ""
    if runbook:
        runbook_url = reverse("incident_runbooks", args=[incident.pk]) + f"?runbook={runbook.slug}"
    # The alert's own runbook link, when it points outside Vigil.
    external = next((u for u in links if runbook_slug_from_url(u) is None), "")
    return AckPage(
        page=page,
        incident=incident,
        alerts=alerts,
        runbook=runbook,
        runbook_url=runbook_url,
        external_runbook_url=external,
        time_zone=_zone_name(page.user.time_zone),
    )


# Escalations that still page people: acknowledging one of their pages stops them.
STILL_PAGING = (EscalationStatus.ACTIVE, EscalationStatus.EXHAUSTED)


def open_pages_for(*, user):
    """The pages addressed to the person that nobody acknowledged and that still page, one
    per incident (its newest page to them), most severe first, then newest. One query."""
    newer = Page.objects.filter(
        escalation_id=OuterRef("escalation_id"), user_id=user.pk, pk__gt=OuterRef("pk")
    )
    return (
        Page.objects.filter(
            user_id=user.pk,
            acknowledged_at__isnull=True,
            escalation__status__in=STILL_PAGING,
        )
        .exclude(incident__status=Status.RESOLVED)
        .filter(~Exists(newer))
        .select_related("incident__severity", "incident__team", "escalation")
        .order_by("incident__severity__level", "-created_at", "-pk")
    )


def page_for_recipient(*, page_id, user) -> Page | None:
    """One of the person's own pages (anyone else's is None), with its escalation and who
    acknowledged it."""
    return (
        Page.objects.select_related("incident", "escalation__acknowledged_by")
        .filter(pk=page_id, user_id=user.pk)
        .first()
    )
