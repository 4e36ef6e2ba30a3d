"""Writing status updates, public incidents, templates and a status page's parts. Every write
is audited; every update is on the incident's timeline."""

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import audit_record
from incidents.models import EventKind
from incidents.services import status_page_updated, timeline_event_add
from status.models import (
    Component,
    ComponentImpact,
    ComponentStatus,
    Impact,
    Phase,
    PublicIncident,
    StatusPage,
    StatusUpdate,
    UpdateTemplate,
)
from status.subscribers import notices_for_update
from status.wording import DEFAULTS, WordingError, placeholders_in
from teams.access import has_team_role
from teams.models import Role

BODY_LIMIT = 5000
NAME_LIMIT = 200


class StatusError(ValueError):
    """A refused communication write; the message says why and nothing was stored."""


def template_text(*, team, phase) -> str:
    own = UpdateTemplate.objects.filter(team=team, phase=phase).values_list("body", flat=True)
    return own.first() or DEFAULTS[Phase(phase)]


def templates_for(*, team) -> dict[str, str]:
    """Every phase's wording for a team: its own where it wrote one, else Vigil's."""
    own = dict(UpdateTemplate.objects.filter(team=team).values_list("phase", "body"))
    return {phase.value: own.get(phase.value) or DEFAULTS[phase] for phase in Phase}


def template_save(*, team, phase, body, by) -> UpdateTemplate | None:
    """Save a team's wording for a phase; an empty body goes back to Vigil's default."""
    if phase not in Phase.values:
        raise StatusError(f"Unknown phase {phase!r}.")
    body = (body or "").strip()
    if len(body) > BODY_LIMIT:
        raise StatusError(f"A template is at most {BODY_LIMIT} characters.")
    with transaction.atomic():
        current = UpdateTemplate.objects.select_for_update().filter(team=team, phase=phase).first()
        before = {"body": current.body} if current else {"body": None}
        if not body or body == DEFAULTS[Phase(phase)]:
            if current:
                current.delete()
                audit_record(actor=by, action="status.template_reset", obj=team, before=before)
            return None
        try:
            placeholders_in(body)
        except WordingError as error:
            raise StatusError(str(error)) from None
        template, _ = UpdateTemplate.objects.update_or_create(
            team=team,
            phase=phase,
            defaults={"body": body, "updated_by": by, "updated_at": timezone.now()},
        )
        audit_record(
            actor=by,
            action="status.template_save",
            obj=team,
            before=before,
            after={"phase": phase, "body": body},
        )
    return template


def _clean_body(body) -> str:
    body = (body or "").strip()
    if not body:
        raise StatusError("A status update needs some text.")
    if len(body) > BODY_LIMIT:
        raise StatusError(f"A status update is at most {BODY_LIMIT} characters.")
    return body


def _clean_components(page, components) -> dict[Component, str]:
    """{component id: status} → {Component: status}, each the page's and each status known."""
    components = components or {}
    for status in components.values():
        if status not in ComponentStatus.values:
            raise StatusError(f"Unknown component status {status!r}.")
    found = {c.pk: c for c in Component.objects.filter(page=page, pk__in=list(components))}
    missing = [str(pk) for pk in components if int(pk) not in found]
    if missing:
        raise StatusError(f"Component {', '.join(missing)} is not on the page {page.title}.")
    return {found[int(pk)]: status for pk, status in components.items()}


def may_post_to(*, user, page, incident) -> bool:
    """A page takes the updates of its own team's incidents, and of any incident from a
    responder of the page's team."""
    return page.team_id == incident.team_id or has_team_role(user, page.team_id, Role.RESPONDER)


def status_update_post(
    *,
    incident,
    phase,
    body,
    by,
    public=False,
    page=None,
    name=None,
    impact=None,
    components=None,
) -> StatusUpdate:
    """Post one update. Internal: on the timeline only. Public: on `page` (and later to its
    subscribers) under the public `name`, with the components' statuses it sets. Nothing
    is written when any part is refused. The view makes sure a person pressed the button."""
    if phase not in Phase.values:
        raise StatusError(
            f"Unknown phase {phase!r}: say investigating, identified, monitoring or resolved."
        )
    body = _clean_body(body)
    if public:
        if page is None:
            raise StatusError("Say which status page the public update is for.")
        if incident.is_private:
            raise StatusError("A private incident never goes on a public status page.")
        if incident.is_drill:
            raise StatusError("A drill never goes on a public status page.")
        if not may_post_to(user=by, page=page, incident=incident):
            raise StatusError(f"This incident's team does not post to {page.title}.")
        if impact is not None and impact not in Impact.values:
            raise StatusError(f"Unknown impact {impact!r}.")
        impacts = _clean_components(page, components)
    elif components:
        raise StatusError("Only a public update sets the components' statuses.")
    now = timezone.now()
    with transaction.atomic():
        public_incident = None
        if public:
            public_incident = _public_incident_for(
                page=page, incident=incident, name=name, impact=impact, phase=phase, now=now
            )
        update = StatusUpdate.objects.create(
            incident=incident,
            public_incident=public_incident,
            phase=phase,
            body=body,
            is_public=public,
            posted_by=by,
            posted_at=now,
        )
        if public:
            ComponentImpact.objects.bulk_create(
                ComponentImpact(update=update, component=c, status=s) for c, s in impacts.items()
            )
        where = f"public, on {page.title}" if public else "internal"
        label = Phase(phase).label
        lines = [f"{by.display_name} posted a status update ({label}, {where}): {body}"]
        if public and impacts:
            named = "; ".join(
                f"{c.name} {ComponentStatus(s).label.lower()}" for c, s in impacts.items()
            )
            lines.append(f"Components: {named}.")
        event = timeline_event_add(
            incident=incident,
            kind=EventKind.COMMS,
            body="\n\n".join(lines),
            author=by,
            occurred_at=now,
            data={
                "update": update.pk,
                "phase": phase,
                "public": public,
                "page": page.slug if public else None,
            },
        )
        update.timeline_event = event
        update.save(update_fields=["timeline_event"])
        if public:
            status_page_updated(incident=incident, at=now)
            # The page's subscribers are told once the update is committed.
            transaction.on_commit(lambda: notices_for_update(update.pk), robust=True)
        audit_record(
            actor=by,
            action="status.update_public" if public else "status.update_internal",
            obj=incident,
            after={
                "phase": phase,
                "body": body,
                "page": page.slug if public else None,
                "components": {c.name: s for c, s in impacts.items()} if public else {},
            },
        )
    return update


def _public_incident_for(*, page, incident, name, impact, phase, now) -> PublicIncident:
    name = (name or "").strip()
    if len(name) > NAME_LIMIT:
        raise StatusError(f"A public title is at most {NAME_LIMIT} characters.")
    current = (
        PublicIncident.objects.select_for_update().filter(page=page, incident=incident).first()
    )
    if current is None:
        if not name:
            raise StatusError("The first public update needs a public title.")
        try:
            with transaction.atomic():
                current = PublicIncident.objects.create(
                    page=page,
                    incident=incident,
                    name=name,
                    impact=impact or Impact.MINOR,
                    phase=phase,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError:
            # Someone else's first update won the race: this one follows it.
            current = PublicIncident.objects.select_for_update().get(page=page, incident=incident)
        else:
            return _resolved_as(current, phase, now)
    if name:
        current.name = name
    if impact:
        current.impact = impact
    current.phase = phase
    current.updated_at = now
    return _resolved_as(current, phase, now)


def _resolved_as(public_incident, phase, now) -> PublicIncident:
    public_incident.resolved_at = now if phase == Phase.RESOLVED else None
    public_incident.save()
    return public_incident


def status_page_save(*, page: StatusPage, by) -> StatusPage:
    """Save a page (made or edited in the admin or a form); one page is the default."""
    with transaction.atomic():
        if page.is_default:
            StatusPage.objects.filter(is_default=True).exclude(pk=page.pk).update(is_default=False)
        creating = page.pk is None
        page.save()
        audit_record(
            actor=by,
            action="status.page_create" if creating else "status.page_save",
            obj=page,
            after={"slug": page.slug, "title": page.title, "is_default": page.is_default},
        )
    return page
