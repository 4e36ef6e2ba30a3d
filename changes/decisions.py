""" "Roll back": the decision recorded with who, when, which change and how, and what follows
it (the mitigation item ticked, the post-rollback checklist, the recovery watch)."""

import structlog
from django.db import transaction

from audit.services import audit_record
from changes import procedures, recovery
from changes.models import Procedure, RollbackDecision
from changes.services import ChangeError
from incidents.models import POST_ROLLBACK_CHECKLIST, ChecklistFact, EventKind, Incident
from incidents.services import (
    checklist_add_post_rollback,
    checklist_tick_recorded,
    timeline_event_add,
)

logger = structlog.get_logger(__name__)


def rollback_decide(*, incident, change, procedure: str, by, advice=None) -> RollbackDecision:
    """Record the decision to roll `change` back (None: no recorded change) with the
    procedure picked; `advice` is the advisor's snapshot at that moment."""
    if procedure not in Procedure.values:
        raise ChangeError(f"Pick one of the procedures: {', '.join(Procedure.labels)}.")
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if not locked.is_open:
            raise ChangeError("The incident is resolved: reopen it before deciding a rollback.")
        commands = procedures.commands(procedure, change)
        decision = RollbackDecision.objects.create(
            incident=locked,
            change=change,
            procedure=procedure,
            commands=commands,
            advice=advice or {},
            decided_by=by,
        )
        label = Procedure(procedure).label
        what = (
            f"{change.service.name}"
            + (f" {change.version}" if change.version else "")
            + (f" in {change.environment}" if change.environment else "")
            if change
            else "the last change"
        )
        advised = (advice or {}).get("recommendation")
        body = f"Rollback decided by {by.display_name}: roll back {what} ({label})."
        if advised:
            body += f" The advisor said: {advised.replace('_', ' ')}."
        body += f"\n\n```\n{commands}\n```"
        timeline_event_add(
            incident=locked,
            kind=EventKind.ROLLBACK,
            author=by,
            body=body,
            data={
                "decision": decision.pk,
                "change": change.pk if change else None,
                "procedure": procedure,
                "recommendation": advised or "",
            },
        )
        checklist_tick_recorded(incident=locked, fact=ChecklistFact.MITIGATION)
        if checklist_add_post_rollback(incident=locked):
            timeline_event_add(
                incident=locked,
                kind=EventKind.CHECKLIST,
                body="Vigil opened the post-rollback checklist: "
                + "; ".join(text.split(":")[0] for text in POST_ROLLBACK_CHECKLIST)
                + ".",
                data={"phase": "post_rollback", "opened": True},
            )
        recovery.watch_start(
            incident=locked,
            trigger="Rollback",
            service=change.service if change else None,
            decision=decision,
            by=by,
        )
        audit_record(
            actor=by,
            action="rollback.decide",
            obj=decision,
            after={
                "incident": locked.pk,
                "change": change.pk if change else None,
                "procedure": procedure,
            },
        )
    logger.info(
        "rollback_decided",
        incident_id=locked.pk,
        decision_id=decision.pk,
        procedure=procedure,
    )
    return decision
