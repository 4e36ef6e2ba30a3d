"""Demo data: the seed document's incident, the v1.5.2 authentication deployment of
2024-01-15, with every row of its postmortem timeline as a timeline event at its exact time.

Idempotent: running it again finds the incident and adds only rows that are missing.
"""

import datetime as dt
from decimal import Decimal

import structlog
from django.db import transaction

from audit.services import audit_record
from incidents.models import RECORDED_FACTS, ChecklistItem, EventKind, Incident, Severity, Status
from incidents.services import checklist_create, timeline_event_add

log = structlog.get_logger(__name__)

INCIDENT_DATE = dt.date(2024, 1, 15)
TITLE = "Authentication failures after v1.5.2 deployment"
SUMMARY = (
    "Deployment v1.5.2 introduced a bug in the authentication middleware: the new JWT "
    "validation crashed on expired refresh tokens, and the error rate rose from 5% to 15%. "
    "Rolling back to v1.5.1 restored service.\n\n"
    "Responders: Alex (primary), Jordan (secondary), Sam (escalation)."
)
STATUS_PAGE_URL = "https://status.company.com/incidents/2024-01-15"
AFFECTED_SERVICES = ["agent-api", "authentication"]

# The seed's "Timeline (all times UTC)" table, row by row:
# (time, kind, event text as written, pinned as a key event, author's demo username, data)
TIMELINE = [
    ("03:10", EventKind.DEPLOY, "Deployment of v1.5.2 begins (rolling update)", True, None,
     {"version": "v1.5.2", "strategy": "rolling update"}),
    ("03:12", EventKind.NOTE, "Error rate starts increasing (5% → 15%)", True, None, {}),
    ("03:13", EventKind.ALERT, 'Alert fires: "High error rate"', True, None,
     {"alertname": "High error rate"}),
    ("03:14", EventKind.ACK, "On-call (Alex) acknowledges alert", True, "alex",
     {"status": Status.ACKNOWLEDGED.value}),
    ("03:17", EventKind.NOTE, "Alex identifies pattern: auth failures", False, "alex", {}),
    ("03:20", EventKind.ROLLBACK, "Decision made to rollback", True, "alex",
     {"phase": "decided", "to_version": "v1.5.1"}),
    ("03:22", EventKind.ROLLBACK, "Rollback initiated", False, "alex",
     {"phase": "started", "to_version": "v1.5.1"}),
    ("03:27", EventKind.ROLLBACK, "Rollback complete, all pods on v1.5.1", True, "alex",
     {"phase": "completed", "to_version": "v1.5.1", "status": Status.MITIGATED.value}),
    ("03:30", EventKind.NOTE, "Error rate returning to normal", False, "alex", {}),
    ("03:35", EventKind.NOTE, "Monitoring for regression", False, "alex", {}),
    ("03:49", EventKind.STATUS, "Incident resolved, error rate <0.1%", True, "alex",
     {"from": Status.MITIGATED.value, "to": Status.RESOLVED.value}),
]  # fmt: skip


def at(hhmm: str) -> dt.datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return dt.datetime.combine(INCIDENT_DATE, dt.time(hour, minute), tzinfo=dt.UTC)


# Response checklist items the seed's timeline shows done, with the row that shows it.
CHECKLIST_DONE = [
    ("Alert received and acknowledged", "03:14"),
    ("Obvious fix attempted (rollback, scale, etc.)", "03:22"),
    ("Mitigation confirmed working", "03:30"),
    ("Monitoring confirms resolution", "03:49"),
    ("Incident declared resolved", "03:49"),
]

STARTED_AT = at("03:10")  # the deployment that caused it
DECLARED_AT = at("03:13")  # the alert opened the incident
ACKNOWLEDGED_AT = at("03:14")
MITIGATED_AT = at("03:27")  # rollback complete; the error rate fell from then on
RESOLVED_AT = at("03:49")


def seed(*, team, users):
    """Add the seed document's incident to the demo team (once)."""
    with transaction.atomic():
        incident = Incident.objects.filter(title=TITLE, team=team, started_at=STARTED_AT).first()
        if incident is None:
            incident = _create_incident(team=team, users=users)
        incident.responders.add(*(users[name] for name in ("alex", "jordan", "sam")))
        added = _add_missing_timeline_rows(incident=incident, users=users)
        if not ChecklistItem.objects.filter(incident=incident).exists():
            _add_checklist(incident=incident, users=users)
    log.info("demo_incident_ready", incident_id=incident.pk, events_added=added)
    return incident


def _create_incident(*, team, users):
    # Created as it ended rather than through incident_declare: the declaration, its page and
    # its status changes happened in 2024, and their timeline rows are the seed's own.
    incident = Incident.objects.create(
        title=TITLE,
        summary=SUMMARY,
        severity=Severity.objects.get(name="SEV2"),
        team=team,
        status=Status.RESOLVED,
        started_at=STARTED_AT,
        declared_at=DECLARED_AT,
        acknowledged_at=ACKNOWLEDGED_AT,
        mitigated_at=MITIGATED_AT,
        resolved_at=RESOLVED_AT,
        users_affected=3000,
        failed_requests=4500,
        revenue_impact=Decimal("2000.00"),
        sla_breach=True,
        affected_services=AFFECTED_SERVICES,
        status_page_url=STATUS_PAGE_URL,
        commander=users["alex"],
    )
    audit_record(
        actor=None,
        action="incident.declare",
        obj=incident,
        after={"title": TITLE, "severity": "SEV2", "team": team.slug, "source": "seed_demo"},
    )
    return incident


def _add_missing_timeline_rows(*, incident, users) -> int:
    existing = set(
        incident.events.filter(deleted_at__isnull=True).values_list("occurred_at", "body")
    )
    added = 0
    for hhmm, kind, text, pinned, author, data in TIMELINE:
        if (at(hhmm), text) in existing:
            continue
        timeline_event_add(
            incident=incident,
            kind=kind,
            body=text,
            author=users[author] if author else None,
            occurred_at=at(hhmm),
            data={**data, "source": "postmortem timeline"},
            pinned=pinned,
        )
        added += 1
    return added


def _add_checklist(*, incident, users) -> None:
    # Ticked at the seed's times without timeline rows of their own: the seed's table is the
    # timeline, and checklist_item_set_done would date them now.
    checklist_create(incident=incident)
    for text, hhmm in CHECKLIST_DONE:
        by_vigil = text in RECORDED_FACTS  # what Vigil recorded, it ticks itself
        ChecklistItem.objects.filter(incident=incident, text=text).update(
            done_at=at(hhmm), done_by=None if by_vigil else users["alex"], done_by_vigil=by_vigil
        )
