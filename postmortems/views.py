from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.http import reswap, retarget

from accounts.models import User
from common.inputs import parse_id
from incidents.models import Incident
from postmortems import blameless, document, selectors, services
from postmortems.forms import ActionItemForm, ActionItemStatusForm, CommentForm
from postmortems.models import (
    ActionItem,
    ActionItemStatus,
    Priority,
    ReviewThread,
    Section,
    SectionKey,
    TimelineSource,
)
from teams import access
from teams.models import Membership


def _is_partial(request):
    return bool(request.htmx) and not request.htmx.history_restore_request


def _load(request, pk, action=access.VIEW):
    return access.get_object_for_user(
        request.user, selectors.postmortem_queryset(), action=action, pk=pk
    )


def _detail_context(request, postmortem, **extra):
    data = selectors.postmortem_page_data(postmortem)
    user = request.user
    can_change = access.can(user, access.CHANGE, postmortem)
    context = {
        "pm": postmortem,
        "title": document.document_title(postmortem),
        "can_edit": can_change and postmortem.is_editable,
        "can_change": can_change,
        "can_manage": access.can(user, access.MANAGE, postmortem),
        "reviewed_by": ", ".join(a.approver.display_name for a in data["approvals"]),
        "guidance": _guidance(),
        "priorities": Priority.choices,
        "statuses": ActionItemStatus.choices,
        "timeline_sources": TimelineSource.choices,
        **data,
    }
    conflicts = extra.pop("conflicts", None) or {}
    for section in context["sections"]:
        section.conflict = conflicts.get(section.key)
    if "item_form" not in extra:
        context["item_form"] = ActionItemForm(
            users=User.objects.filter(is_active=True),
            members=[m.user for m in data["team_members"]],
            prefix="item",
        )
    context.update(extra)
    return context


def _guidance():
    return {
        "bad": blameless.BAD_EXAMPLE,
        "good": blameless.GOOD_EXAMPLE,
        "principle": blameless.PRINCIPLE,
    }


def _render_detail(request, postmortem, *, status=200, **extra):
    response = render(
        request,
        "postmortems/detail.html",
        _detail_context(request, postmortem, **extra),
        status=status,
    )
    response["Vary"] = "HX-Request"
    return response


@login_required
def library(request):
    query = request.GET.get("q", "").strip()[:200]
    context = {
        "query": query,
        "published": selectors.postmortem_library(user=request.user, query=query)[:50],
        "in_progress": selectors.postmortems_in_progress(user=request.user)[:50],
    }
    template = "postmortems/index.html"
    if _is_partial(request) and request.htmx.target == "library-results":
        template += "#results"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


@login_required
def detail(request, pk):
    return _render_detail(request, _load(request, pk))


@login_required
@require_POST
def generate(request, incident_pk):
    incident = access.get_object_for_user(
        request.user,
        Incident.objects.select_related("team"),
        action=access.CHANGE,
        pk=incident_pk,
    )
    source = request.POST.get("timeline_source", TimelineSource.PINNED)
    if source not in TimelineSource.values:
        source = TimelineSource.PINNED
    try:
        postmortem, created = services.postmortem_generate(
            incident=incident, by=request.user, timeline_source=source
        )
    except services.PostmortemError as exc:
        messages.error(request, str(exc))
        return redirect(incident.get_absolute_url())
    if created:
        messages.success(request, "Postmortem draft created from the incident.")
    return redirect(postmortem)


def _section_or_404(postmortem, key):
    if key not in SectionKey.values:
        raise Http404("No such section.")
    return get_object_or_404(
        Section.objects.select_related("updated_by"), postmortem=postmortem, key=key
    )


def _section_response(request, postmortem, section, *, status=200, **extra):
    pattern = blameless.name_pattern(blameless.directory_names())
    section.findings = blameless.check_text(section.body, pattern)
    section.html = selectors.postmortem_markdown(section.body)
    section.threads = list(
        ReviewThread.objects.filter(postmortem=postmortem, section_key=section.key)
        .select_related("created_by", "resolved_by")
        .prefetch_related("comments__author")
    )
    section.conflict = extra.pop("conflict", None)
    section.error = extra.pop("error", None)
    context = {
        "pm": postmortem,
        "section": section,
        "can_edit": access.can(request.user, access.CHANGE, postmortem) and postmortem.is_editable,
        "can_change": access.can(request.user, access.CHANGE, postmortem),
        "guidance": _guidance(),
        "timeline_sources": TimelineSource.choices,
        **extra,
    }
    return render(request, "postmortems/detail.html#section", context, status=status)


@login_required
@require_POST
def section_save(request, pk, key):
    postmortem = _load(request, pk, access.CHANGE)
    section = _section_or_404(postmortem, key)
    body = request.POST.get("body", "")
    autosave = request.POST.get("autosave") == "1"
    try:
        saved = services.section_save(
            section=section, body=body, base_version=request.POST.get("version"), by=request.user
        )
    except services.SectionConflict as exc:
        conflict = {
            "message": str(exc),
            "theirs": exc.current.body,
            "theirs_html": selectors.postmortem_markdown(exc.current.body),
            "theirs_by": exc.current.updated_by,
            "theirs_at": exc.current.updated_at,
            "yours": exc.attempted,
            "yours_html": selectors.postmortem_markdown(exc.attempted),
        }
        if _is_partial(request):
            response = _section_response(
                request, postmortem, exc.current, status=409, conflict=conflict
            )
            return reswap(retarget(response, f"#section-{key}"), "outerHTML")
        return _render_detail(
            request, postmortem, status=409, conflicts={key: conflict}, error=str(exc)
        )
    except services.PostmortemError as exc:
        if _is_partial(request):
            response = _section_response(request, postmortem, section, status=409, error=str(exc))
            return reswap(retarget(response, f"#section-{key}"), "outerHTML")
        return _render_detail(request, postmortem, status=409, error=str(exc))
    if _is_partial(request):
        if autosave:
            return render(
                request,
                "postmortems/detail.html#autosaved",
                {"section": saved, "pm": postmortem},
            )
        return _section_response(request, postmortem, saved, saved_now=True)
    messages.success(request, f"Saved “{saved.get_key_display()}”.")
    return redirect(f"{postmortem.get_absolute_url()}#section-{key}")


@login_required
@require_POST
def section_preview(request, pk, key):
    _load(request, pk)
    if key not in SectionKey.values:
        return HttpResponse("No such section.", status=404)
    body = request.POST.get("body", "")[: services.MAX_SECTION_LENGTH]
    findings = blameless.check(body)
    return render(
        request,
        "postmortems/preview.html",
        {
            "html": selectors.postmortem_markdown(body),
            "findings": findings,
            "guidance": _guidance(),
        },
    )


@login_required
@require_POST
def timeline_refill(request, pk):
    postmortem = _load(request, pk, access.CHANGE)
    try:
        services.postmortem_refill_timeline(
            postmortem=postmortem,
            source=request.POST.get("timeline_source", ""),
            base_version=request.POST.get("version"),
            by=request.user,
        )
    except (services.PostmortemError, ValueError) as exc:
        return _render_detail(request, postmortem, status=409, error=str(exc))
    messages.success(request, "Timeline rebuilt from the incident.")
    return redirect(f"{postmortem.get_absolute_url()}#section-timeline")


def _workflow(request, pk, action, done_message, **kwargs):
    postmortem = _load(request, pk)
    try:
        result = action(postmortem=postmortem, by=request.user, **kwargs)
    except services.PostmortemError as exc:
        status = 403 if isinstance(exc, services.PostmortemForbidden) else 409
        return _render_detail(request, postmortem, status=status, error=str(exc))
    messages.success(request, done_message)
    target = result if hasattr(result, "get_absolute_url") else postmortem
    return redirect(target.get_absolute_url())


@login_required
@require_POST
def submit(request, pk):
    postmortem = _load(request, pk, access.CHANGE)
    ids = [pk for i in request.POST.getlist("reviewers") if (pk := parse_id(i)) is not None]
    reviewers = list(User.objects.filter(pk__in=ids)) if ids else None
    return _workflow(
        request,
        postmortem.pk,
        services.postmortem_submit_for_review,
        "Sent for review.",
        reviewers=reviewers,
    )


@login_required
@require_POST
def approve(request, pk):
    return _workflow(request, pk, services.postmortem_approve, "Approved.")


@login_required
@require_POST
def request_changes(request, pk):
    note = request.POST.get("note", "")[:5000]
    return _workflow(
        request, pk, services.postmortem_request_changes, "Changes requested.", note=note
    )


@login_required
@require_POST
def publish(request, pk):
    return _workflow(request, pk, services.postmortem_publish, "Published to the library.")


@login_required
@require_POST
def open_revision(request, pk):
    _load(request, pk, access.CHANGE)
    return _workflow(
        request, pk, services.postmortem_open_revision, "A new revision is open as a draft."
    )


@login_required
@require_POST
def thread_start(request, pk):
    postmortem = _load(request, pk, access.CHANGE)
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _render_detail(request, postmortem, status=400, error="A comment needs some text.")
    try:
        services.thread_start(
            postmortem=postmortem,
            section_key=request.POST.get("section", ""),
            body=form.cleaned_data["body"],
            by=request.user,
        )
    except services.PostmortemError as exc:
        return _render_detail(request, postmortem, status=400, error=str(exc))
    return redirect(f"{postmortem.get_absolute_url()}#section-{request.POST.get('section')}")


def _load_thread(request, pk):
    thread = access.get_object_for_user(
        request.user,
        ReviewThread.objects.select_related("postmortem__incident__team"),
        action=access.CHANGE,
        pk=pk,
    )
    return thread


@login_required
@require_POST
def thread_reply(request, pk):
    thread = _load_thread(request, pk)
    try:
        services.thread_reply(thread=thread, body=request.POST.get("body", ""), by=request.user)
    except services.PostmortemError as exc:
        return _render_detail(
            request, _load(request, thread.postmortem_id), status=400, error=str(exc)
        )
    return redirect(f"{thread.postmortem.get_absolute_url()}#section-{thread.section_key}")


@login_required
@require_POST
def thread_resolve(request, pk):
    thread = _load_thread(request, pk)
    services.thread_resolve(thread=thread, by=request.user)
    return redirect(f"{thread.postmortem.get_absolute_url()}#section-{thread.section_key}")


@login_required
@require_POST
def action_item_add(request, pk):
    postmortem = _load(request, pk, access.CHANGE)
    form = ActionItemForm(
        request.POST,
        users=User.objects.filter(is_active=True),
        members=[
            m.user
            for m in Membership.objects.filter(team_id=postmortem.team_id)
            .select_related("user")
            .order_by("user__username")
        ],
        prefix="item",
    )
    if not form.is_valid():
        return _render_detail(
            request, postmortem, status=400, item_form=form, error="Check the action item."
        )
    data = form.cleaned_data
    try:
        services.action_item_create(
            incident=postmortem.incident,
            postmortem=postmortem,
            title=data["title"],
            owner=data["owner"],
            due_date=data["due_date"],
            priority=data["priority"],
            tracker_url=data["tracker_url"],
            by=request.user,
        )
    except services.PostmortemError as exc:
        form.add_error(None, str(exc))
        return _render_detail(request, postmortem, status=400, item_form=form, error=str(exc))
    messages.success(request, "Action item added.")
    return redirect(f"{postmortem.get_absolute_url()}#action-items")


@login_required
def action_items(request):
    filters = {
        "mine": request.GET.get("mine") == "1",
        "overdue": request.GET.get("overdue") == "1",
        "priority": request.GET.get("priority", "")
        if request.GET.get("priority") in Priority.values
        else "",
        "team": request.GET.get("team", "")[:100],
        "status": request.GET.get("status", "")
        if request.GET.get("status") in ActionItemStatus.values
        else "",
    }
    items = selectors.action_item_list(user=request.user, **filters)
    writable = {t for t, r in access.team_roles(request.user).items() if r != "viewer"}
    return render(
        request,
        "postmortems/action_items.html",
        {
            "items": items,
            "filters": filters,
            "writable_teams": writable,
            "is_superuser": request.user.is_superuser,
            "statuses": ActionItemStatus.choices,
            "priorities": Priority.choices,
            "teams": selectors.visible_teams(user=request.user),
            "completion": selectors.completion_by_team(user=request.user),
            "today": timezone.localdate(),
        },
    )


@login_required
@require_POST
def action_item_status(request, pk):
    item = access.get_object_for_user(
        request.user,
        ActionItem.objects.select_related("owner", "team", "incident", "postmortem"),
        action=access.CHANGE,
        pk=pk,
    )
    form = ActionItemStatusForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Unknown status for an action item.", status=400)
    item = services.action_item_set_status(
        item=item, status=form.cleaned_data["status"], by=request.user
    )
    item = ActionItem.objects.select_related("owner", "team", "incident", "postmortem").get(
        pk=item.pk
    )
    if _is_partial(request):
        return render(
            request,
            "postmortems/action_items.html#item-row",
            {
                "item": item,
                "statuses": ActionItemStatus.choices,
                "writable_teams": {item.team_id},
                "is_superuser": request.user.is_superuser,
                "just_saved": True,
                "today": timezone.localdate(),
            },
        )
    messages.success(request, f"“{item.title}” is now {item.get_status_display().lower()}.")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("action_item_list")
    return redirect(next_url)


def _document(postmortem):
    return document.export_markdown(
        postmortem,
        sections=postmortem.sections.all(),
        action_items=ActionItem.objects.filter(incident_id=postmortem.incident_id)
        .select_related("owner")
        .order_by("created_at", "id"),
    )


@login_required
def export_markdown(request, pk):
    postmortem = _load(request, pk)
    response = HttpResponse(_document(postmortem), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="postmortem-{postmortem.incident_id}-r{postmortem.revision}.md"'
    )
    return response


@login_required
def print_view(request, pk):
    postmortem = _load(request, pk)
    return render(
        request,
        "postmortems/print.html",
        {
            "pm": postmortem,
            "html": selectors.postmortem_markdown(_document(postmortem)),
        },
    )


@login_required
def queue(request):
    return render(request, "postmortems/queue.html", selectors.review_queue(user=request.user))
