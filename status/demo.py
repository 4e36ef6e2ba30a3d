"""Demo data for communications: the demo team's public status page with its components, the
seed document's incident told there as the public saw it, and next week's maintenance.
Idempotent: each row is found by its page, name or incident first."""

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from status.models import (
    Component,
    ComponentGroup,
    ComponentImpact,
    Impact,
    Maintenance,
    Phase,
    PublicIncident,
    StatusPage,
    StatusUpdate,
)

COMPONENTS = [
    # (group, name, description)
    ("Agents", "Agent API", "Answers to your agents' requests"),
    ("Agents", "Agent workers", "Background jobs and tool calls"),
    ("Web", "Dashboard", "The web dashboard"),
]  # fmt: skip

UPDATES = [
    # (minutes after the impact started, phase, body, Agent API's status)
    (5, Phase.INVESTIGATING, "Some agent requests fail with errors. We are investigating.",
     "partial_outage"),
    (15, Phase.IDENTIFIED, "A deployment caused the errors. We are rolling it back.",
     "partial_outage"),
    (20, Phase.MONITORING, "The rollback is done and errors are back to normal. We are "
     "watching.", "degraded_performance"),
    (35, Phase.RESOLVED, "Agent requests have worked normally for 15 minutes. This incident "
     "is resolved.", "operational"),
]  # fmt: skip


def seed(*, team, users, incident=None):
    if StatusPage._meta.db_table not in connection.introspection.table_names():
        return  # a database migrated only part of the way
    with transaction.atomic():
        page, _ = StatusPage.objects.get_or_create(
            slug="vigil-demo",
            defaults={
                "title": "Vigil Demo status",
                "description": "Is the demo agent platform working?",
                "team": team,
                "is_default": not StatusPage.objects.filter(is_default=True).exists(),
            },
        )
        by_name = {}
        for position, (group_name, name, description) in enumerate(COMPONENTS):
            group, _ = ComponentGroup.objects.get_or_create(
                page=page, name=group_name, defaults={"position": position}
            )
            by_name[name], _ = Component.objects.get_or_create(
                page=page,
                name=name,
                defaults={
                    "group": group,
                    "description": description,
                    "position": position,
                    "created_at": timezone.now() - timedelta(days=120),
                },
            )
        if incident is not None and not incident.is_private:
            _tell(page, incident, by_name["Agent API"], users)
        start = (timezone.now() + timedelta(days=7)).replace(
            hour=2, minute=0, second=0, microsecond=0
        )
        window, made = Maintenance.objects.get_or_create(
            page=page,
            name="Database upgrade",
            defaults={
                "body": "The agent database moves to PostgreSQL 16. Requests may be slower.",
                "starts_at": start,
                "ends_at": start + timedelta(hours=1),
            },
        )
        if made:
            window.components.add(by_name["Agent API"], by_name["Agent workers"])
    return page


def _tell(page, incident, api, users):
    start = incident.started_at
    public, made = PublicIncident.objects.get_or_create(
        page=page,
        incident=incident,
        defaults={
            "name": "Errors on agent requests",
            "impact": Impact.MAJOR,
            "phase": Phase.RESOLVED,
            "created_at": start + timedelta(minutes=5),
            "updated_at": start + timedelta(minutes=35),
            "resolved_at": start + timedelta(minutes=35),
        },
    )
    if not made:
        return
    author = users.get("riley")
    for minutes, phase, body, status in UPDATES:
        update = StatusUpdate.objects.create(
            incident=incident,
            public_incident=public,
            phase=phase,
            body=body,
            is_public=True,
            posted_by=author,
            posted_at=start + timedelta(minutes=minutes),
        )
        ComponentImpact.objects.create(update=update, component=api, status=status)
