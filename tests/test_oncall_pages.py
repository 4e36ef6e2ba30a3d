"""On-call pages, services and API: what people see and do, and the bad input they get told
about clearly."""

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from accounts.tokens import api_token_create
from audit.models import AuditEntry
from oncall import services
from oncall.models import (
    ContactMethod,
    GapNotice,
    HandoffNote,
    Override,
    Schedule,
    ShiftReminder,
    SwapRequest,
)
from oncall.selectors import fairness_report, oncall_at
from oncall.services import LayerData, OncallError
from teams.models import Role
from tests.factories import PASSWORD, TeamFactory, member

pytestmark = pytest.mark.django_db
UTC = dt.UTC
MONDAY = dt.date(2026, 1, 5)
NOW = dt.datetime(2026, 1, 14, 12, tzinfo=UTC)  # a Wednesday in week two of the rotation


def platform(n_members=3):
    team = TeamFactory(time_zone="Europe/Berlin")
    people = [member(team, username=f"p{i}") for i in range(n_members)]
    sam = member(team, role=Role.MANAGER, username="sam", email="sam@vigil.example")
    team.engineering_lead = sam
    team.save()
    schedule = services_save(team, people, sam)
    return team, schedule, people, sam


def services_save(team, people, by):
    from django.db import transaction

    with transaction.atomic():
        return services.schedule_save(
            team=team,
            name="Platform on-call",
            time_zone="Europe/Berlin",
            layers=[
                LayerData(name="Primary", members=people, start_date=MONDAY),
                LayerData(name="Secondary", members=people[1:] + people[:1], start_date=MONDAY),
            ],
            by=by,
        )


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)


@time_machine.travel(NOW, tick=False)
def test_on_call_now_shows_primary_secondary_and_lead_with_until_and_contacts(client):
    team, schedule, people, sam = platform()
    ContactMethod.objects.create(user=people[1], kind="sms", value="+49 170 0000001")
    login(client, people[0])
    response = client.get(reverse("oncall_now"))
    html = response.content.decode()
    assert response.status_code == 200
    assert team.name in html
    assert "Primary" in html and "Secondary" in html and "Engineering lead" in html
    assert people[1].display_name in html  # primary in week two
    assert "SMS ····0001" in html and "+49 170" not in html  # another person's number
    assert "until" in html and 'datetime="2026-01-19T08:00:00+00:00"' in html  # Monday 09:00 CET


def calendar_url(schedule, **params):
    from urllib.parse import urlencode

    return f"{reverse('oncall_schedule', args=[schedule.pk])}?{urlencode(params)}"


@time_machine.travel(NOW, tick=False)
def test_the_calendar_week_marks_overrides_gaps_and_today(client):
    team, schedule, people, sam = platform()
    primary = schedule.layers.get(name="Primary")
    Override.objects.create(
        layer=primary, user=sam, start=NOW, end=NOW + dt.timedelta(hours=6), created_by=sam
    )
    login(client, people[0])
    response = client.get(calendar_url(schedule))
    html = response.content.decode()
    assert response.status_code == 200
    assert "is-override" in html and "cal-today" in html
    assert 'hx-get="' in html and 'href="/oncall/schedules/' in html
    assert "style=" not in html
    partial = client.get(calendar_url(schedule, date="2026-01-19"), headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in partial.content.decode() and 'id="calendar"' in partial.content.decode()
    month = client.get(calendar_url(schedule, view="month", tz="schedule"))
    assert month.status_code == 200 and "January 2026" in month.content.decode()


@pytest.mark.parametrize("n", [2, 20])
@time_machine.travel(NOW, tick=False)
def test_the_calendar_page_query_count_does_not_grow_with_members(
    client, n, django_assert_num_queries
):
    team, schedule, people, sam = platform(n_members=n)
    primary = schedule.layers.get(name="Primary")
    Override.objects.create(layer=primary, user=sam, start=NOW, end=NOW + dt.timedelta(hours=6))
    login(client, people[0])
    client.get(calendar_url(schedule))  # warm the session
    with django_assert_num_queries(18):
        for view in ("week", "month"):
            assert client.get(calendar_url(schedule, view=view)).status_code == 200


def layer_post(prefix, **overrides):
    data = {
        f"{prefix}-name": "Primary",
        f"{prefix}-members": "p0\np1",
        f"{prefix}-cadence": "weekly",
        f"{prefix}-interval": "1",
        f"{prefix}-handoff_weekday": "0",
        f"{prefix}-handoff_time": "09:00",
        f"{prefix}-start_date": "2026-01-05",
        f"{prefix}-restriction": "none",
        f"{prefix}-active_from": "09:00",
        f"{prefix}-active_until": "17:00",
    }
    data.update({f"{prefix}-{k}": v for k, v in overrides.items()})
    return data


def editor_post(action, team, **layer):
    data = {
        "team": team.slug,
        "name": "Weekend cover",
        "time_zone": "Europe/Berlin",
        "action": action,
        "layer-TOTAL_FORMS": "1",
        "layer-INITIAL_FORMS": "0",
        "layer-MIN_NUM_FORMS": "0",
        "layer-MAX_NUM_FORMS": "8",
    }
    data.update(layer_post("layer-0", **layer))
    return data


@time_machine.travel(NOW, tick=False)
def test_the_editor_previews_four_weeks_without_saving_then_saves(client):
    team, schedule, people, sam = platform()
    login(client, sam)
    url = f"{reverse('oncall_schedule_new')}?team={team.slug}"
    preview = client.post(url, editor_post("preview", team))
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "Preview: the next four weeks" in html
    assert html.count("<li>") >= 4
    assert not Schedule.objects.filter(name="Weekend cover").exists()
    saved = client.post(url, editor_post("save", team))
    created = Schedule.objects.get(name="Weekend cover")
    assert saved.status_code == 302
    assert [m.user.username for m in created.layers.get().members.order_by("position")] == [
        "p0",
        "p1",
    ]
    assert AuditEntry.objects.filter(action="schedule.create", object_id=str(created.pk)).exists()


@time_machine.travel(NOW, tick=False)
def test_a_handoff_time_that_does_not_exist_is_refused_and_nothing_is_saved(client):
    team, schedule, people, sam = platform()
    login(client, sam)
    url = f"{reverse('oncall_schedule_new')}?team={team.slug}"
    response = client.post(
        url, editor_post("save", team, handoff_weekday="6", handoff_time="02:30")
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "02:30 does not exist in Europe/Berlin on Sunday 29 March 2026" in html
    assert not Schedule.objects.filter(name="Weekend cover").exists()


@time_machine.travel(NOW, tick=False)
def test_a_rotation_with_no_members_is_refused_and_nothing_is_saved(client):
    team, schedule, people, sam = platform()
    login(client, sam)
    url = f"{reverse('oncall_schedule_new')}?team={team.slug}"
    response = client.post(url, editor_post("save", team, members=""))
    assert response.status_code == 400
    assert "has no members" in response.content.decode()
    assert not Schedule.objects.filter(name="Weekend cover").exists()
    with pytest.raises(OncallError, match="no members"):
        services.schedule_save(
            team=team,
            name="Empty",
            time_zone="UTC",
            layers=[LayerData(name="Primary", members=[], start_date=MONDAY)],
            by=sam,
        )
    assert not Schedule.objects.filter(name="Empty").exists()


@time_machine.travel(NOW, tick=False)
def test_a_responder_cannot_edit_the_schedule(client):
    team, schedule, people, sam = platform()
    login(client, people[0])
    assert client.get(reverse("oncall_schedule_edit", args=[schedule.pk])).status_code == 403


@time_machine.travel(NOW, tick=False)
def test_an_override_ending_before_it_starts_is_refused(client):
    team, schedule, people, sam = platform()
    primary = schedule.layers.get(name="Primary")
    login(client, people[0])
    response = client.post(
        reverse("oncall_cover", args=[primary.pk]),
        {
            "kind": "cover",
            "cover-user": people[0].pk,
            "cover-start": "2026-01-15T10:00",
            "cover-end": "2026-01-15T08:00",
            "cover-reason": "dentist",
        },
    )
    assert response.status_code == 400
    assert "The end must be after the start." in response.content.decode()
    assert not Override.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_taking_a_shift_puts_me_on_call_and_is_audited(client):
    team, schedule, people, sam = platform()
    primary = schedule.layers.get(name="Primary")
    login(client, people[2])
    start, end = dt.datetime(2026, 1, 12, 8, tzinfo=UTC), dt.datetime(2026, 1, 19, 8, tzinfo=UTC)
    page = client.get(
        reverse("oncall_cover", args=[primary.pk]),
        {"start": start.isoformat(), "end": end.isoformat(), "replaces": people[1].pk},
    )
    assert page.status_code == 200 and "Take this shift" in page.content.decode()
    response = client.post(
        reverse("oncall_cover", args=[primary.pk]),
        {
            "kind": "take",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "replaces": people[1].pk,
            "reason": "p1 is ill",
        },
    )
    assert response.status_code == 302
    override = Override.objects.get()
    assert (override.user, override.replaces, override.created_by) == (
        people[2],
        people[1],
        people[2],
    )
    assert oncall_at(team=team, at=NOW)["Primary"] == [people[2]]
    assert AuditEntry.objects.filter(action="override.create", actor=people[2]).exists()


@time_machine.travel(NOW, tick=False)
def test_a_viewer_cannot_cover_and_someone_else_cannot_be_put_on_call_by_a_responder(client):
    team, schedule, people, sam = platform()
    primary = schedule.layers.get(name="Primary")
    casey = member(team, role=Role.VIEWER, username="casey")
    login(client, casey)
    assert client.get(reverse("oncall_cover", args=[primary.pk])).status_code == 403
    client.logout()
    login(client, people[0])
    response = client.post(
        reverse("oncall_cover", args=[primary.pk]),
        {
            "kind": "cover",
            "cover-user": people[2].pk,
            "cover-start": "2026-01-15T10:00",
            "cover-end": "2026-01-15T12:00",
        },
    )
    assert response.status_code == 403
    assert not Override.objects.exists()


@time_machine.travel(NOW, tick=False)
def test_a_swap_request_accepted_by_the_recipient_creates_the_override(client):
    team, schedule, people, sam = platform()
    primary = schedule.layers.get(name="Primary")
    swap = services.swap_request_create(
        layer=primary,
        requester=people[1],
        recipient=people[0],
        start=NOW,
        end=NOW + dt.timedelta(days=1),
        reason="school play",
        by=people[1],
    )
    login(client, people[2])
    client.post(reverse("oncall_swap_decide", args=[swap.pk, "accept"]))
    swap.refresh_from_db()
    assert swap.status == SwapRequest.Status.PENDING  # only the recipient may accept
    client.logout()
    login(client, people[0])
    mine = client.get(reverse("oncall_mine")).content.decode()
    assert "asks you to cover" in mine and "Accept swap" in mine
    client.post(reverse("oncall_swap_decide", args=[swap.pk, "accept"]))
    swap.refresh_from_db()
    assert swap.status == SwapRequest.Status.ACCEPTED
    assert swap.override.user == people[0] and swap.override.replaces == people[1]
    assert oncall_at(team=team, at=NOW)["Primary"] == [people[0]]
    again = client.post(reverse("oncall_swap_decide", args=[swap.pk, "accept"]), follow=True)
    assert "already accepted" in again.content.decode()
    assert Override.objects.count() == 1


@time_machine.travel(NOW, tick=False)
def test_a_declined_swap_changes_nothing():
    team, schedule, people, sam = platform()
    primary = schedule.layers.get(name="Primary")
    swap = services.swap_request_create(
        layer=primary,
        requester=people[1],
        recipient=people[0],
        start=NOW,
        end=NOW + dt.timedelta(days=1),
        by=people[1],
    )
    services.swap_request_decline(swap=swap, by=people[0])
    assert SwapRequest.objects.get().status == SwapRequest.Status.DECLINED
    assert not Override.objects.exists()
    assert oncall_at(team=team, at=NOW)["Primary"] == [people[1]]


def test_the_outgoing_persons_handoff_note_reaches_the_incoming_person(client):
    with time_machine.travel(NOW, tick=False):
        team, schedule, people, sam = platform()
        login(client, people[1])  # primary this week, until Monday 19 January 09:00 CET
        page = client.get(reverse("oncall_mine")).content.decode()
        assert "Write a handoff note" in page
        primary = schedule.layers.get(name="Primary")
        response = client.post(
            reverse("oncall_handoff_note", args=[primary.pk]),
            {
                "body": "Disk alerts on db-2 are flaky; see INC-42.",
                "handoff_at": "2026-01-19 08:00",
            },
        )
        assert response.status_code == 302
        assert HandoffNote.objects.get().author == people[1]
        client.logout()
        login(client, people[2])  # primary next week
        page = client.get(reverse("oncall_mine")).content.decode()
        assert "Disk alerts on db-2 are flaky" in page


def test_the_pre_shift_reminder_is_sent_once_per_shift_and_its_checklist_can_be_ticked(client):
    before_handoff = dt.datetime(2026, 1, 19, 2, tzinfo=UTC)  # Monday, handoff at 08:00 UTC
    with time_machine.travel(before_handoff, tick=False):
        team, schedule, people, sam = platform()
        for person in people:
            person.email = f"{person.username}@vigil.example"
            person.save()
        assert services.shift_reminders_send() == 2  # primary and secondary of next week
        assert services.shift_reminders_send() == 0
        assert len(mail.outbox) == 2
        assert "Laptop charged and ready" in mail.outbox[0].body
        assert "Escalation path known" in mail.outbox[0].body
        reminder = ShiftReminder.objects.get(user=people[2])
        login(client, people[2])
        page = client.get(reverse("oncall_mine")).content.decode()
        assert "VPN configured" in page
        response = client.post(
            reverse("oncall_checklist_tick", args=[reminder.pk]),
            {"item": "vpn", "checked": "on"},
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 200
        reminder.refresh_from_db()
        assert reminder.checked == ["vpn"]


@time_machine.travel(NOW, tick=False)
def test_a_gap_is_raised_to_the_managers_once():
    team, schedule, people, sam = platform()
    people[2].is_active = False  # p2 is primary from Monday 19 January: a gap
    people[2].save()
    assert services.gaps_raise() >= 1
    assert services.gaps_raise() == 0
    notice = GapNotice.objects.filter(layer__name="Primary").get()
    assert notice.start == dt.datetime(2026, 1, 19, 8, tzinfo=UTC)
    assert mail.outbox[0].to == ["sam@vigil.example"]
    assert "Nobody is on call" in mail.outbox[0].subject


def test_the_fairness_report_splits_hours_into_business_nights_and_weekends():
    team, schedule, people, sam = platform()
    start = dt.datetime(2026, 1, 4, 23, tzinfo=UTC)  # Monday 5 January 00:00 Berlin
    rows = {
        r.user: r
        for r in fairness_report(schedule=schedule, start=start, end=start + dt.timedelta(weeks=3))
    }
    # p0 is primary 5–12 Jan and secondary 19–26 Jan (weeks starting Monday 09:00).
    p0 = rows[people[0]]
    assert p0.total == pytest.approx(24 * 7 * 2 - 9)  # the first 9 hours were nobody's
    assert p0.weekends == pytest.approx(48 * 2)
    assert p0.business == pytest.approx(8 * 5 * 2)
    assert p0.nights == pytest.approx(p0.total - p0.weekends - p0.business)


@time_machine.travel(NOW, tick=False)
def test_the_api_says_who_is_on_call_now(client):
    team, schedule, people, sam = platform()
    other = TeamFactory(slug="other")
    _, raw = api_token_create(user=people[0], name="cli")
    auth = {"Authorization": f"Bearer {raw}"}
    body = client.get("/api/v1/oncall/now", {"team": team.slug}, headers=auth).json()
    assert len(body) == 1
    layers = {la["layer"]: la["people"] for la in body[0]["layers"]}
    assert [p["username"] for p in layers["Primary"]] == ["p1"]
    assert layers["Primary"][0]["until"].startswith("2026-01-19T08:00:00")
    assert body[0]["engineering_lead"]["username"] == "sam"
    everyone = client.get("/api/v1/oncall/now", headers=auth).json()
    assert {t["team"] for t in everyone} == {team.slug, other.slug}
    assert client.get("/api/v1/oncall/now", {"team": "nope"}, headers=auth).status_code == 404
    assert client.get("/api/v1/oncall/now").status_code == 401


@time_machine.travel(NOW, tick=False)
def test_the_api_lists_shifts_and_refuses_bad_windows(client):
    team, schedule, people, sam = platform()
    _, raw = api_token_create(user=people[0], name="cli")
    auth = {"Authorization": f"Bearer {raw}"}
    url = f"/api/v1/schedules/{schedule.pk}/shifts"
    ok = client.get(
        url, {"start": "2026-01-12T00:00:00Z", "end": "2026-01-26T00:00:00Z"}, headers=auth
    )
    assert ok.status_code == 200
    primary = [s for s in ok.json()["shifts"] if s["layer"] == "Primary"]
    assert [s["username"] for s in primary] == ["p0", "p1", "p2"]
    too_long = client.get(
        url, {"start": "2026-01-01T00:00:00Z", "end": "2027-01-03T00:00:00Z"}, headers=auth
    )
    assert too_long.status_code == 400 and "one year" in too_long.json()["detail"]
    reversed_ = client.get(
        url, {"start": "2026-02-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, headers=auth
    )
    assert reversed_.status_code == 400 and "after its start" in reversed_.json()["detail"]
    assert client.get(url, {"start": "yesterday", "end": "x"}, headers=auth).status_code == 400
    assert (
        client.get(
            "/api/v1/schedules/999999/shifts",
            {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
            headers=auth,
        ).status_code
        == 404
    )


def test_seed_demo_builds_the_seed_documents_team_idempotently():
    from accounts import demo as accounts_demo
    from oncall import demo

    with time_machine.travel(NOW, tick=False):
        from django.db import transaction

        with transaction.atomic():
            users = accounts_demo.seed()
            team = demo.seed(users=users)
            demo.seed(users=users)
        schedule = Schedule.objects.get(team=team)
        assert [la.name for la in schedule.layers.all()] == ["Primary", "Secondary"]
        assert Override.objects.count() == 1
        assert oncall_at(team=team, at=NOW) == {
            "Primary": [users["jordan"]],
            "Secondary": [users["riley"]],
        }
        assert team.engineering_lead == users["sam"]
        assert ContactMethod.objects.filter(user=users["sam"]).count() == 2


@pytest.mark.parametrize("week", [0, 1, 2])
def test_the_demo_override_has_one_person_covering_another_persons_shift(week):
    from django.db import transaction

    from accounts import demo as accounts_demo
    from oncall import demo
    from oncall.selectors import layer_oncall_at

    with time_machine.travel(NOW + dt.timedelta(weeks=week), tick=False):
        with transaction.atomic():
            users = accounts_demo.seed()
            demo.seed(users=users)
        override = Override.objects.select_related("layer", "user", "replaces").get()
        assert override.replaces is not None
        assert override.user != override.replaces
        assert override.reason == (
            f"Demo: {override.replaces.first_name} is at a conference; "
            f"{override.user.first_name} covers the day"
        )
        # The person it replaces is the one the rotation puts on call then.
        override.delete()
        assert layer_oncall_at(layer=override.layer, at=override.start) == [override.replaces]


@time_machine.travel(NOW, tick=False)
def test_the_calendar_labels_blocks_over_a_day_with_dates_and_gives_each_day_label_parts(client):
    team, schedule, people, sam = platform()
    primary = schedule.layers.get(name="Primary")
    Override.objects.create(
        layer=primary, user=sam, start=NOW, end=NOW + dt.timedelta(hours=6), created_by=sam
    )
    login(client, people[0])
    html = client.get(calendar_url(schedule, tz="schedule")).content.decode()
    labels = re.findall(r'<span class="cal-when">([^<]*)</span>', html)
    for label in [
        "Mon 12 Jan 09:00 – Wed 14 Jan 13:00",  # primary until the override
        "Wed 13:00–19:00",  # the override, within a day
        "Wed 14 Jan 19:00 – Mon 19 Jan 09:00",
        "Mon 12 Jan 09:00 – Mon 19 Jan 09:00",  # the week-long secondary shift
    ]:
        assert label in labels, labels
    assert '<span class="cal-dow">Mon</span> <span class="cal-dom">12</span>' in html


@time_machine.travel(NOW, tick=False)
def test_editing_a_schedule_keeps_a_renamed_layers_overrides(client):
    team, schedule, people, sam = platform()
    primary = schedule.layers.get(name="Primary")
    Override.objects.create(layer=primary, user=sam, start=NOW, end=NOW + dt.timedelta(hours=2))
    login(client, sam)
    url = reverse("oncall_schedule_edit", args=[schedule.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'value="p0\np1\np2"' not in page.content.decode()
    formset = page.context["formset"]
    data = {"name": "Platform on-call", "time_zone": "Europe/Berlin", "action": "save"}
    data.update(_management(formset))
    for i, form in enumerate(formset.initial_forms):
        initial = dict(form.initial)
        initial["name"] = "First line" if initial["name"] == "Primary" else initial["name"]
        data.update(_layer_fields(f"layer-{i}", initial))
    # The blank "new layer" form, untouched, as the browser submits it.
    n = len(formset.initial_forms)
    data["layer-TOTAL_FORMS"] = str(n + 1)
    blank = formset.forms[n]
    for name in blank.fields:
        value = blank[name].value()
        if name != "DELETE":
            data[f"layer-{n}-{name}"] = (
                "" if value is None else blank[name].field.widget.format_value(value) or ""
            )
    preview = client.post(url, {**data, "action": "preview"})
    assert preview.status_code == 200
    assert "Preview: the next four weeks" in preview.content.decode()
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    primary.refresh_from_db()
    assert primary.name == "First line"
    assert primary.overrides.count() == 1
    assert oncall_at(team=team, at=NOW)["First line"] == [sam]


def _management(formset):
    return {
        "layer-TOTAL_FORMS": str(len(formset.initial_forms)),
        "layer-INITIAL_FORMS": str(len(formset.initial_forms)),
        "layer-MIN_NUM_FORMS": "0",
        "layer-MAX_NUM_FORMS": "8",
    }


def _layer_fields(prefix, initial):
    out = {}
    for key, value in initial.items():
        if hasattr(value, "strftime"):
            value = value.strftime("%H:%M") if isinstance(value, dt.time) else value.isoformat()
        out[f"{prefix}-{key}"] = str(value)
    return out


@pytest.mark.parametrize("n", [2, 20])
@time_machine.travel(NOW, tick=False)
def test_on_call_now_and_my_shifts_query_counts_do_not_grow_with_members(
    client, n, django_assert_num_queries
):
    team, schedule, people, sam = platform(n_members=n)
    for person in people:
        ContactMethod.objects.create(user=person, kind="email", value=f"{person.username}@x.test")
    login(client, people[1])  # primary now, in both sizes of team
    client.get(reverse("oncall_now"))
    with django_assert_num_queries(8):
        assert client.get(reverse("oncall_now")).status_code == 200
    with django_assert_num_queries(10):
        assert client.get(reverse("oncall_mine")).status_code == 200


@time_machine.travel(NOW, tick=False)
def test_a_manager_edits_the_escalation_path_and_bad_steps_are_refused(client):
    team, schedule, people, sam = platform()
    primary = schedule.layers.get(name="Primary")
    login(client, people[0])
    page = client.get(reverse("oncall_escalation", args=[team.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "At +0 min" in html and "At +5 min" in html and "At +15 min" in html
    data = {
        "repeat": "2",
        "step-TOTAL_FORMS": "1",
        "step-INITIAL_FORMS": "0",
        "step-MIN_NUM_FORMS": "0",
        "step-MAX_NUM_FORMS": "10",
        "step-0-target_kind": "layer",
        "step-0-layer": str(primary.pk),
        "step-0-wait_minutes": "3",
    }
    url = reverse("oncall_escalation", args=[team.slug])
    assert client.post(url, data).status_code == 403
    client.logout()
    login(client, sam)
    bad = client.post(url, {**data, "step-0-layer": ""})
    assert bad.status_code == 400
    assert "Choose the layer" in bad.content.decode()
    assert team.escalation_policies.get().steps.count() == 3
    assert client.post(url, data).status_code == 302
    policy = team.escalation_policies.get()
    assert policy.repeat == 2
    assert [(s.target_kind, s.layer_id, s.wait_minutes) for s in policy.steps.all()] == [
        ("layer", primary.pk, 3)
    ]
    assert AuditEntry.objects.filter(action="escalation_policy.update", actor=sam).exists()


def test_people_add_and_remove_their_contact_methods(client):
    team = TeamFactory()
    alex = member(team, username="alex")
    login(client, alex)
    url = reverse("oncall_contacts")
    bad = client.post(url, {"kind": "sms", "value": "call me maybe"})
    assert bad.status_code == 400 and "Enter a phone number" in bad.content.decode()
    assert not ContactMethod.objects.exists()
    assert client.post(url, {"kind": "sms", "value": "+49 170 1234567"}).status_code == 302
    method = ContactMethod.objects.get(user=alex)
    assert "+49 170 1234567" in client.get(url).content.decode()
    client.post(url, {"remove": method.pk})
    assert not ContactMethod.objects.exists()


def test_the_contact_page_says_when_sms_and_calls_are_not_set_up(client, settings):
    alex = member(TeamFactory(), username="alex")
    login(client, alex)
    url = reverse("oncall_contacts")
    settings.SMS_ACCOUNT_SID = ""
    assert "SMS and phone calls are not set up" in client.get(url).content.decode()
    settings.SMS_ACCOUNT_SID, settings.SMS_AUTH_TOKEN = "AC123", "token"
    settings.SMS_FROM_NUMBER = "+15005550006"
    assert "SMS and phone calls are not set up" not in client.get(url).content.decode()


@time_machine.travel(NOW, tick=False)
def test_a_gap_is_shown_on_the_calendar(client):
    team, schedule, people, sam = platform()
    people[2].is_active = False  # primary from Monday 19 January
    people[2].save()
    login(client, sam)
    html = client.get(calendar_url(schedule, date="2026-01-19")).content.decode()
    assert "is-gap" in html and "Nobody on call" in html


@time_machine.travel(NOW, tick=False)
def test_the_fairness_page_refuses_a_window_of_more_than_a_year(client):
    team, schedule, people, sam = platform()
    login(client, people[0])
    url = reverse("oncall_fairness", args=[schedule.pk])
    ok = client.get(url, {"start": "2026-01-01", "end": "2026-01-31"})
    assert ok.status_code == 200 and people[0].display_name in ok.content.decode()
    bad = client.get(url, {"start": "2024-01-01", "end": "2026-01-31"})
    assert bad.status_code == 400 and "at most one year" in bad.content.decode()
    reversed_ = client.get(url, {"start": "2026-02-01", "end": "2026-01-01"})
    assert reversed_.status_code == 400


@time_machine.travel(NOW, tick=False)
def test_the_override_service_refuses_a_reversed_window_and_saves_nothing():
    team, schedule, people, sam = platform()
    primary = schedule.layers.get(name="Primary")
    with pytest.raises(OncallError, match="end must be after the start"):
        services.override_create(
            layer=primary, user=sam, start=NOW, end=NOW - dt.timedelta(hours=1), by=sam
        )
    outsider = member(TeamFactory(), username="outsider")
    with pytest.raises(OncallError, match="not a member"):
        services.override_create(
            layer=primary, user=outsider, start=NOW, end=NOW + dt.timedelta(hours=1), by=sam
        )
    assert not Override.objects.exists()
    assert not AuditEntry.objects.filter(action="override.create").exists()


def test_the_openapi_document_lists_the_on_call_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "/api/v1/oncall/now" in paths
    assert "/api/v1/schedules/{schedule_id}/shifts" in paths


@time_machine.travel(NOW, tick=False)
def test_the_person_asked_to_swap_gets_an_email(django_capture_on_commit_callbacks):
    team, schedule, people, sam = platform()
    people[0].email = "p0@vigil.example"
    people[0].save()
    primary = schedule.layers.get(name="Primary")
    with django_capture_on_commit_callbacks() as callbacks:
        swap = services.swap_request_create(
            layer=primary,
            requester=people[1],
            recipient=people[0],
            start=NOW,
            end=NOW + dt.timedelta(hours=3),
            reason="train delayed",
            by=people[1],
        )
    assert len(callbacks) == 1  # the notification is enqueued only after the commit
    services.swap_request_notify_send(swap_id=swap.pk)
    assert mail.outbox[0].to == ["p0@vigil.example"]
    assert "train delayed" in mail.outbox[0].body


@time_machine.travel(NOW, tick=False)
def test_the_schedule_list_offers_managers_a_new_schedule(client):
    team, schedule, people, sam = platform()
    login(client, sam)
    html = client.get(reverse("oncall_schedules")).content.decode()
    assert "Platform on-call" in html and f"New schedule for {team.name}" in html
    client.logout()
    login(client, people[0])
    assert "New schedule for" not in client.get(reverse("oncall_schedules")).content.decode()
