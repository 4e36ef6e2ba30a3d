"""The seed's postmortem template: pre-filling its sections from an incident, and exporting
a postmortem as Markdown with exactly the template's structure."""

from datetime import UTC

from django.utils import timezone

from common.text import duration
from incidents.export import markdown_cell, timeline_table
from postmortems.models import SectionKey

TITLE_FORMAT = "Incident Postmortem: {date} - {description}"
ACTION_ITEMS_HEADING = "Action Items"
ACTION_ITEMS_HEADER = (
    "| Action | Owner | Due Date | Priority |\n|--------|-------|----------|----------|"
)
ROOT_CAUSE_PROMPTS = (
    "**What happened**: {summary}\n\n**Why it happened**:\n1. \n\n**Technical details**:\n"
)
ROLE_LABELS = [
    ("commander", "commander"),
    ("comms_lead", "communications lead"),
    ("scribe", "scribe"),
]


def _utc(dt):
    return dt.astimezone(UTC)


def format_duration(started_at, resolved_at) -> str:
    """'37 min (03:12 - 03:49 UTC)'; dates are added when the incident spans days."""
    if resolved_at is None:
        return "Ongoing (not resolved)"
    start, end = _utc(started_at), _utc(resolved_at)
    if start.date() == end.date():
        span = f"{start:%H:%M} - {end:%H:%M} UTC"
    else:
        span = f"{start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} UTC"
    return f"{duration(end - start)} ({span})"


def responders_line(incident) -> str:
    roles: dict[int, tuple[str, list[str]]] = {}
    for field, label in ROLE_LABELS:
        user = getattr(incident, field)
        if user is not None:
            roles.setdefault(user.pk, (user.display_name, []))[1].append(label)
    for user in incident.responders.all():
        roles.setdefault(user.pk, (user.display_name, ["responder"]))
    if not roles:
        return "None recorded"
    return ", ".join(f"{name} ({', '.join(labels)})" for name, labels in roles.values())


def meta_body(incident) -> str:
    return "\n".join(
        [
            f"- **Date**: {_utc(incident.started_at):%Y-%m-%d}",
            f"- **Duration**: {format_duration(incident.started_at, incident.resolved_at)}",
            f"- **Severity**: {incident.severity.name}",
            f"- **Responders**: {responders_line(incident)}",
            f"- **Status Page**: {incident.status_page_url or 'None'}",
        ]
    )


def _number(value, *, prefix="", approximate=False) -> str:
    if value is None:
        return "Unknown"
    text = f"{value:,.0f}" if not isinstance(value, int) else f"{value:,}"
    return f"{'~' if approximate else ''}{prefix}{text}"


def impact_body(incident) -> str:
    users = _number(incident.users_affected, approximate=True)
    revenue = _number(incident.revenue_impact, prefix="$", approximate=True)
    return "\n".join(
        [
            f"- **Users affected**: {users}{' users' if incident.users_affected else ''}",
            f"- **Failed requests**: {_number(incident.failed_requests)}",
            f"- **Revenue impact**: {revenue}",
            f"- **SLA breach**: {'Yes' if incident.sla_breach else 'No'}",
        ]
    )


def timeline_body(incident, events) -> str:
    """The seed's `| Time | Event |` table from the given (non-deleted) events, in UTC as
    the section's heading says: the same table as the incident's timeline export."""
    return timeline_table(events, started_at=incident.started_at)


def initial_sections(incident, events) -> dict[str, str]:
    return {
        SectionKey.META: meta_body(incident),
        SectionKey.IMPACT: impact_body(incident),
        SectionKey.TIMELINE: timeline_body(incident, events),
        SectionKey.ROOT_CAUSE: ROOT_CAUSE_PROMPTS.format(summary=incident.summary.strip()),
        SectionKey.WENT_WELL: "- ✅ ",
        SectionKey.WENT_WRONG: "- ❌ ",
        SectionKey.LESSONS: "1. ",
    }


def owner_name(user) -> str:
    return user.first_name or user.display_name


def action_items_table(items) -> str:
    rows = [ACTION_ITEMS_HEADER]
    for item in items:
        rows.append(
            f"| {markdown_cell(item.title)} | {markdown_cell(owner_name(item.owner))} | "
            f"{item.due_date:%Y-%m-%d} | {item.priority} |"
        )
    return "\n".join(rows)


def document_title(postmortem) -> str:
    return TITLE_FORMAT.format(
        date=f"{_utc(postmortem.incident.started_at):%Y-%m-%d}", description=postmortem.title
    )


def reviewed_by(postmortem) -> str:
    return ", ".join(a.approver.display_name for a in postmortem.approvals.all())


def document_date(postmortem):
    return _utc(postmortem.published_at or postmortem.updated_at or timezone.now()).date()


def export_markdown(postmortem, *, sections, action_items) -> str:
    """The whole document in the seed template's order and headings."""
    by_key = {s.key: s.body.strip() for s in sections}
    parts = [f"# {document_title(postmortem)}", ""]
    for key in SectionKey:
        if key == SectionKey.LESSONS:
            parts += [f"## {ACTION_ITEMS_HEADING}", "", action_items_table(action_items), ""]
        parts += [f"## {key.label}", "", by_key.get(key, ""), ""]
    prepared = postmortem.prepared_by.display_name if postmortem.prepared_by else ""
    parts += [
        "---",
        "",
        f"**Postmortem prepared by**: {prepared}",
        f"**Reviewed by**: {reviewed_by(postmortem)}",
        f"**Date**: {document_date(postmortem):%Y-%m-%d}",
        "",
    ]
    return "\n".join(parts)
