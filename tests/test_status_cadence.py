"""The update cadence: an incident whose status update is overdue reminds its communications
lead (else its commander, else the primary on call) once per due time, in the app and in the
team's #incidents channel; the Communications panel says "Update overdue" until an update is
posted; a resolved incident is never reminded; a real worker under beat reminds once, and
again only an interval later."""

import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from incidents import services as incidents
from incidents.models import Incident, Severity, Status
from paging.models import Channel, DeliveryState, InAppNotification, Notification
from status.cadence import REMINDER_PURPOSE, reminder_recipient, reminders_send_due
from status.models import UpdateReminder
from status.services import status_update_post
from teams.models import Role, TeamRouting
from tests.alerts_fixtures import oncall_team
from tests.celery_worker import running_worker, wait_for
from tests.factories import member
from tests.paging_fakes import FakeHTTP, worker_env

pytestmark = pytest.mark.django_db

START = timezone.now().replace(hour=10, minute=0, second=0, microsecond=0)
CHAT_PORT = 18731


@pytest.fixture
def oncall():
    team, people = oncall_team(slug="platform", contacts=False)
    return team, people


@pytest.fixture
def team(oncall):
    return oncall[0]


@pytest.fixture
def casey(team):
    return member(team, Role.RESPONDER, username="casey", first_name="Casey", last_name="Lee")


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def declare(team, by, severity="SEV2"):
    return incidents.incident_declare(
        title="Checkout API 5xx", severity=Severity.objects.get(name=severity), team=team, by=by
    )


def reminders(incident):
    return list(UpdateReminder.objects.filter(incident=incident).order_by("due_at"))


def test_it_reminds_the_comms_lead_once_per_due_time(clock, team, casey):
    incident = declare(team, casey)  # SEV2: an update every 30 minutes
    incidents.incident_assign_role(incident=incident, role="comms_lead", user=casey, by=casey)
    clock.shift(timedelta(minutes=29))
    assert reminders_send_due() == 0
    clock.shift(timedelta(minutes=2))
    assert reminders_send_due() == 1
    assert reminders_send_due() == 0, "a second tick reminded again"
    clock.shift(timedelta(minutes=20))
    assert reminders_send_due() == 0, "reminded again before the next interval"
    clock.shift(timedelta(minutes=10))  # 61 minutes in: the second due time has passed
    assert reminders_send_due() == 1
    first, second = reminders(incident)
    assert first.due_at == incident.declared_at + timedelta(minutes=30)
    assert second.due_at == incident.declared_at + timedelta(minutes=60)
    assert {first.recipient, second.recipient} == {casey}
    bell = InAppNotification.objects.filter(user=casey, incident=incident)
    assert bell.count() == 2
    assert bell.first().title == f"Status update overdue: #{incident.pk} Checkout API 5xx"
    sent = Notification.objects.filter(incident=incident, purpose=REMINDER_PURPOSE)
    assert [(n.channel, n.state) for n in sent] == [(Channel.IN_APP, DeliveryState.SENT)] * 2


def test_it_reminds_the_commander_without_a_comms_lead_then_the_primary(clock, oncall, casey):
    team, people = oncall
    incident = declare(team, casey)
    assert reminder_recipient(incident=incident, at=timezone.now()) == people["primary"]
    incidents.incident_assign_role(
        incident=incident, role="commander", user=people["secondary"], by=casey
    )
    incident.refresh_from_db()
    assert reminder_recipient(incident=incident, at=timezone.now()) == people["secondary"]
    incidents.incident_assign_role(incident=incident, role="comms_lead", user=casey, by=casey)
    incident.refresh_from_db()
    assert reminder_recipient(incident=incident, at=timezone.now()) == casey
    # Through the tick too: a comms lead who left Vigil hands the reminder to the commander.
    casey.is_active = False
    casey.save(update_fields=["is_active"])
    clock.shift(timedelta(minutes=31))
    assert reminders_send_due() == 1
    assert reminders(incident)[0].recipient == people["secondary"]


def test_the_team_channel_hears_the_reminder_too(clock, team, casey):
    TeamRouting.objects.update_or_create(
        team=team, defaults={"incidents_webhook_url": "https://chat.example.com/hooks/T0/B0/x"}
    )
    incident = declare(team, casey, severity="SEV1")  # every 15 minutes
    clock.shift(timedelta(minutes=16))
    assert reminders_send_due() == 1
    chat = Notification.objects.get(incident=incident, channel=Channel.SLACK)
    assert chat.purpose == REMINDER_PURPOSE
    assert chat.target == "https://chat.example.com/hooks/T0/B0/x"
    assert chat.payload["text"].startswith(f"Status update overdue: #{incident.pk}")
    assert chat.target_display == "chat.example.com"


def test_posting_an_update_clears_update_overdue(clock, team, casey):
    incident = declare(team, casey)
    client = Client()
    client.force_login(casey)
    clock.shift(timedelta(minutes=31))
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "Update overdue" in page
    assert reminders_send_due() == 1
    status_update_post(
        incident=incident, phase="identified", body="We found the bad deploy.", by=casey
    )
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "Update overdue" not in page
    clock.shift(timedelta(minutes=29))  # the update moved the due time on 30 minutes
    assert reminders_send_due() == 0
    clock.shift(timedelta(minutes=2))
    assert reminders_send_due() == 1
    assert "Update overdue" in client.get(incident.get_absolute_url()).content.decode()


def test_a_resolved_incident_is_never_reminded(clock, team, casey):
    incident = declare(team, casey)
    incidents.incident_change_status(incident=incident, status=Status.RESOLVED, by=casey)
    clock.shift(timedelta(hours=2))
    assert reminders_send_due() == 0
    assert not UpdateReminder.objects.exists()
    client = Client()
    client.force_login(casey)
    assert "Update overdue" not in client.get(incident.get_absolute_url()).content.decode()


def test_a_severity_without_cadence_is_never_reminded(clock, team, casey):
    Severity.objects.filter(name="SEV2").update(update_cadence_minutes=None)
    declare(team, casey)
    clock.shift(timedelta(hours=5))
    assert reminders_send_due() == 0


@pytest.mark.django_db(transaction=True)
def test_two_workers_ticking_at_once_remind_once(team, casey):
    incident = declare(team, casey)
    Incident.objects.filter(pk=incident.pk).update(
        declared_at=timezone.now() - timedelta(minutes=31)
    )
    barrier = threading.Barrier(2)
    counts = []

    def tick():
        try:
            barrier.wait()
            with transaction.atomic():
                counts.append(reminders_send_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 1]
    assert UpdateReminder.objects.filter(incident=incident).count() == 1
    assert Notification.objects.filter(incident=incident, purpose=REMINDER_PURPOSE).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.slow
def test_a_real_worker_reminds_once_and_again_an_interval_later(team, casey):
    Severity.objects.filter(name="SEV1").update(update_cadence_minutes=1)
    with FakeHTTP(CHAT_PORT) as chat:
        TeamRouting.objects.update_or_create(
            team=team, defaults={"incidents_webhook_url": chat.url("/hooks/incidents")}
        )
        incident = declare(team, casey, severity="SEV1")
        incidents.incident_assign_role(incident=incident, role="comms_lead", user=casey, by=casey)
        # 1 min 40 s in: the first due time passed 40 s ago, the second comes in 20 s.
        declared_at = timezone.now() - timedelta(seconds=100)
        Incident.objects.filter(pk=incident.pk).update(declared_at=declared_at)
        env = worker_env(extra={"STATUS_CADENCE_TICK_SECONDS": "1"})
        with running_worker(beat=True, env=env):
            assert wait_for(lambda: len(chat.accepted_at("/hooks/incidents")) >= 1, timeout=30)
            time.sleep(3)  # several more ticks of the same due time
            assert len(reminders(incident)) == 1
            assert wait_for(lambda: len(chat.accepted_at("/hooks/incidents")) >= 2, timeout=40)
            time.sleep(2)
        first, second = reminders(incident)
        assert first.due_at == declared_at + timedelta(minutes=1)
        assert second.due_at == declared_at + timedelta(minutes=2)
        assert len(chat.accepted_at("/hooks/incidents")) == 2
        text = chat.accepted_at("/hooks/incidents")[0]["json"]["text"]
        assert text.startswith(f"Status update overdue: #{incident.pk} Checkout API 5xx")
        assert "Casey Lee, please post one." in text
        assert InAppNotification.objects.filter(user=casey, incident=incident).count() == 2
