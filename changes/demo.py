"""Demo data for changes: the seed document's v1.5.2 deployment (the demo incident's likely
suspect, already on its timeline as the seed wrote it) and its rollback decision, plus the
last day's deploys for the dashboard. Idempotent by each change's sender id."""

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from changes import procedures
from changes.models import (
    ChangeEvent,
    ChangeKind,
    ChangeSource,
    IncidentChange,
    Procedure,
    RollbackDecision,
)
from changes.services import change_record, service_named
from incidents import demo as incidents_demo

RECENT = [
    # (hours ago, service, kind, version, summary, author)
    (20, "agent-api", ChangeKind.DEPLOY, "v1.6.0", "Streamed answers", "jordan"),
    (6, "agent-worker", ChangeKind.CONFIG, "", "Worker concurrency 8 → 12", "sam"),
    (2, "agent-api", ChangeKind.FLAG, "", "Feature flag new_retry_policy: off → on", "alex"),
]  # fmt: skip


def seed(*, team, users, incident=None):
    if ChangeEvent._meta.db_table not in connection.introspection.table_names():
        return  # a database migrated only part of the way: nothing to add to yet
    with transaction.atomic():
        service = service_named(team=team, name="agent-api")
        deploy, _ = ChangeEvent.objects.get_or_create(
            team=team,
            source=ChangeSource.API,
            external_id="demo:v1.5.2",
            defaults={
                "service": service,
                "kind": ChangeKind.DEPLOY,
                "environment": "production",
                "version": "v1.5.2",
                "previous_version": "v1.5.1",
                "summary": "New JWT validation in the authentication middleware",
                "author": "jordan",
                "occurred_at": incidents_demo.at("03:10"),
            },
        )
        if incident is not None:
            # The seed's own timeline already has this deployment (03:10): linked, not added.
            IncidentChange.objects.get_or_create(incident=incident, change=deploy)
            if not RollbackDecision.objects.filter(incident=incident).exists():
                RollbackDecision.objects.create(
                    incident=incident,
                    change=deploy,
                    procedure=Procedure.KUBERNETES,
                    commands=procedures.commands(Procedure.KUBERNETES, deploy),
                    decided_by=users["alex"],
                    decided_at=incidents_demo.at("03:20"),
                )
        now = timezone.now()
        for hours, name, kind, version, summary, author in RECENT:
            details = {"flag": "new_retry_policy"} if kind == ChangeKind.FLAG else {}
            change_record(
                team=team,
                service=name,
                kind=kind,
                version=version,
                summary=summary,
                author=author,
                environment="production",
                occurred_at=now - timedelta(hours=hours),
                source=ChangeSource.API,
                external_id=f"demo:{name}:{summary}",
                details=details,
            )
