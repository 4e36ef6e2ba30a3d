import datetime as dt
import zoneinfo
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from common.inputs import InputError, parse_date, parse_datetime, parse_id
from oncall import calendars, services
from oncall.forms import (
    ContactMethodForm,
    CoverForm,
    EscalationPolicyForm,
    EscalationStepFormSet,
    HandoffNoteForm,
    LayerFormSet,
    ScheduleForm,
    SwapForm,
    TeamSettingsForm,
)
from oncall.models import (
    CalendarToken,
    ContactMethod,
    EscalationPolicy,
    Layer,
    Override,
    Schedule,
    ShiftReminder,
    SwapRequest,
)
from oncall.selectors import (
    WindowError,
    calendar_view,
    escalation_policy_for,
    fairness_report,
    handoff_notes_for,
    oncall_now_board,
    pending_swaps_for,
    reminders_for,
    user_shifts,
)
from oncall.services import OncallError
from oncall.shifts import ScheduleSpec, compute_shifts
from teams.access import CHANGE, MANAGE, can, get_object_for_user
from teams.models import Team
from teams.selectors import team_routing
from teams.services import TeamSettingsError, team_settings_save

UTC = dt.UTC


@login_required
def oncall_now(request):
    now = timezone.now()
    board = oncall_now_board(teams=Team.objects.order_by("name"), at=now, viewer=request.user)
    return render(request, "oncall/now.html", {"board": board, "now": now})


def _display_tz(request, schedule):
    """The schedule's time zone, or the viewer's (the default)."""
    if request.GET.get("tz") == "schedule":
        return "schedule", zoneinfo.ZoneInfo(schedule.time_zone)
    return "viewer", timezone.get_current_timezone()


def _week_days(anchor: dt.date) -> list[dt.date]:
    monday = anchor - dt.timedelta(days=anchor.weekday())
    return [monday + dt.timedelta(days=i) for i in range(7)]


def _month_days(anchor: dt.date) -> list[dt.date]:
    first = anchor.replace(day=1)
    start = first - dt.timedelta(days=first.weekday())
    next_month = (first + dt.timedelta(days=32)).replace(day=1)
    days = []
    day = start
    while day < next_month or day.weekday() != 0:
        days.append(day)
        day += dt.timedelta(days=1)
    return days


@login_required
@require_GET
@vary_on_headers("HX-Request")
def schedule_calendar(request, pk):
    schedule = get_object_for_user(request.user, Schedule.objects.select_related("team"), pk=pk)
    view = "month" if request.GET.get("view") == "month" else "week"
    tz_mode, tz = _display_tz(request, schedule)
    now = timezone.now()
    anchor = parse_date(request.GET.get("date"), "date") or now.astimezone(tz).date()
    days = _month_days(anchor) if view == "month" else _week_days(anchor)
    start = dt.datetime.combine(days[0], dt.time()).replace(tzinfo=tz).astimezone(UTC)
    end = (
        dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time())
        .replace(tzinfo=tz)
        .astimezone(UTC)
    )
    data = calendar_view(schedule=schedule, start=start, end=end, tz=tz, days=days, now=now)
    if view == "month":
        prev_date = (anchor.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        next_date = (anchor.replace(day=28) + dt.timedelta(days=7)).replace(day=1)
    else:
        prev_date, next_date = days[0] - dt.timedelta(days=7), days[0] + dt.timedelta(days=7)

    def link(**changes):
        params = {"view": view, "date": anchor.isoformat(), "tz": tz_mode, **changes}
        return f"{reverse('oncall_schedule', args=[schedule.pk])}?{urlencode(params)}"

    context = {
        "schedule": schedule,
        "view": view,
        "tz_mode": tz_mode,
        "tz": tz,
        "tz_name": str(tz),
        "anchor": anchor,
        "days": data["days"],
        "rows": data["rows"],
        "today_left": data["today_left"],
        "weeks": [data["days"][i : i + 7] for i in range(0, len(data["days"]), 7)],
        "month": anchor.replace(day=1),
        "prev_url": link(date=prev_date.isoformat()),
        "next_url": link(date=next_date.isoformat()),
        "today_url": link(date=now.astimezone(tz).date().isoformat()),
        "week_url": link(view="week"),
        "month_url": link(view="month"),
        "viewer_tz_url": link(tz="viewer"),
        "schedule_tz_url": link(tz="schedule"),
        "can_change": can(request.user, CHANGE, schedule),
        "can_manage": can(request.user, MANAGE, schedule),
        "feed": _live_token(schedule=schedule) if can(request.user, CHANGE, schedule) else None,
    }
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "oncall/schedule.html#calendar", context)
    return render(request, "oncall/schedule.html", context)


def _live_token(*, schedule=None, user=None):
    return CalendarToken.objects.filter(schedule=schedule, user=user, revoked_at=None).first()


def _form_error(form, message):
    """A non-field error, on an unbound form too (add_error reads cleaned_data, which only a
    bound form has: the cover page's GET form and "Take this shift" answered 500)."""
    if not form.is_bound:
        form.cleaned_data = {}
    form.add_error(None, message)


def _member(team, value):
    """The team member whose id `value` is, or None (no id, or not one of the team)."""
    pk = parse_id(value)
    return team.members.filter(pk=pk).first() if pk is not None else None


def _local_input(value):
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M") if value else None


@login_required
def layer_cover(request, pk):
    """Override and swap forms for a layer: "Take this shift", "Cover from … to …", "Ask …"."""
    layer = get_object_for_user(
        request.user, Layer.objects.select_related("schedule__team"), action=CHANGE, pk=pk
    )
    team = layer.schedule.team
    problem = None
    try:
        start = parse_datetime(request.GET.get("start"), "start")
        end = parse_datetime(request.GET.get("end"), "end")
    except InputError as exc:
        start, end, problem = None, None, str(exc)
    replaces = _member(team, request.GET.get("replaces"))
    initial = {"start": _local_input(start), "end": _local_input(end), "user": request.user}
    cover_form = CoverForm(team=team, initial=initial, prefix="cover")
    swap_form = SwapForm(team=team, requester=request.user, initial=initial, prefix="swap")
    if problem:
        _form_error(cover_form, problem)
    if request.method == "POST":
        kind = request.POST.get("kind")
        if kind == "take":
            try:
                services.override_create(
                    layer=layer,
                    user=request.user,
                    start=parse_datetime(request.POST.get("start"), "start"),
                    end=parse_datetime(request.POST.get("end"), "end"),
                    reason=request.POST.get("reason", ""),
                    replaces=_member(team, request.POST.get("replaces")),
                    by=request.user,
                )
            except (InputError, OncallError) as exc:
                _form_error(cover_form, str(exc))
            else:
                messages.success(request, f"You now cover {layer.name}.")
                return redirect("oncall_schedule", pk=layer.schedule_id)
        elif kind == "swap":
            swap_form = SwapForm(request.POST, team=team, requester=request.user, prefix="swap")
            if swap_form.is_valid():
                d = swap_form.cleaned_data
                try:
                    services.swap_request_create(
                        layer=layer,
                        requester=request.user,
                        recipient=d["recipient"],
                        start=d["start"],
                        end=d["end"],
                        reason=d["reason"],
                        by=request.user,
                    )
                except OncallError as exc:
                    swap_form.add_error(None, str(exc))
                else:
                    messages.success(request, f"Asked {d['recipient']} to cover.")
                    return redirect("oncall_mine")
        else:
            cover_form = CoverForm(request.POST, team=team, prefix="cover")
            if cover_form.is_valid():
                d = cover_form.cleaned_data
                if d["user"].pk != request.user.pk and not can(request.user, MANAGE, layer):
                    raise PermissionDenied("Only managers can put someone else on call.")
                try:
                    services.override_create(
                        layer=layer,
                        user=d["user"],
                        start=d["start"],
                        end=d["end"],
                        reason=d["reason"],
                        replaces=_member(team, request.POST.get("replaces")),
                        by=request.user,
                    )
                except OncallError as exc:
                    cover_form.add_error(None, str(exc))
                else:
                    messages.success(request, f"{d['user']} now covers {layer.name}.")
                    return redirect(
                        f"{reverse('oncall_schedule', args=[layer.schedule_id])}"
                        f"?date={timezone.localtime(d['start']).date().isoformat()}"
                    )
        status = 400
    else:
        status = 400 if problem else 200
    return render(
        request,
        "oncall/cover.html",
        {
            "layer": layer,
            "schedule": layer.schedule,
            "cover_form": cover_form,
            "swap_form": swap_form,
            "start": start,
            "end": end,
            "replaces": replaces,
            "can_manage": can(request.user, MANAGE, layer),
            "overrides": _overrides_around(layer, start, end),
        },
        status=status,
    )


def _overrides_around(layer, start, end):
    now = timezone.now()
    start = start or now
    end = end or now + dt.timedelta(days=28)
    return list(
        layer.overrides.filter(end__gt=start, start__lt=end).select_related(
            "user", "replaces", "created_by"
        )
    )


@login_required
@require_POST
def override_delete(request, pk):
    override = get_object_for_user(
        request.user,
        Override.objects.select_related("layer__schedule__team", "user"),
        action=CHANGE,
        pk=pk,
    )
    if override.user_id != request.user.pk and not can(request.user, MANAGE, override):
        raise PermissionDenied("Only the person covering or a manager can remove an override.")
    schedule_id = override.layer.schedule_id
    services.override_delete(override=override, by=request.user)
    messages.success(request, "Override removed.")
    return redirect("oncall_schedule", pk=schedule_id)


@login_required
@require_POST
def swap_decide(request, pk, decision):
    swap = get_object_for_user(
        request.user,
        SwapRequest.objects.select_related("layer__schedule__team", "requester", "recipient"),
        pk=pk,
    )
    actions = {
        "accept": services.swap_request_accept,
        "decline": services.swap_request_decline,
        "cancel": services.swap_request_cancel,
    }
    if decision not in actions:
        raise Http404("No such decision.")
    try:
        actions[decision](swap=swap, by=request.user)
    except OncallError as exc:
        messages.error(request, str(exc))
        return redirect("oncall_mine")
    done = {"accept": "accepted", "decline": "declined", "cancel": "cancelled"}[decision]
    messages.success(request, f"Swap request {done}.")
    return redirect("oncall_mine")


@login_required
def my_shifts(request):
    now = timezone.now()
    shifts = user_shifts(
        user=request.user, start=now - dt.timedelta(days=14), end=now + dt.timedelta(days=56)
    )
    current = [s for s in shifts if s.start <= now < s.end]
    upcoming = [s for s in shifts if s.start > now]
    past = [s for s in shifts if s.end <= now]
    next_shift = upcoming[0] if upcoming else None
    layer_ids = {s.layer.pk for s in current + upcoming[:1]}
    # Notes left for my current shift and for my next one.
    before = max([s.start for s in current] + ([next_shift.start] if next_shift else []) + [now])
    notes = handoff_notes_for(layer_ids=layer_ids, before=before + dt.timedelta(hours=12))
    # The outgoing person writes for their current shift, or the one that just ended.
    note_shift = current[0] if current else (past[-1] if past else None)
    note_form = None
    if note_shift:
        note_form = HandoffNoteForm(initial={"handoff_at": note_shift.end})
    token = _live_token(user=request.user)
    return render(
        request,
        "oncall/mine.html",
        {
            "now": now,
            "current": current,
            "next_shift": next_shift,
            "upcoming": upcoming[:20],
            "notes": notes,
            "note_shift": note_shift,
            "note_form": note_form,
            "swaps": pending_swaps_for(user=request.user),
            "reminders": reminders_for(user=request.user, now=now),
            "feed": token,
        },
    )


@login_required
@require_POST
def handoff_note(request, pk):
    layer = get_object_for_user(
        request.user, Layer.objects.select_related("schedule__team"), action=CHANGE, pk=pk
    )
    form = HandoffNoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Write something for the next person on call.")
        return redirect("oncall_mine")
    try:
        services.handoff_note_add(
            layer=layer,
            author=request.user,
            handoff_at=form.cleaned_data["handoff_at"],
            body=form.cleaned_data["body"],
        )
    except OncallError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Handoff note saved; the next person on call will see it.")
    return redirect("oncall_mine")


@login_required
@require_POST
def checklist_tick(request, pk):
    reminder = get_object_or_404(ShiftReminder, pk=pk, user=request.user)
    try:
        reminder = services.checklist_tick(
            reminder=reminder,
            key=request.POST.get("item", ""),
            checked=request.POST.get("checked") == "on",
            by=request.user,
        )
    except OncallError as exc:
        messages.error(request, str(exc))
    if request.htmx:
        return render(request, "oncall/mine.html#checklist", {"reminder": reminder})
    return redirect("oncall_mine")


def _schedule_form_context(request, team, schedule, form, formset, preview=None):
    return {
        "team": team,
        "schedule": schedule,
        "form": form,
        "formset": formset,
        "preview": preview,
    }


def _initial_layers(schedule):
    return [
        {
            "layer_id": la.pk,
            "name": la.name,
            "members": "\n".join(m.user.username for m in la.members.select_related("user")),
            "cadence": la.cadence,
            "interval": la.interval,
            "handoff_weekday": la.handoff_weekday,
            "handoff_time": la.handoff_time,
            "start_date": la.start_date,
            "restriction": la.restriction,
            "active_from": la.active_from,
            "active_until": la.active_until,
        }
        for la in schedule.layers.all()
    ]


def _preview(*, time_zone, layers, users):
    """The next four weeks of the unsaved schedule, per layer, as (layer, [(start, end, user)])."""
    tz = zoneinfo.ZoneInfo(time_zone)
    today = timezone.now().astimezone(tz).date()
    start = dt.datetime.combine(today, dt.time()).replace(tzinfo=tz).astimezone(UTC)
    end = start + dt.timedelta(weeks=4)
    specs = tuple(data.spec(id=i + 1, position=i) for i, data in enumerate(layers))
    computed = compute_shifts(ScheduleSpec(time_zone=time_zone, layers=specs), start, end)
    return [
        {
            "name": data.name,
            "shifts": [
                (max(s.start, start), min(s.end, end), users[s.user_id])
                for s in computed.shifts[i + 1]
            ],
            "gaps": computed.gaps[i + 1],
        }
        for i, data in enumerate(layers)
    ]


@login_required
def schedule_edit(request, pk=None):
    """Create (?team=slug) or edit a schedule; "Preview" shows the next four weeks unsaved."""
    if pk is None:
        team = get_object_or_404(Team, slug=request.GET.get("team") or request.POST.get("team"))
        if not can(request.user, MANAGE, team):
            raise PermissionDenied(f"Your role in {team} does not allow this.")
        schedule = None
        initial = {"name": "On-call", "time_zone": team.time_zone}
        layers_initial = []
    else:
        schedule = get_object_for_user(
            request.user, Schedule.objects.select_related("team"), action=MANAGE, pk=pk
        )
        team = schedule.team
        initial = {"name": schedule.name, "time_zone": schedule.time_zone}
        layers_initial = _initial_layers(schedule)
    if request.method != "POST":
        form = ScheduleForm(initial=initial)
        formset = LayerFormSet(initial=layers_initial, form_kwargs={"team": team}, prefix="layer")
        return render(
            request,
            "oncall/edit.html",
            _schedule_form_context(request, team, schedule, form, formset),
        )
    form = ScheduleForm(request.POST)
    formset = LayerFormSet(
        request.POST, initial=layers_initial, form_kwargs={"team": team}, prefix="layer"
    )
    preview = None
    if form.is_valid() and formset.is_valid():
        layers = [
            f.layer_data()
            for f in formset.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
        ]
        problems = [] if layers else ["A schedule needs at least one layer."]
        for data in layers:
            problems += services.layer_problems(data, time_zone=form.cleaned_data["time_zone"])
        if problems:
            for problem in problems:
                form.add_error(None, problem)
        elif request.POST.get("action") == "save":
            try:
                schedule = services.schedule_save(
                    team=team,
                    name=form.cleaned_data["name"],
                    time_zone=form.cleaned_data["time_zone"],
                    layers=layers,
                    by=request.user,
                    schedule=schedule,
                )
            except OncallError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Schedule “{schedule.name}” saved.")
                return redirect("oncall_schedule", pk=schedule.pk)
        else:
            users = {u.pk: u for data in layers for u in data.members}
            preview = _preview(time_zone=form.cleaned_data["time_zone"], layers=layers, users=users)
    status = 200 if preview is not None else 400
    return render(
        request,
        "oncall/edit.html",
        _schedule_form_context(request, team, schedule, form, formset, preview),
        status=status,
    )


@login_required
def fairness(request, pk):
    schedule = get_object_for_user(request.user, Schedule.objects.select_related("team"), pk=pk)
    tz = zoneinfo.ZoneInfo(schedule.time_zone)
    today = timezone.now().astimezone(tz).date()
    start_date, end_date = today - dt.timedelta(days=90), today
    error, rows = None, []
    try:
        start_date = parse_date(request.GET.get("start"), "start") or start_date
        end_date = parse_date(request.GET.get("end"), "end") or end_date
        start = dt.datetime.combine(start_date, dt.time()).replace(tzinfo=tz)
        end = dt.datetime.combine(end_date + dt.timedelta(days=1), dt.time()).replace(tzinfo=tz)
        rows = fairness_report(schedule=schedule, start=start, end=end)
    except (InputError, WindowError) as exc:
        error = str(exc)
    return render(
        request,
        "oncall/fairness.html",
        {
            "schedule": schedule,
            "rows": rows,
            "start_date": start_date,
            "end_date": end_date,
            "error": error,
        },
        status=400 if error else 200,
    )


def _feed_url_shown_once(request, *, feed, raw, back_url, rotated):
    """The new feed URL, on a page of its own that no cache keeps: it is not shown again."""
    url = request.build_absolute_uri(reverse("oncall_feed", args=[raw]))
    return render(
        request,
        "oncall/feed_url.html",
        {"feed": feed, "url": url, "back_url": back_url, "rotated": rotated},
    )


@never_cache
@login_required
@require_POST
def schedule_feed_token(request, pk):
    schedule = get_object_for_user(
        request.user, Schedule.objects.select_related("team"), action=CHANGE, pk=pk
    )
    if request.POST.get("action") == "revoke":
        services.calendar_token_revoke(by=request.user, schedule=schedule)
        messages.success(request, "The schedule's calendar feed URL no longer works.")
        return redirect("oncall_schedule", pk=schedule.pk)
    rotated = _live_token(schedule=schedule) is not None
    feed, raw = services.calendar_token_regenerate(by=request.user, schedule=schedule)
    back_url = reverse("oncall_schedule", args=[schedule.pk])
    return _feed_url_shown_once(request, feed=feed, raw=raw, back_url=back_url, rotated=rotated)


@never_cache
@login_required
@require_POST
def my_feed_token(request):
    if request.POST.get("action") == "revoke":
        services.calendar_token_revoke(by=request.user, user=request.user)
        messages.success(request, "Your calendar feed URL no longer works.")
        return redirect("oncall_mine")
    rotated = _live_token(user=request.user) is not None
    feed, raw = services.calendar_token_regenerate(by=request.user, user=request.user)
    back_url = reverse("oncall_mine")
    return _feed_url_shown_once(request, feed=feed, raw=raw, back_url=back_url, rotated=rotated)


@require_GET
def calendar_feed(request, token):
    """The public iCalendar feed behind a secret URL. Revoked or unknown tokens get 404."""
    found = calendars.feed_for_token(token)
    if found is None:
        raise Http404("No such calendar feed.")
    if found.schedule_id:
        body = calendars.schedule_calendar(found.schedule)
        filename = f"vigil-{found.schedule.team.slug}-oncall.ics"
    else:
        body = calendars.person_calendar(found.user)
        filename = f"vigil-{found.user.username}-shifts.ics"
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, max-age=300"
    return response


@login_required
def schedule_list(request):
    schedules = Schedule.objects.select_related("team").order_by("team__name", "name")
    teams = [t for t in Team.objects.order_by("name") if can(request.user, MANAGE, t)]
    return render(request, "oncall/schedules.html", {"schedules": schedules, "teams": teams})


@login_required
def escalation_policy(request, slug):
    """The team's escalation path; managers edit its steps (notify …, then wait N minutes)."""
    team = get_object_or_404(Team.objects.select_related("engineering_lead"), slug=slug)
    policy = escalation_policy_for(team=team)
    if policy is None:  # a team made without its default path (a bulk insert): none to show
        policy = EscalationPolicy(team=team, name="Default (seed document)", repeat=1)
    shown_steps = list(policy.steps.all()) if policy.pk else []
    may_manage = can(request.user, MANAGE, team)
    initial = [
        {
            "target_kind": s.target_kind,
            "layer": s.layer_id,
            "user": s.user_id,
            "wait_minutes": s.wait_minutes,
        }
        for s in shown_steps
    ]
    form = EscalationPolicyForm(initial={"repeat": policy.repeat})
    formset = EscalationStepFormSet(initial=initial, form_kwargs={"team": team}, prefix="step")
    status = 200
    if request.method == "POST":
        if not may_manage:
            raise PermissionDenied(f"Your role in {team} does not allow this.")
        form = EscalationPolicyForm(request.POST)
        formset = EscalationStepFormSet(
            request.POST, initial=initial, form_kwargs={"team": team}, prefix="step"
        )
        if form.is_valid() and formset.is_valid():
            steps = [
                services.StepData(
                    target_kind=f.cleaned_data["target_kind"],
                    wait_minutes=f.cleaned_data["wait_minutes"],
                    layer=f.cleaned_data.get("layer"),
                    user=f.cleaned_data.get("user"),
                )
                for f in formset.forms
                if f.cleaned_data and not f.cleaned_data.get("DELETE")
            ]
            try:
                if policy.pk is None:
                    policy = services.escalation_policy_default(team=team)
                services.escalation_policy_save(
                    policy=policy, repeat=form.cleaned_data["repeat"], steps=steps, by=request.user
                )
            except OncallError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Escalation path of {team} saved.")
                return redirect("oncall_escalation", slug=team.slug)
        status = 400
    offsets, elapsed = [], 0
    for step in policy.steps.all() if policy.pk else []:
        offsets.append((step, elapsed))
        elapsed += step.wait_minutes
    return render(
        request,
        "oncall/escalation.html",
        {
            "team": team,
            "policy": policy,
            "offsets": offsets,
            "form": form,
            "formset": formset,
            "can_manage": may_manage,
        },
        status=status,
    )


@login_required
def contact_methods(request):
    """How Vigil reaches you when you are paged."""
    form = ContactMethodForm()
    status = 200
    if request.method == "POST":
        remove = parse_id(request.POST.get("remove"))
        if remove is not None:
            method = get_object_or_404(ContactMethod, pk=remove, user=request.user)
            services.contact_method_remove(method=method, by=request.user)
            messages.success(request, "Contact method removed.")
            return redirect("oncall_contacts")
        form = ContactMethodForm(request.POST)
        if form.is_valid():
            services.contact_method_add(user=request.user, **form.cleaned_data)
            messages.success(request, "Contact method added.")
            return redirect("oncall_contacts")
        status = 400
    return render(
        request,
        "oncall/contacts.html",
        {
            "form": form,
            "methods": request.user.contact_methods.all(),
            "telephony_ready": bool(
                settings.SMS_ACCOUNT_SID and settings.SMS_AUTH_TOKEN and settings.SMS_FROM_NUMBER
            ),
        },
        status=status,
    )


@login_required
def team_settings(request, slug):
    """A manager sets the team's time zone and business hours (a warning pages inside them)."""
    team = get_object_for_user(
        request.user, Team.objects.select_related("routing"), action=MANAGE, slug=slug
    )
    routing = team_routing(team)
    initial = {
        "time_zone": team.time_zone,
        "business_days": routing.business_days,
        "business_start": routing.business_start,
        "business_end": routing.business_end,
    }
    form = TeamSettingsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            team_settings_save(team=team, by=request.user, **form.cleaned_data)
        except TeamSettingsError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Settings of {team} saved.")
            return redirect("oncall_team_settings", slug=team.slug)
    return render(
        request,
        "oncall/team_settings.html",
        {"team": team, "form": form},
        status=400 if form.errors else 200,
    )
