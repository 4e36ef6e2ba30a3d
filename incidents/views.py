"""Incident pages: the list, declaring, the incident page with its live timeline, its actions.

Each action view loads the incident through get_object_for_user first, calls one service and
answers either a redirect (no JavaScript) or, for HTMX, the changed part of the page plus the
timeline events written meanwhile (the browser files them into the timeline by their seq).
"""

import structlog
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from common import live
from common.inputs import parse_id
from incidents import live as incident_live
from incidents import services
from incidents.export import timeline_table
from incidents.forms import (
    ROLE_CHOICES,
    TIMELINE_FILTER_CHOICES,
    DeclareIncidentForm,
    ImpactForm,
    IncidentFilterForm,
    NoteEditForm,
    NoteForm,
    RoleForm,
    SeverityForm,
    StatusChangeForm,
    StatusUpdateForm,
)
from incidents.models import (
    ALLOWED_TRANSITIONS,
    ChecklistItem,
    EventKind,
    Incident,
    Status,
    TimelineEvent,
)
from incidents.panels import (
    page_parts,
    panel_jumps,
    panels_for,
    render_panel,
    trigger_refresh,
)
from incidents.selectors import (
    LIST_SORT_COLUMNS,
    checklist_for_incident,
    incident_for_page,
    incident_list_for_user,
    people_for_roles,
    severities,
    status_update_due,
    teams_for_filter,
    teams_user_may_declare_in,
    timeline_changes_after,
    timeline_entry,
    timeline_for_export,
    timeline_page,
    with_people_in_roles,
)
from incidents.services import IncidentError
from teams.access import CHANGE, at_least, can, get_object_for_user, team_roles
from teams.models import Role

log = structlog.get_logger(__name__)

LIST_PAGE_SIZE = 25
PAGE_PARTS = page_parts()
# How soon the browser reconnects a live stream that dropped (and resumes where it was).
STREAM_RETRY_MS = 1000


def _is_partial(request):
    return bool(request.htmx) and not request.htmx.history_restore_request


def _may_declare(user):
    if user.is_superuser:
        return True
    return any(at_least(r, Role.RESPONDER) for r in team_roles(user).values())


# --- list and declare -------------------------------------------------------------------------


def _sort_columns(query, current):
    """The list's sortable column headers: each one's aria-sort and the query its link asks
    for (the first click sorts one way, the next click reverses it; page 1 again)."""
    columns = {}
    for key, (label, first, first_dir, second, second_dir) in LIST_SORT_COLUMNS.items():
        direction = {first: first_dir, second: second_dir}.get(current)
        link = query.copy()
        link["sort"] = second if current == first else first
        columns[key] = {"label": label, "aria_sort": direction, "query": link.urlencode()}
    return columns


@login_required
@require_GET
def incident_list(request):
    sevs, teams = severities(), teams_for_filter()
    form = IncidentFilterForm(request.GET, severities=sevs, teams=teams)
    filters = form.filters()
    page = Paginator(incident_list_for_user(user=request.user, **filters), LIST_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    partial = _is_partial(request)
    template = "incidents/list.html#results" if partial else "incidents/list.html"
    response = render(
        request,
        template,
        {
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "sort_columns": _sort_columns(query, filters["sort"]),
            "may_declare": _may_declare(request.user),
            # A column header's sort arrives with the results; the form's Sort menu follows.
            "sort_out_of_band": partial,
        },
    )
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_http_methods(["GET", "POST"])
def incident_declare(request):
    teams = teams_user_may_declare_in(user=request.user)
    form = DeclareIncidentForm(request.POST or None, teams=teams)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                incident = services.incident_declare(
                    title=form.cleaned_data["title"],
                    severity=form.cleaned_data["severity"],
                    team=form.cleaned_data["team"],
                    by=request.user,
                    page=form.cleaned_data["severity"].pages,
                )
            except IncidentError as exc:
                form.add_error(None, str(exc))
            else:
                log.info("incident.declared", incident_id=incident.pk)
                messages.success(request, f"Incident declared: {incident.title}")
                if request.htmx:
                    return HttpResponseClientRedirect(incident.get_absolute_url())
                return redirect(incident)
        status = 400
    return render(
        request,
        "incidents/declare.html",
        {"form": form, "has_teams": teams.exists()},
        status=status,
    )


# --- the incident page --------------------------------------------------------------------------


STATUS_VERBS = {
    Status.ACKNOWLEDGED: "Acknowledge",
    Status.MITIGATED: "Mitigate",
    Status.RESOLVED: "Resolve",
}


def _next_statuses(incident):
    allowed = ALLOWED_TRANSITIONS[Status(incident.status)]
    return [(s.value, STATUS_VERBS[s]) for s in Status if s in allowed]


def _page_context(
    request, incident, *, timeline_filter="all", before=None, with_timeline=True, with_panels=True
):
    with_people_in_roles(incident)
    can_change = can(request.user, CHANGE, incident)
    checklist = checklist_for_incident(incident=incident)
    context = {
        "incident": incident,
        "can_change": can_change,
        "next_statuses": _next_statuses(incident),
        "checklist": checklist,
        "status_update": status_update_due(incident=incident),
        "people": list(people_for_roles(incident=incident)) if can_change else [],
        "severities": severities() if can_change else [],
        "role_choices": ROLE_CHOICES,
        "timeline_filters": TIMELINE_FILTER_CHOICES,
        "csrf_token": get_token(request),
        # What the "Edit impact" form (ImpactForm's fields) starts from.
        "impact_values": {
            "summary": incident.summary,
            "started_at": incident.started_at,
            "users_affected": incident.users_affected,
            "failed_requests": incident.failed_requests,
            "revenue_impact": incident.revenue_impact,
            "sla_breach": incident.sla_breach,
            "affected_services": ", ".join(incident.affected_services or []),
            "status_page_url": incident.status_page_url,
        },
    }
    if with_timeline:
        context["timeline"] = timeline_page(
            incident=incident, filter=timeline_filter, before=before
        )
    if with_timeline and with_panels:
        rendered = [
            (panel["placement"], render_panel(panel, incident=incident, request=request))
            for panel in panels_for(incident=incident, user=request.user)
        ]
        context["top_panels"] = [html for placement, html in rendered if placement == "top"]
        context["panels"] = [html for placement, html in rendered if placement == "side"]
        context["jumps"] = panel_jumps()
    return context


def _render_page(request, incident, *, status=200, template="incidents/detail.html", **kwargs):
    response = render(request, template, _page_context(request, incident, **kwargs), status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def incident_detail(request, pk):
    incident = get_object_for_user(request.user, incident_for_page(), pk=pk)
    part = request.GET.get("part", "")
    if part in PAGE_PARTS and _is_partial(request):
        return _render_page(
            request, incident, template=f"incidents/detail.html#{part}", with_timeline=False
        )
    if part and _is_partial(request):
        panels = panels_for(incident=incident, user=request.user, name=part)
        if panels:
            response = HttpResponse(render_panel(panels[0], incident=incident, request=request))
            patch_vary_headers(response, ["HX-Request"])
            return response
    timeline_filter = request.GET.get("filter", "all")
    before = None
    if (before_pk := parse_id(request.GET.get("before"))) is not None:
        before = get_object_or_404(TimelineEvent, incident=incident, pk=before_pk)
    template = "incidents/detail.html"
    if _is_partial(request):
        template = "incidents/detail.html#older" if before else "incidents/detail.html#timeline"
    return _render_page(
        request,
        incident,
        template=template,
        timeline_filter=timeline_filter,
        before=before,
        with_panels=not _is_partial(request),
    )


@login_required
@require_GET
def event_detail(request, pk, event_pk):
    incident = get_object_for_user(request.user, Incident.objects.all(), pk=pk)
    event = timeline_entry(incident_id=incident.pk, pk=event_pk)
    if event is None:
        raise Http404("No such event.")
    if not _is_partial(request):
        return redirect(f"{incident.get_absolute_url()}#event-{event.pk}")
    return render(
        request,
        "incidents/_event.html",
        {"event": event, "incident": incident, "can_change": can(request.user, CHANGE, incident)},
    )


# --- actions ---------------------------------------------------------------------------------


def _incident_for_change(request, pk):
    return get_object_for_user(request.user, incident_for_page(), action=CHANGE, pk=pk)


def _done(request, incident, since_seq, *, part=None, message=None):
    """A successful action: back to the page, or (HTMX) the changed part plus new events,
    naming the other parts those events changed for the page to refresh."""
    if message:
        messages.success(request, message)
    if not request.htmx:
        return redirect(incident)
    incident = incident_for_page().get(pk=incident.pk)
    html = ""
    if part:
        html = render_to_string(
            f"incidents/detail.html#{part}",
            _page_context(request, incident, with_timeline=False),
            request,
        )
    events = timeline_changes_after(incident_id=incident.pk, after=since_seq)
    html += render_to_string(
        "incidents/_events.html",
        {"events": events, "incident": incident, "can_change": True, "oob": bool(part)},
        request,
    )
    return trigger_refresh(HttpResponse(html), events=events, answered=part)


def _refuse(request, incident, message, *, status=400):
    """A refused action: a clear message and a 4xx; nothing was changed."""
    log.info("incident.action_refused", incident_id=incident.pk, reason=message)
    messages.error(request, message)
    if request.htmx:
        response = render(request, "includes/messages.html", {"oob": False}, status=status)
        response["HX-Retarget"] = "#messages"
        response["HX-Reswap"] = "outerHTML"
        return response
    return _render_page(request, incident, status=status)


def _form_errors(form):
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _act(request, pk, make_form, perform, *, part=None, message=None, conflict=400):
    """The shape of every incident action: load for change, validate the form, call the
    service, then answer with the changed part and new events, or refuse saying why.

    `message` may be a callable of the cleaned data; `conflict` is the status for a refusal
    by the service (409 where the incident's state forbids it)."""
    incident = _incident_for_change(request, pk)
    since = incident.timeline_seq
    form = make_form(incident)
    if not form.is_valid():
        return _refuse(request, incident, _form_errors(form))
    try:
        perform(incident, form.cleaned_data)
    except IncidentError as exc:
        return _refuse(request, incident, str(exc), status=conflict)
    if callable(message):
        message = message(form.cleaned_data)
    return _done(request, incident, since, part=part, message=message)


@login_required
@require_POST
def incident_status(request, pk):
    return _act(
        request,
        pk,
        lambda incident: StatusChangeForm(request.POST),
        lambda incident, data: services.incident_change_status(
            incident=incident, status=data["status"], by=request.user
        ),
        part="header",
        message=lambda data: f"Incident {Status(data['status']).label.lower()}.",
        conflict=409,
    )


@login_required
@require_POST
def incident_severity(request, pk):
    return _act(
        request,
        pk,
        lambda incident: SeverityForm(request.POST),
        lambda incident, data: services.incident_change_severity(
            incident=incident, severity=data["severity"], by=request.user
        ),
        part="header",
        message=lambda data: f"Severity is now {data['severity'].name}.",
        conflict=409,
    )


@login_required
@require_POST
def incident_role(request, pk):
    return _act(
        request,
        pk,
        lambda incident: RoleForm(request.POST, people=people_for_roles(incident=incident)),
        lambda incident, data: services.incident_assign_role(
            incident=incident, role=data["role"], user=data["person"], by=request.user
        ),
        part="header",
        message="Roles updated.",
    )


@login_required
@require_POST
def note_add(request, pk):
    return _act(
        request,
        pk,
        lambda incident: NoteForm(request.POST),
        lambda incident, data: services.timeline_note_add(
            incident=incident,
            body=data["body"],
            author=request.user,
            occurred_at=data["occurred_at"],
        ),
    )


@login_required
@require_POST
def status_update_add(request, pk):
    return _act(
        request,
        pk,
        lambda incident: StatusUpdateForm(request.POST),
        lambda incident, data: services.status_update_post(
            incident=incident, body=data["body"], by=request.user
        ),
        part="status_update",
        message="Status update posted.",
    )


@login_required
@require_POST
def incident_impact(request, pk):
    return _act(
        request,
        pk,
        lambda incident: ImpactForm(request.POST, started_at=incident.started_at),
        lambda incident, data: services.incident_update_impact(
            incident=incident, by=request.user, **data
        ),
        part="impact",
        message="Impact saved.",
    )


def _event_for_change(request, pk, event_pk):
    incident = _incident_for_change(request, pk)
    event = get_object_or_404(TimelineEvent, incident=incident, pk=event_pk)
    return incident, event


@login_required
@require_http_methods(["GET", "POST"])
def note_edit(request, pk, event_pk):
    incident, event = _event_for_change(request, pk, event_pk)
    since = incident.timeline_seq
    if event.kind != EventKind.NOTE or event.deleted_at or event.author_id != request.user.pk:
        return _refuse(request, incident, "Only the author of a note can edit it.", status=403)
    form = NoteEditForm(request.POST or None, initial={"body": event.body})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.timeline_note_edit(
                    event=event, body=form.cleaned_data["body"], by=request.user
                )
            except IncidentError as exc:
                return _refuse(request, incident, str(exc))
            return _done(request, incident, since)
        if request.htmx:
            return _refuse(request, incident, _form_errors(form))
        status = 400
    template = "incidents/edit_note.html"
    if _is_partial(request):
        template += "#form"
    return render(
        request, template, {"incident": incident, "event": event, "form": form}, status=status
    )


@login_required
@require_POST
def event_pin(request, pk, event_pk):
    incident, event = _event_for_change(request, pk, event_pk)
    since = incident.timeline_seq
    pinned = request.POST.get("pinned") == "1"
    try:
        services.timeline_event_set_pinned(event=event, pinned=pinned, by=request.user)
    except IncidentError as exc:
        return _refuse(request, incident, str(exc))
    return _done(request, incident, since)


@login_required
@require_POST
def note_delete(request, pk, event_pk):
    incident, event = _event_for_change(request, pk, event_pk)
    since = incident.timeline_seq
    try:
        services.timeline_note_delete(event=event, by=request.user)
    except IncidentError as exc:
        return _refuse(request, incident, str(exc), status=403)
    return _done(request, incident, since, message="Note deleted.")


@login_required
@require_POST
def checklist_tick(request, pk, item_pk):
    incident = _incident_for_change(request, pk)
    since = incident.timeline_seq
    item = get_object_or_404(ChecklistItem, incident=incident, pk=item_pk)
    done = request.POST.get("done") == "1"
    try:
        services.checklist_item_set_done(item=item, done=done, by=request.user)
    except IncidentError as exc:
        return _refuse(request, incident, str(exc), status=409)
    return _done(request, incident, since, part="checklist")


# --- export and live stream ----------------------------------------------------------------------


@login_required
@require_GET
def timeline_markdown(request, pk):
    """The timeline as the postmortem's `| Time | Event |` table, times in UTC."""
    incident = get_object_for_user(request.user, Incident.objects.all(), pk=pk)
    table = timeline_table(timeline_for_export(incident=incident), started_at=incident.started_at)
    response = HttpResponse(table + "\n", content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="incident-{incident.pk}-timeline.md"'
    return response


# The sign-in is checked in common.live.stream_response, in one of the process's slots.
async def timeline_stream(request, pk):
    """Server-sent events: every new or changed timeline event, id = its seq, and the
    person's bell, on the tab's one stream (incidents.live)."""
    return await live.stream_response(
        request,
        {"incident": str(pk)},
        retry_ms=STREAM_RETRY_MS,
        comment=f"connected at {incident_live.stream_position(request)}",
    )
