"""The team's side of communications: the incident's panel, writing an update from a
phase's template, and a team's own templates."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Q
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods

from common.inputs import parse_id
from incidents.models import EventKind
from incidents.selectors import incident_for_page
from paging.models import Notification
from status.cadence import REMINDER_PURPOSE, update_overdue
from status.models import (
    IMPACT_FOR_SEVERITY,
    Component,
    ComponentStatus,
    Impact,
    Phase,
    PublicIncident,
    Stakeholder,
    StatusPage,
    StatusUpdate,
)
from status.services import StatusError, status_update_post, template_save, templates_for
from status.stakeholders import STAKEHOLDER_PURPOSE, stakeholders_tell
from status.wording import PLACEHOLDERS, fill, values_for
from teams.access import CHANGE, MANAGE, can, get_object_for_user, team_roles
from teams.models import Team

RECENT_UPDATES = 5
RECENT_DELIVERIES = 20


def pages_for(*, user, incident) -> list[StatusPage]:
    """The status pages a person may post this incident's public updates to: its team's,
    and those of teams the person responds for."""
    if incident.is_private or incident.is_drill:
        return []
    teams = [incident.team_id, *team_roles(user)]
    return list(StatusPage.objects.filter(Q(team_id__in=teams)).order_by("-is_default", "title"))


def panel_context(*, incident, user) -> dict:
    updates = list(
        StatusUpdate.objects.filter(incident_id=incident.pk)
        .select_related("posted_by", "public_incident__page")
        .order_by("-posted_at", "-id")[:RECENT_UPDATES]
    )
    public = list(PublicIncident.objects.filter(incident_id=incident.pk).select_related("page"))
    deliveries = list(
        Notification.objects.filter(
            incident_id=incident.pk, purpose__in=[STAKEHOLDER_PURPOSE, REMINDER_PURPOSE]
        )
        .select_related("user")
        .order_by("-created_at", "-id")[:RECENT_DELIVERIES]
    )
    return {
        "updates": updates,
        "public_incidents": public,
        "phases": Phase.choices,
        "can_change": incident.is_open and can(user, CHANGE, incident),
        "overdue": update_overdue(incident=incident) if incident.is_open else None,
        "deliveries": deliveries,
    }


PANEL_REFRESH = {EventKind.COMMS}


def _components_from(post, page) -> dict[int, str]:
    chosen = {}
    for component in Component.objects.filter(page=page):
        value = post.get(f"component-{component.pk}", "")
        if value:
            chosen[component.pk] = value
    return chosen


@login_required
@require_http_methods(["GET", "POST"])
def update_post(request, pk):
    """Write a status update: the phase's template filled from the incident, edited by the
    person, posted internal or public when they press the button."""
    incident = get_object_for_user(request.user, incident_for_page(), action=CHANGE, pk=pk)
    pages = pages_for(user=request.user, incident=incident)
    data = request.POST if request.method == "POST" else request.GET
    phase = data.get("phase") if data.get("phase") in Phase.values else Phase.INVESTIGATING
    audience = data.get("audience", "internal")
    page = None
    if audience != "internal":
        page = next((p for p in pages if p.pk == parse_id(audience)), None)
    tell = data.get("tell_stakeholders") == "on"
    error = ""
    if request.method == "POST":
        if audience != "internal" and page is None:
            error = "Pick one of the status pages listed, or Internal."
        else:
            try:
                with transaction.atomic():
                    update = status_update_post(
                        incident=incident,
                        phase=phase,
                        body=data.get("body", ""),
                        by=request.user,
                        public=page is not None,
                        page=page,
                        name=data.get("public_name", ""),
                        impact=data.get("impact") or None,
                        components=_components_from(request.POST, page) if page else None,
                    )
                    told = stakeholders_tell(update=update) if tell else []
            except StatusError as exc:
                error = str(exc)
            else:
                where = f"published on {page.title}" if page else "posted (internal)"
                if tell:
                    where += f", and {len(told)} message{pluralize(len(told))} to the stakeholders"
                messages.success(request, f"Status update {where}.")
                return redirect(f"{incident.get_absolute_url()}#part-communications")
    known_as = dict(
        PublicIncident.objects.filter(incident_id=incident.pk).values_list("page_id", "name")
    )
    by_page = {p.pk: [] for p in pages}
    components = Component.objects.filter(page__in=pages).select_related("group")
    for component in components.order_by("group__position", "group__name", "position", "name"):
        value = data.get(f"component-{component.pk}", "")
        by_page[component.page_id].append((component, value))
    body = data.get("body")
    if body is None:
        text = templates_for(team=incident.team)[phase]
        body = fill(text, values_for(incident=incident))
    return render(
        request,
        "status/update_form.html",
        {
            "incident": incident,
            "phase": phase,
            "phases": Phase.choices,
            "body": body,
            "audience": audience,
            "page_choices": [(p, known_as.get(p.pk, ""), p == page) for p in pages],
            "component_choices": [(p, by_page[p.pk]) for p in pages if by_page[p.pk]],
            "public_name": data.get("public_name", ""),
            "impact": data.get("impact")
            or IMPACT_FOR_SEVERITY.get(incident.severity.level, Impact.MINOR),
            "impacts": Impact.choices,
            "statuses": ComponentStatus.choices,
            "tell_stakeholders": tell,
            "stakeholder_count": Stakeholder.objects.filter(team_id=incident.team_id).count(),
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def team_templates(request, slug):
    """A team's wording per phase: its members read it, its managers change it."""
    team = get_object_for_user(
        request.user,
        Team.objects.all(),
        action=MANAGE if request.method == "POST" else "view",
        slug=slug,
    )
    error = ""
    if request.method == "POST":
        try:
            for phase in Phase.values:
                if f"template-{phase}" in request.POST:
                    template_save(
                        team=team,
                        phase=phase,
                        body=request.POST[f"template-{phase}"],
                        by=request.user,
                    )
        except StatusError as exc:
            error = str(exc)
        else:
            messages.success(request, "Templates saved.")
            return redirect("status_team_templates", slug=team.slug)
    texts = templates_for(team=team)
    if error:
        texts |= {p: request.POST.get(f"template-{p}", texts[p]) for p in Phase.values}
    return render(
        request,
        "status/team_templates.html",
        {
            "team": team,
            "templates": [(value, label, texts[value]) for value, label in Phase.choices],
            "placeholders": PLACEHOLDERS.items(),
            "may_manage": can(request.user, MANAGE, team),
            "error": error,
        },
        status=400 if error else 200,
    )
