import difflib
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from incidents.models import Incident
from incidents.panels import trigger_refresh
from incidents.selectors import timeline_changes_after
from runbooks import services
from runbooks.forms import CompareForm, RunbookForm, teams_user_may_change
from runbooks.models import Runbook
from runbooks.rendering import render_runbook
from runbooks.selectors import runbook_list as select_runbooks
from runbooks.selectors import runbook_usage, runbooks_for_incident
from runbooks.services import TEMPLATE_BODY, RunbookConflict, RunbookError, split_list
from teams.access import CHANGE, VIEW, can, get_object_for_user
from teams.models import Team


def _runbook(request, slug, action=VIEW):
    return get_object_for_user(
        request.user,
        Runbook.objects.select_related("team", "owner", "last_reviewed_by"),
        action=action,
        slug=slug,
    )


@login_required
def runbook_list(request):
    q = request.GET.get("q", "")[:200]
    team = request.GET.get("team", "")[:100]
    tag = request.GET.get("tag", "")[:100]
    runbooks = list(select_runbooks(q=q, team=team, tag=tag))
    all_tags = sorted({t for tags in Runbook.objects.values_list("tags", flat=True) for t in tags})
    return render(
        request,
        "runbooks/list.html",
        {
            "runbooks": runbooks,
            "q": q,
            "team": team,
            "tag": tag,
            "teams": Team.objects.order_by("name"),
            "tags": all_tags,
            "stale_count": sum(1 for r in runbooks if r.is_stale),
            "can_create": teams_user_may_change(request.user).exists(),
        },
    )


@login_required
def runbook_create(request):
    if not teams_user_may_change(request.user).exists():
        raise PermissionDenied("Writing runbooks needs the responder role in a team.")
    if request.method == "POST":
        form = RunbookForm(request.POST, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                runbook = services.runbook_create(
                    title=data["title"],
                    slug=data["slug"],
                    team=data["team"],
                    body=data["body"],
                    tags=split_list(data["tags"]),
                    alert_names=split_list(data["alert_names"]),
                    owner=data["owner"],
                    by=request.user,
                    message=data["message"] or "Created",
                )
            except RunbookError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Runbook “{runbook.title}” created.")
                return redirect(runbook)
        status = 400
    else:
        form = RunbookForm(
            user=request.user, initial={"body": TEMPLATE_BODY, "owner": request.user.pk}
        )
        status = 200
    return render(request, "runbooks/form.html", {"form": form, "creating": True}, status=status)


@login_required
def runbook_detail(request, slug):
    runbook = _runbook(request, slug)
    toc_html, body_html = render_runbook(runbook.body)
    return render(
        request,
        "runbooks/detail.html",
        {
            "runbook": runbook,
            "toc_html": toc_html,
            "body_html": body_html,
            "can_change": can(request.user, CHANGE, runbook),
            "usage": list(runbook_usage(runbook=runbook, user=request.user)[:50]),
            "revision_count": runbook.revisions.count(),
        },
    )


@login_required
def runbook_edit(request, slug):
    runbook = _runbook(request, slug, action=CHANGE)
    conflict, status = None, None
    if request.method == "POST":
        form = RunbookForm(request.POST, user=request.user, editing=True)
        if form.is_valid():
            data = form.cleaned_data
            try:
                runbook, changed = services.runbook_update(
                    runbook=runbook,
                    title=data["title"],
                    body=data["body"],
                    tags=split_list(data["tags"]),
                    alert_names=split_list(data["alert_names"]),
                    owner=data["owner"],
                    by=request.user,
                    message=data["message"],
                    base_revision=data["base_revision"],
                )
            except RunbookConflict as exc:
                form.add_error(None, str(exc))
                conflict = {"base": data["base_revision"], "current": exc.current.number}
                # Saving again is a deliberate choice to replace the newer revision.
                form.data = form.data.copy()
                form.data["base_revision"] = exc.current.number
                status = 409
            except RunbookError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(
                    request, "Runbook saved." if changed else "Nothing changed; nothing saved."
                )
                return redirect(runbook)
        status = status or 400
    else:
        form = RunbookForm(
            user=request.user,
            editing=True,
            initial={
                "title": runbook.title,
                "owner": runbook.owner_id,
                "tags": ", ".join(runbook.tags),
                "alert_names": ", ".join(runbook.alert_names),
                "body": runbook.body,
                "base_revision": runbook.revisions.order_by("-number")
                .values_list("number", flat=True)
                .first(),
            },
        )
        status = 200
    return render(
        request,
        "runbooks/form.html",
        {"form": form, "runbook": runbook, "conflict": conflict},
        status=status,
    )


@login_required
@require_POST
def runbook_mark_reviewed(request, slug):
    runbook = _runbook(request, slug, action=CHANGE)
    services.runbook_mark_reviewed(runbook=runbook, by=request.user)
    messages.success(request, "Marked reviewed.")
    return redirect(runbook)


@login_required
def runbook_history(request, slug):
    runbook = _runbook(request, slug)
    revisions = list(runbook.revisions.select_related("author").order_by("-number"))
    return render(
        request,
        "runbooks/history.html",
        {
            "runbook": runbook,
            "revisions": revisions,
            "can_change": can(request.user, CHANGE, runbook),
        },
    )


def _diff_lines(old_text, new_text):
    rows = []
    for line in difflib.unified_diff(
        old_text.splitlines(), new_text.splitlines(), lineterm="", n=3
    ):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "same"
        rows.append({"kind": kind, "text": line})
    return rows


@login_required
def runbook_diff(request, slug):
    runbook = _runbook(request, slug)
    form = CompareForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose two revision numbers to compare.")
    numbers = [form.cleaned_data["old"], form.cleaned_data["new"]]
    found = {r.number: r for r in runbook.revisions.filter(number__in=numbers)}
    missing = [n for n in numbers if n not in found]
    if missing:
        return render(
            request,
            "runbooks/diff.html",
            {"runbook": runbook, "error": f"Revision {missing[0]} does not exist."},
            status=404,
        )
    old, new = found[numbers[0]], found[numbers[1]]
    meta = []
    for label, attr in [("Title", "title"), ("Tags", "tags"), ("Alert names", "alert_names")]:
        if getattr(old, attr) != getattr(new, attr):
            before, after = getattr(old, attr), getattr(new, attr)
            if isinstance(before, list):
                before, after = ", ".join(before) or "(none)", ", ".join(after) or "(none)"
            meta.append({"label": label, "old": before, "new": after})
    return render(
        request,
        "runbooks/diff.html",
        {
            "runbook": runbook,
            "old": old,
            "new": new,
            "meta": meta,
            "lines": _diff_lines(old.body, new.body),
        },
    )


@login_required
def runbook_revision(request, slug, number):
    runbook = _runbook(request, slug)
    revision = runbook.revisions.select_related("author").filter(number=number).first()
    if revision is None:
        return render(
            request,
            "runbooks/diff.html",
            {"runbook": runbook, "error": f"Revision {number} does not exist."},
            status=404,
        )
    toc_html, body_html = render_runbook(revision.body)
    return render(
        request,
        "runbooks/revision.html",
        {
            "runbook": runbook,
            "revision": revision,
            "body_html": body_html,
            "toc_html": toc_html,
            "is_current": revision.body == runbook.body and revision.title == runbook.title,
            "can_change": can(request.user, CHANGE, runbook),
        },
    )


@login_required
@require_POST
def runbook_restore(request, slug, number):
    runbook = _runbook(request, slug, action=CHANGE)
    try:
        revision = services.runbook_restore(runbook=runbook, number=number, by=request.user)
    except RunbookError as exc:
        messages.error(request, str(exc))
        return redirect("runbook_history", slug=runbook.slug)
    messages.success(request, f"Restored revision {number} as revision {revision.number}.")
    return redirect(runbook)


def _events(incident):
    return (
        incident.events.filter(deleted_at__isnull=True)
        .select_related("author")
        .order_by("-occurred_at", "-id")[:200]
    )


@login_required
def incident_runbooks(request, incident_id):
    """The runbooks offered for an incident, one opened beside its timeline."""
    incident = get_object_for_user(
        request.user, Incident.objects.select_related("severity", "team"), pk=incident_id
    )
    wanted = request.GET.get("runbook", "")[:100]
    extra = None
    if wanted:
        chosen = Runbook.objects.filter(slug=wanted).select_related("team").first()
        if chosen and can(request.user, VIEW, chosen):
            extra = wanted
    offered = runbooks_for_incident(incident=incident, extra_slug=extra)
    current = next((o for o in offered if o.runbook.slug == wanted), None)
    if current is None and offered:
        current = offered[0]
    here = reverse("incident_runbooks", args=[incident.pk])
    context = {
        "incident": incident,
        "offered": offered,
        "item": current,
        "can_tick": can(request.user, CHANGE, incident),
        "events": _events(incident),
        "next": f"{here}?runbook={current.runbook.slug}" if current else here,
        "all_runbooks": Runbook.objects.only("slug", "title").order_by("title"),
    }
    if current:
        context["toc_html"], context["body_html"] = render_runbook(current.runbook.body)
    return render(request, "runbooks/incident.html", context)


@login_required
@require_POST
@vary_on_headers("HX-Request")
def step_tick(request, incident_id, slug, step_key):
    incident = get_object_for_user(
        request.user,
        Incident.objects.select_related("severity", "team"),
        action=CHANGE,
        pk=incident_id,
    )
    runbook = _runbook(request, slug)
    since_seq = incident.timeline_seq
    status = 200
    try:
        check = services.runbook_step_tick(
            incident=incident, runbook=runbook, step_key=step_key, by=request.user
        )
    except RunbookError as exc:
        messages.error(request, str(exc))
        status = 409
    else:
        if not request.htmx:
            messages.success(request, f"Ticked: {check.label}")
    target = request.POST.get("next") or (
        reverse("incident_runbooks", args=[incident.pk]) + f"?runbook={runbook.slug}"
    )
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("incident_runbooks", args=[incident.pk])
    if not request.htmx:
        return redirect(target)
    offered = runbooks_for_incident(incident=incident, extra_slug=runbook.slug)
    item = next(o for o in offered if o.runbook.pk == runbook.pk)
    html = render_to_string(
        "runbooks/_steps.html",
        {"incident": incident, "item": item, "can_tick": True, "next": target},
        request=request,
    )
    if urlsplit(target).path == incident.get_absolute_url():
        # The incident page files new events through its live timeline's inbox, and
        # refreshes the parts they changed (the panel's progress, ...).
        events = timeline_changes_after(incident_id=incident.pk, after=since_seq)
        html += render_to_string(
            "incidents/_events.html",
            {"events": events, "incident": incident, "can_change": True, "oob": True},
            request=request,
        )
    else:
        events = []
        html += render_to_string(
            "runbooks/_timeline.html", {"events": _events(incident), "oob": True}, request=request
        )
    return trigger_refresh(HttpResponse(html, status=status), events=events)
