"""On-call health: interruptions split by each person's own time zone (daylight-saving nights
included), hours on call from the schedule's fairness figures, incidents handled, the flag,
who sees what, and bad input."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from oncall.models import Layer, LayerMember, Schedule
from paging.models import Escalation, Notification, Page, StepRun
from reports import periods
from reports.health import health_period, parse_factor, team_health
from reports.periods import Period
from teams.models import Role
from tests.factories import IncidentFactory, member

pytestmark = pytest.mark.django_db

UTC = dt.UTC
START, END = "2026-10-19", "2026-11-01"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def incident_for(team, *, declared="2026-10-19T00:00", **kwargs):
    when = at(declared)
    return IncidentFactory(team=team, declared_at=when, started_at=when, **kwargs)


def page(incident, user, when, *, channels=("in_app",), state="sent", acknowledged=False):
    """One person notified at one escalation step, by the given channels."""
    sent = at(when)
    escalation, _ = Escalation.objects.get_or_create(
        incident=incident, defaults={"team": incident.team, "started_at": sent}
    )
    number = escalation.step_runs.count() + 1
    run = StepRun.objects.create(
        escalation=escalation,
        number=number,
        position=0,
        scheduled_at=sent,
        executed_at=sent,
        lateness=0,
    )
    made = Page.objects.create(
        escalation=escalation,
        incident=incident,
        step_run=run,
        user=user,
        created_at=sent,
        acknowledged_at=sent + dt.timedelta(minutes=2) if acknowledged else None,
    )
    for channel in channels:
        Notification.objects.create(
            key=f"page:{made.pk}:{channel}",
            incident=incident,
            page=made,
            user=user,
            step=number,
            channel=channel,
            purpose="page",
            target="+4915100000000" if channel in ("sms", "voice") else user.username,
            payload={},
            state=state,
            sent_at=sent if state == "sent" else None,
        )
    return made


@pytest.fixture
def crew(team, responder, viewer):
    """Platform: a manager (UTC), Bea in Berlin, Nate in New York, Alex (UTC), a viewer.

    Bea (Europe/Berlin; clocks go back at 03:00 on Sunday 25 October 2026):
      Fri 23 Oct 15:30Z = 17:30 CEST business; 16:30Z = 18:30 CEST off;
      Sun 25 Oct 00:30Z = 02:30 CEST sleep; 01:30Z = 02:30 CET (the hour again) sleep;
      06:30Z = 07:30 CET sleep (08:30 had the clocks not gone back);
      Mon 26 Oct 21:30Z = 22:30 CET by bell, SMS and phone at once: one, sleep;
      an email-only page and a drill's SMS page: not counted.
      Business 1, off 1, sleep 4: 6 interruptions.
    Nate (America/New_York; clocks go back at 02:00 on Sunday 1 November 2026):
      Fri 30 Oct 21:30Z = 17:30 EDT business (21:30 in UTC would be off hours);
      Sun 1 Nov 05:30Z = 01:30 EDT sleep; 06:30Z = 01:30 EST sleep;
      12:30Z = 07:30 EST sleep (08:30 had the clocks not gone back);
      an SMS that failed: not counted. Business 1, sleep 3: 4 interruptions.
    Alex (UTC): Tue 20 Oct 10:00Z business; Mon 2 Nov 00:30Z, after the period.
    """
    manager = member(team, Role.MANAGER, username="morgan", first_name="Morgan", last_name="Lee")
    bea = member(team, Role.RESPONDER, username="bea", first_name="Bea", last_name="Schulz")
    nate = member(team, Role.RESPONDER, username="nate", first_name="Nate", last_name="Okafor")
    bea.time_zone, nate.time_zone = "Europe/Berlin", "America/New_York"
    bea.save(update_fields=["time_zone"])
    nate.save(update_fields=["time_zone"])

    first = incident_for(team, declared="2026-10-20T09:58")
    page(first, responder, "2026-10-20T10:00", acknowledged=True)
    for when in ("2026-10-23T15:30", "2026-10-23T16:30", "2026-10-25T00:30"):
        page(incident_for(team, declared=when), bea, when)
    night = incident_for(team, declared="2026-10-25T01:29", commander=bea)
    page(night, bea, "2026-10-25T01:30")
    Escalation.objects.filter(incident=night).update(acknowledged_by=bea)
    page(night, bea, "2026-10-25T06:30", channels=("sms",))
    page(night, bea, "2026-10-26T21:30", channels=("in_app", "sms", "voice"))
    page(incident_for(team), bea, "2026-10-24T01:00", channels=("email",))
    drill = incident_for(team, declared="2026-10-25T02:00", is_drill=True, commander=nate)
    page(drill, bea, "2026-10-25T02:00", channels=("sms", "voice"))
    page(drill, nate, "2026-10-25T02:00", acknowledged=True)

    for when in ("2026-10-30T21:30", "2026-11-01T05:30", "2026-11-01T06:30"):
        page(incident_for(team, declared=when), nate, when)
    page(incident_for(team), nate, "2026-11-01T12:30", channels=("voice",))
    page(incident_for(team), nate, "2026-10-27T03:00", channels=("sms",), state="failed")
    page(incident_for(team, declared="2026-11-02T00:29"), responder, "2026-11-02T00:30")

    # A weekly rotation handing over on Mondays at 09:00 UTC: Alex, then Bea.
    schedule = Schedule.objects.create(team=team, name="Primary", time_zone="UTC")
    layer = Layer.objects.create(
        schedule=schedule, name="Primary", start_date=dt.date(2026, 10, 19)
    )
    LayerMember.objects.create(layer=layer, user=responder, position=0)
    LayerMember.objects.create(layer=layer, user=bea, position=1)
    return {
        "manager": manager,
        "bea": bea,
        "nate": nate,
        "alex": responder,
        "viewer": viewer,
        "schedule": schedule,
    }


@pytest.fixture(params=["postgresql", "rows"])
def compute(request, monkeypatch):
    """The interruptions as PostgreSQL aggregates them, and as Python counts them from the
    rows (what SQLite under `make run` runs): held to the same values."""
    if request.param == "rows":
        monkeypatch.setattr(periods, "aggregates_in_sql", lambda: False)
    return request.param


def period(team, start=START, end=END):
    return health_period(team=team, start=start, end=end)


def by_name(report):
    return {p.user.username: p for p in report.people}


def test_interruptions_are_split_by_each_persons_time_zone_across_daylight_saving(
    team, crew, compute
):
    rows = by_name(team_health(team=team, period=period(team)))
    bea, nate, alex = rows["bea"], rows["nate"], rows["alex"]
    assert (bea.business, bea.off, bea.sleep, bea.interruptions) == (1, 1, 4, 6)
    assert (nate.business, nate.off, nate.sleep, nate.interruptions) == (1, 0, 3, 4)
    assert (alex.business, alex.off, alex.sleep, alex.interruptions) == (1, 0, 0, 1)
    assert rows["morgan"].interruptions == 0
    assert rows[crew["viewer"].username].interruptions == 0


def test_the_end_day_is_included_and_the_next_day_is_not(team, crew, compute):
    rows = by_name(team_health(team=team, period=period(team, end="2026-10-31")))
    assert (rows["nate"].business, rows["nate"].sleep) == (1, 0)
    rows = by_name(team_health(team=team, period=period(team, end="2026-11-02")))
    assert rows["alex"].interruptions == 2


def test_email_pages_failed_deliveries_and_drills_are_not_counted(team, crew, compute):
    bea, nate = crew["bea"], crew["nate"]
    assert Page.objects.filter(user=bea).count() == 8  # six counted, email and drill not
    assert Page.objects.filter(user=nate).count() == 6  # four counted, failed SMS and drill not
    rows = by_name(team_health(team=team, period=period(team)))
    assert rows["bea"].interruptions == 6
    assert rows["nate"].interruptions == 4


def test_hours_on_call_come_from_the_schedules_fairness_figures(team, crew):
    rows = by_name(team_health(team=team, period=period(team)))
    # Alex: Mon 19 Oct 09:00 to Mon 26 Oct 09:00; Bea: from then to the end of 1 November.
    assert rows["alex"].hours_on_call == 168.0
    assert rows["bea"].hours_on_call == 6 * 24 + 15
    assert rows["nate"].hours_on_call == 0.0


def test_incidents_handled_count_acknowledgements_and_command_once_each(team, crew, compute):
    rows = by_name(team_health(team=team, period=period(team)))
    assert rows["alex"].incidents_handled == 1  # acknowledged the page
    assert rows["bea"].incidents_handled == 1  # commanded and acknowledged the same incident
    assert rows["nate"].incidents_handled == 0  # only the drill


def test_the_flag_is_above_factor_times_the_team_median(team, crew, compute):
    report = team_health(team=team, period=period(team), factor=2)
    # Interruptions of the five members: 6, 4, 1, 0, 0 → median 1; sleep: 4, 3, 0, 0, 0 → 0.
    assert (report.median_interruptions, report.median_sleep) == (1.0, 0.0)
    rows = by_name(report)
    assert rows["bea"].flags == ["interruptions", "sleep-hour interruptions"]
    assert rows["nate"].flags == ["interruptions", "sleep-hour interruptions"]
    assert rows["alex"].flags == [] and rows["morgan"].flags == []
    rows = by_name(team_health(team=team, period=period(team), factor=5))
    assert rows["bea"].flags == ["interruptions"]  # 6 > 5; 4 sleep-hour ones are not
    assert rows["nate"].flags == []
    assert [p.user.username for p in report.people][:3] == ["bea", "nate", "alex"]


def test_a_manager_sees_everyone_and_the_flag(client, team, crew):
    client.force_login(crew["manager"])
    url = reverse("oncall_health", args=[team.slug])
    response = client.get(url, {"start": START, "end": END, "factor": "5"})
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("Morgan Lee", "Bea Schulz", "Nate Okafor", "Alex Rivera"):
        assert name in html
    assert "Above 5× the median: interruptions</strong>" in html
    assert html.count('class="flag"') == 1
    fairness = reverse("oncall_fairness", args=[crew["schedule"].pk])
    assert f'href="{fairness}?start=2026-10-19&amp;end=2026-11-01"' in html
    assert "Vigil&#x27;s push channel is its in-app bell" in html


def test_a_responder_sees_only_their_own_row(client, team, crew):
    client.force_login(crew["bea"])
    response = client.get(reverse("oncall_health", args=[team.slug]), {"start": START, "end": END})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Bea Schulz" in html and "Europe/Berlin" in html
    assert "Nate Okafor" not in html and "Alex Rivera" not in html and "Morgan Lee" not in html
    people = response.context["people"]
    assert [(p.user.username, p.interruptions, p.sleep) for p in people] == [("bea", 6, 4)]


def test_a_viewer_sees_only_their_own_row(client, team, crew):
    client.force_login(crew["viewer"])
    response = client.get(reverse("oncall_health", args=[team.slug]), {"start": START, "end": END})
    assert response.status_code == 200
    assert [p.user.pk for p in response.context["people"]] == [crew["viewer"].pk]
    assert "Bea Schulz" not in response.content.decode()


def test_an_outsider_and_an_unknown_team_get_404(client, team, crew, outsider):
    client.force_login(outsider)
    assert client.get(reverse("oncall_health", args=[team.slug])).status_code == 404
    assert client.get(reverse("oncall_health", args=["nowhere"])).status_code == 404


def test_signed_out_people_are_sent_to_log_in(client, team):
    response = client.get(reverse("oncall_health", args=[team.slug]))
    assert response.status_code == 302 and "/login" in response["Location"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"start": "2026-02-30"}, "start is not a date"),
        ({"end": "2026-13-01"}, "end is not a date"),
        ({"start": "2026-01-01\x00"}, "start"),
        ({"start": "2024-01-01", "end": "2026-01-01"}, "at most two years (731 days)"),
        ({"start": "2026-05-02", "end": "2026-05-01"}, "is before start"),
        ({"factor": "abc"}, "factor must be a number from 1 to 100"),
        ({"factor": "0.5"}, "factor must be a number from 1 to 100"),
        ({"factor": "nan"}, "factor must be a number from 1 to 100"),
        ({"factor": "inf"}, "factor must be a number from 1 to 100"),
        ({"factor": "1e400"}, "factor must be a number from 1 to 100"),
    ],
)
def test_bad_input_is_refused_with_the_reason(client, team, responder, query, reason):
    client.force_login(responder)
    response = client.get(reverse("oncall_health", args=[team.slug]), query)
    assert response.status_code == 400
    assert reason in response.content.decode()


def test_the_default_period_is_the_last_30_days_and_two_years_are_allowed(team):
    got = health_period(team=team, today=dt.date(2026, 12, 3))
    assert (got.start, got.end, got.days) == (dt.date(2026, 11, 4), dt.date(2026, 12, 3), 30)
    got = health_period(team=team, start="2024-01-01", end="2025-12-31")
    assert got.days == 731
    assert parse_factor("1.5") == 1.5 and parse_factor("") == 2.0 and parse_factor(None) == 2.0


def test_an_empty_period_gives_zeros(team, responder):
    report = team_health(team=team, period=period(team))
    assert [(p.interruptions, p.hours_on_call, p.incidents_handled) for p in report.people] == [
        (0, 0.0, 0)
    ]
    assert report.flagged == []


def test_a_two_year_period_sums_the_fairness_report_over_its_one_year_windows(team, responder):
    schedule = Schedule.objects.create(team=team, name="Always", time_zone="UTC")
    layer = Layer.objects.create(schedule=schedule, name="Only", start_date=dt.date(2024, 1, 1))
    LayerMember.objects.create(layer=layer, user=responder, position=0)
    span = Period(start=dt.date(2024, 1, 1), end=dt.date(2025, 12, 31), time_zone="UTC")
    report = team_health(team=team, period=span)
    # On call from the first handoff, Monday 1 January 2024 09:00, to the end of 2025.
    assert report.people[0].hours_on_call == 731 * 24 - 9


def _pages_for(team, user, count):
    incident = incident_for(team, declared="2026-10-20T00:00")
    escalation = Escalation.objects.create(incident=incident, team=team, started_at=at(START))
    base = escalation.step_runs.count()
    runs = StepRun.objects.bulk_create(
        [
            StepRun(
                escalation=escalation,
                number=base + i + 1,
                position=0,
                scheduled_at=at("2026-10-20T03:00"),
                executed_at=at("2026-10-20T03:00"),
                lateness=0,
            )
            for i in range(count)
        ]
    )
    pages = Page.objects.bulk_create(
        [
            Page(
                escalation=escalation,
                incident=incident,
                step_run=run,
                user=user,
                created_at=at("2026-10-20T03:00"),
            )
            for run in runs
        ]
    )
    Notification.objects.bulk_create(
        [
            Notification(
                key=f"bulk:{p.pk}",
                incident=incident,
                page=p,
                user=user,
                channel="sms",
                purpose="page",
                target="+1",
                payload={},
                state="sent",
                sent_at=at("2026-10-20T03:00"),
            )
            for p in pages
        ]
    )


def test_the_query_count_does_not_grow_with_the_pages(client, team, responder):
    manager = member(team, Role.MANAGER, username="morgan")
    member(team, Role.RESPONDER, username="kai")
    schedule = Schedule.objects.create(team=team, name="Primary", time_zone="UTC")
    layer = Layer.objects.create(schedule=schedule, name="Primary", start_date=dt.date(2026, 1, 5))
    LayerMember.objects.create(layer=layer, user=responder, position=0)
    client.force_login(manager)
    url = reverse("oncall_health", args=[team.slug])

    _pages_for(team, responder, 20)
    with CaptureQueriesContext(connection) as few:
        response = client.get(url, {"start": START, "end": END})
    assert response.context["people"][0].sleep == 20
    _pages_for(team, responder, 180)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url, {"start": START, "end": END})
    assert response.context["people"][0].sleep == 200
    assert len(many.captured_queries) == len(few.captured_queries)
