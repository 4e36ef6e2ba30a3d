"""Drills through the real alert pipeline: refusals, the drill incident, who is paged, the
[DRILL] marks, the report's times and the schedule's business hours."""

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from alerts.routing import is_business_hours
from changes.decisions import rollback_decide
from changes.models import Procedure
from changes.selectors import changes_for_incident, recent_changes, suspect_change
from incidents.models import EventKind, Severity, Status
from incidents.services import incident_change_status, incident_declare, timeline_event_add
from oncall.models import ContactMethod
from paging.models import Escalation, Notification, Page
from paging.services import engine_tick, incident_acknowledge
from reports import drills
from reports.drill_tasks import drill_schedule_tick
from reports.models import Drill, DrillScenario, DrillSchedule
from teams.models import Role
from teams.selectors import team_routing
from tests.factories import member

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def three_am():
    return DrillScenario.objects.get(team=None, slug=drills.THREE_AM_SLUG)


@pytest.fixture
def manager(team):
    return member(team, Role.MANAGER, username="maya")


def test_a_drill_with_nobody_opted_in_is_refused(team, manager):
    with pytest.raises(drills.DrillError, match=f"Nobody in {team} has opted in to drills"):
        drills.drill_start(team=team, scenario=three_am(), by=manager)


def test_another_teams_scenario_is_refused(team, other_team, manager, responder):
    drills.opt_in(team=team, user=responder)
    other_manager = member(other_team, Role.MANAGER)
    theirs = drills.scenario_save(team=other_team, by=other_manager, name="Theirs", alert_name="X")
    with pytest.raises(drills.DrillError, match="belongs to another team"):
        drills.drill_start(team=team, scenario=theirs, by=manager)


def test_a_drill_pages_only_participants_and_marks_every_message(
    team, manager, responder, time_machine
):
    time_machine.move_to(T0, tick=False)
    bystander = member(team, Role.RESPONDER, username="bob")
    for person in (responder, bystander):
        ContactMethod.objects.create(user=person, kind="slack", value="https://127.0.0.1:1/s")
        ContactMethod.objects.create(
            user=person, kind="email", value=f"{person.username}@x.example"
        )
        ContactMethod.objects.create(user=person, kind="sms", value="+15550100")
        ContactMethod.objects.create(user=person, kind="phone", value="+15550101")
        ContactMethod.objects.create(user=person, kind="webhook", value="https://127.0.0.1:1/w")
    drills.opt_in(team=team, user=responder)
    drill = drills.drill_start(team=team, scenario=three_am(), by=manager)
    assert drill.incident.is_drill
    engine_tick(now=T0)
    assert set(
        Page.objects.filter(incident=drill.incident).values_list("user__username", flat=True)
    ) == {responder.username}
    rows = list(Notification.objects.filter(incident=drill.incident))
    assert {r.channel for r in rows} >= {"in_app", "slack", "email", "sms", "voice", "webhook"}
    for row in rows:
        p = row.payload
        text = (
            p.get("text") or p.get("title") or p.get("subject") or p.get("body") or p.get("twiml")
        )
        assert "[DRILL]" in text, row.channel
        if row.channel == "webhook":
            assert p["drill"] is True


def test_report_times_outsider_ack_and_skipped_steps(team, manager, responder, time_machine):
    time_machine.move_to(T0, tick=False)
    drills.opt_in(team=team, user=responder)
    drill = drills.drill_start(team=team, scenario=three_am(), by=manager)
    outsider_member = member(team, Role.RESPONDER, username="olga")
    time_machine.move_to(T0 + timedelta(seconds=100), tick=False)
    incident_acknowledge(incident=drill.incident, by=outsider_member)
    time_machine.move_to(T0 + timedelta(seconds=600), tick=False)
    incident_change_status(incident=drill.incident, status=Status.MITIGATED, by=responder)
    time_machine.move_to(T0 + timedelta(seconds=700), tick=False)
    ended = drills.drill_end(drill=drill, by=manager)
    report = ended.report
    times = {t["key"]: t for t in report["times"]}
    assert times["acknowledge"]["seconds"] is None
    assert times["mitigation"]["seconds"] == 600.0
    assert times["mitigation"]["within_target"] is True
    assert report["outsider_acknowledgements"] == [
        {"user": "olga", "at": (T0 + timedelta(seconds=100)).isoformat()}
    ]
    assert report["skipped"] == ["acknowledge", "first_runbook_step", "rollback_decision"]
    drill.incident.refresh_from_db()
    assert drill.incident.status == Status.RESOLVED


def test_report_times_of_the_people_taking_part(team, manager, responder, time_machine):
    """Acknowledged at 2 minutes, the first runbook step at 3:20, the rollback decision of the
    staged deploy at 6:40 and mitigation at 16:40 (over its 15-minute target)."""
    time_machine.move_to(T0, tick=False)
    drills.opt_in(team=team, user=responder)
    drill = drills.drill_start(team=team, scenario=three_am(), by=manager)
    incident = drill.incident
    engine_tick(now=T0)
    time_machine.move_to(T0 + timedelta(seconds=120), tick=False)
    incident_acknowledge(incident=incident, by=responder)
    time_machine.move_to(T0 + timedelta(seconds=200), tick=False)
    timeline_event_add(
        incident=incident,
        kind=EventKind.RUNBOOK_STEP,
        body="Check the error rate",
        author=responder,
    )
    time_machine.move_to(T0 + timedelta(seconds=400), tick=False)
    staged = suspect_change(incident=incident)
    assert staged.version == "v1.5.2"
    rollback_decide(incident=incident, change=staged, procedure=Procedure.KUBERNETES, by=responder)
    time_machine.move_to(T0 + timedelta(seconds=1000), tick=False)
    incident_change_status(incident=incident, status=Status.MITIGATED, by=responder)

    report = drills.drill_end(drill=drill, by=manager).report

    times = {
        t["key"]: (t["seconds"], t["target_seconds"], t["within_target"]) for t in report["times"]
    }
    assert times == {
        "acknowledge": (120.0, 300, True),
        "first_runbook_step": (200.0, 300, True),
        "rollback_decision": (400.0, 900, True),
        "mitigation": (1000.0, 900, False),
    }
    assert report["skipped"] == []
    assert report["acknowledged_by"] == responder.username
    assert report["outsider_acknowledgements"] == []


def test_a_drills_staged_deploy_is_no_clue_for_a_real_incident(team, manager, responder):
    drills.opt_in(team=team, user=responder)
    drill = drills.drill_start(team=team, scenario=three_am(), by=manager)
    real = incident_declare(
        title="Checkout errors", severity=Severity.objects.get(name="SEV2"), team=team, by=manager
    )

    assert suspect_change(incident=drill.incident).version == "v1.5.2"
    assert suspect_change(incident=real) is None
    assert changes_for_incident(incident=real) == []
    assert all("drill" not in c.details for c in recent_changes())


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "America/New_York"])
def test_schedule_times_are_always_inside_business_hours(team, tz):
    team.time_zone = tz
    team.save()
    routing = team_routing(team)
    start = datetime(2026, 10, 20, tzinfo=UTC)  # spans the October/November DST changes
    for seed in range(300):
        at = drills.random_business_time(
            team, start=start, end=start + timedelta(weeks=3), rng=random.Random(seed)
        )
        assert is_business_hours(routing, tz, at), (seed, at)


def test_schedule_tells_managers_only(team, manager, responder):
    schedule = drills.schedule_save(team=team, by=manager, scenario=three_am(), every_weeks=2)
    told = set(
        Notification.objects.filter(purpose="drill_notice").values_list("user__username", flat=True)
    )
    assert told == {"maya"}
    assert schedule.next_at is not None


def test_the_delivery_log_says_drill(client, team, manager, responder, time_machine):
    time_machine.move_to(T0, tick=False)
    drills.opt_in(team=team, user=responder)
    drill = drills.drill_start(team=team, scenario=three_am(), by=manager)
    engine_tick(now=T0)
    client.force_login(responder)

    page = client.get(drill.incident.get_absolute_url()).content.decode()

    assert 'Delivery log <span class="badge badge-drill">Drill</span>' in page
    assert "every message below went out marked [DRILL]" in page


def test_the_tick_starts_a_due_scheduled_drill_and_sets_the_next_one(
    team, manager, responder, time_machine
):
    time_machine.move_to(T0, tick=False)
    drills.opt_in(team=team, user=responder)
    schedule = drills.schedule_save(team=team, by=manager, scenario=three_am(), every_weeks=2)
    first = schedule.next_at
    assert T0 <= first <= T0 + timedelta(weeks=2)

    # Before its time: nothing starts.
    assert drill_schedule_tick.apply().get() == {"due": 0, "started": 0, "failed": 0}
    assert not Drill.objects.exists()

    time_machine.move_to(first + timedelta(seconds=30), tick=False)
    assert drill_schedule_tick.apply().get() == {"due": 1, "started": 1, "failed": 0}

    drill = Drill.objects.get()
    assert drill.schedule_id == schedule.pk and drill.started_by is None
    assert drill.incident.is_drill
    assert Escalation.objects.filter(incident=drill.incident).exists()
    schedule = DrillSchedule.objects.get()
    routing = team_routing(team)
    assert is_business_hours(routing, team.time_zone, schedule.next_at)
    centre = first + timedelta(weeks=2)
    assert centre - timedelta(days=4) <= schedule.next_at <= centre + timedelta(days=4)
    # Only the managers hear of the next one.
    when = f"{schedule.next_at.astimezone(ZoneInfo(team.time_zone)):%a %d %b %Y %H:%M}"
    told = {
        n.user.username
        for n in Notification.objects.filter(purpose="drill_notice").select_related("user")
        if when in n.payload.get("title", n.payload.get("subject", ""))
    }
    assert told == {"maya"}

    # The next tick has nothing to do: the drill started once.
    assert drill_schedule_tick.apply().get()["started"] == 0
    assert Drill.objects.count() == 1


def test_a_due_schedule_with_nobody_opted_in_starts_nothing_and_waits_for_the_next_time(
    team, manager, time_machine
):
    time_machine.move_to(T0, tick=False)
    schedule = drills.schedule_save(team=team, by=manager, scenario=three_am(), every_weeks=1)
    time_machine.move_to(schedule.next_at + timedelta(minutes=1), tick=False)

    assert drills.schedules_tick() == {"due": 1, "started": 0, "failed": 1}

    assert not Drill.objects.exists()
    schedule.refresh_from_db()
    assert schedule.enabled and schedule.next_at > timezone.now()
