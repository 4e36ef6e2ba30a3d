"""A team's stakeholders: its managers add and remove people, email addresses and Slack
webhooks (refused when not an address or not public, with nothing stored), its members read
the list, others never see it; an update posted with "Tell the stakeholders" goes through
paging's outbox to each of them, and the Communications panel shows the delivery log."""

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEntry
from incidents import services as incidents
from incidents.models import Severity
from oncall.models import ContactMethod
from paging import delivery
from paging.models import Channel, DeliveryState, InAppNotification, Notification
from status.models import Stakeholder, StakeholderKind, StatusUpdate
from status.stakeholders import STAKEHOLDER_PURPOSE, stakeholder_add
from teams.models import Role
from tests.factories import TeamFactory, member
from tests.paging_fakes import FakeHTTP

pytestmark = pytest.mark.django_db

SLACK_PORT = 18732


@pytest.fixture
def team():
    return TeamFactory(slug="platform", name="Platform")


@pytest.fixture
def morgan(team):
    return member(team, Role.MANAGER, username="morgan", first_name="Morgan", last_name="Diaz")


@pytest.fixture
def casey(team):
    return member(team, Role.RESPONDER, username="casey", first_name="Casey", last_name="Lee")


@pytest.fixture
def vp():
    other = TeamFactory(slug="leadership", name="Leadership")
    return member(other, Role.VIEWER, username="vp", first_name="Robin", last_name="Vance")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(team):
    return reverse("status_stakeholders", args=[team.slug])


def add(client, team, **form):
    return client.post(url(team), {"kind": "email", "name": "", "address": "", **form})


# --- the list ------------------------------------------------------------------------------


def test_a_manager_adds_an_email_a_slack_channel_and_a_person(team, morgan, vp):
    client = client_for(morgan)
    response = add(client, team, name="VP Engineering", address="vp-eng@acme.example")
    assert response.status_code == 302
    response = add(
        client, team, kind="slack", name="#exec", address="http://127.0.0.1:9/hooks/exec"
    )
    assert response.status_code == 302
    assert add(client, team, kind="person", username="vp").status_code == 302
    rows = {s.name: (s.kind, s.address, s.user) for s in Stakeholder.objects.filter(team=team)}
    assert rows == {
        "VP Engineering": (StakeholderKind.EMAIL, "vp-eng@acme.example", None),
        "#exec": (StakeholderKind.SLACK, "http://127.0.0.1:9/hooks/exec", None),
        "Robin Vance": (StakeholderKind.PERSON, "", vp),
    }
    assert AuditEntry.objects.filter(action="status.stakeholder_add").count() == 3
    page = client.get(url(team)).content.decode()
    assert "vp-eng@acme.example" in page
    assert "/hooks/exec" not in page, "a webhook URL is its secret"


def test_a_responder_reads_the_list_but_may_not_change_it(team, morgan, casey):
    stakeholder_add(team=team, kind="email", name="VP Engineering", address="vp@acme.example",
                    by=morgan)  # fmt: skip
    client = client_for(casey)
    page = client.get(url(team))
    assert page.status_code == 200
    assert "VP Engineering" in page.content.decode()
    assert "vp@acme.example" not in page.content.decode(), "members see the address's tail"
    assert "Add stakeholder" not in page.content.decode()
    assert add(client, team, name="CFO", address="cfo@acme.example").status_code == 403
    stakeholder = Stakeholder.objects.get()
    remove = reverse("status_stakeholders_remove", args=[team.slug, stakeholder.pk])
    assert client.post(remove).status_code == 403
    assert Stakeholder.objects.count() == 1


def test_someone_of_another_team_never_sees_the_list(team, morgan, vp):
    stakeholder_add(team=team, kind="email", name="CFO", address="cfo@acme.example", by=morgan)
    client = client_for(vp)
    assert client.get(url(team)).status_code == 404
    assert add(client, team, name="Me", address="me@acme.example").status_code == 404
    remove = reverse("status_stakeholders_remove", args=[team.slug, Stakeholder.objects.get().pk])
    assert client.post(remove).status_code == 404
    assert Stakeholder.objects.count() == 1


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"name": "VP", "address": "not-an-address"}, "is not an email address"),
        ({"name": "VP", "address": "vp@"}, "is not an email address"),
        ({"name": "VP", "address": ""}, "Give the email address"),
        ({"name": "", "address": "vp@acme.example"}, "Give the stakeholder a name"),
        ({"name": "x" * 101, "address": "vp@acme.example"}, "at most 100 characters"),
        ({"kind": "slack", "name": "#x", "address": "ftp://chat.example/x"}, "will not post"),
        ({"kind": "slack", "name": "#x", "address": "https://"}, "will not post"),
        ({"kind": "pager", "name": "x", "address": "vp@acme.example"}, "Say whether"),
        ({"kind": "person", "username": "nobody"}, "Nobody in Vigil has the username"),
    ],
)
def test_bad_input_is_refused_with_the_reason_and_nothing_stored(team, morgan, form, reason):
    response = add(client_for(morgan), team, **form)
    assert response.status_code == 400
    assert reason in response.content.decode()
    assert not Stakeholder.objects.exists()
    assert not AuditEntry.objects.filter(action="status.stakeholder_add").exists()


@pytest.mark.parametrize(
    "address",
    ["https://10.0.0.5/hooks/x", "https://127.0.0.1/hooks/x", "https://169.254.169.254/latest"],
)
def test_a_webhook_on_a_private_address_is_refused(settings, team, morgan, address):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    response = add(client_for(morgan), team, kind="slack", name="#exec", address=address)
    assert response.status_code == 400
    assert "Vigil sends only to public addresses" in response.content.decode()
    assert not Stakeholder.objects.exists()


def test_a_manager_removes_a_stakeholder_and_odd_ids_are_not_found(team, morgan):
    stakeholder = stakeholder_add(
        team=team, kind="email", name="CFO", address="cfo@acme.example", by=morgan
    )
    client = client_for(morgan)
    for odd in ("abc", "99999999999999999999999", str(stakeholder.pk + 1000)):
        assert client.post(f"{url(team)}{odd}/remove/").status_code == 404
    remove = reverse("status_stakeholders_remove", args=[team.slug, stakeholder.pk])
    assert client.get(remove).status_code == 405
    assert client.post(remove).status_code == 302
    assert not Stakeholder.objects.exists()
    assert AuditEntry.objects.filter(action="status.stakeholder_remove").count() == 1


def test_the_list_reads_the_same_queries_at_ten_times_the_stakeholders(
    team, morgan, django_assert_num_queries
):
    client = client_for(morgan)

    def fill(n):
        for i in range(Stakeholder.objects.count(), n):
            Stakeholder.objects.create(
                team=team, kind="email", name=f"Person {i}", address=f"p{i}@acme.example"
            )
        person = member(team, Role.VIEWER)
        Stakeholder.objects.create(team=team, kind="person", name=person.username, user=person)

    fill(3)
    client.get(url(team))
    with CaptureQueriesContext(connection) as few:
        assert client.get(url(team)).status_code == 200
    fill(30)
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(url(team)).status_code == 200


# --- telling them of an update -------------------------------------------------------------


@pytest.fixture
def incident(team, casey):
    return incidents.incident_declare(
        title="Checkout API 5xx", severity=Severity.objects.get(name="SEV2"), team=team, by=casey
    )


def compose(client, incident, **extra):
    return client.post(
        reverse("status_update_post", args=[incident.pk]),
        {"phase": "identified", "body": "A bad deploy; rolling back.", "audience": "internal",
         **extra},
    )  # fmt: skip


def test_an_update_told_to_the_stakeholders_goes_through_the_outbox(
    team, morgan, casey, vp, incident
):
    stakeholder_add(team=team, kind="email", name="CFO", address="cfo@acme.example", by=morgan)
    stakeholder_add(team=team, kind="person", username="vp", by=morgan)
    ContactMethod.objects.create(user=vp, kind="email", value="robin@acme.example")
    with FakeHTTP(SLACK_PORT) as slack:
        stakeholder_add(
            team=team, kind="slack", name="#exec", address=slack.url("/hooks/exec"), by=morgan
        )
        client = client_for(casey)
        response = compose(client, incident, tell_stakeholders="on")
        assert response.status_code == 302
        rows = Notification.objects.filter(incident=incident, purpose=STAKEHOLDER_PURPOSE)
        assert sorted((n.channel, n.target) for n in rows) == [
            (Channel.EMAIL, "cfo@acme.example"),
            (Channel.EMAIL, "robin@acme.example"),
            (Channel.IN_APP, "vp"),
            (Channel.SLACK, slack.url("/hooks/exec")),
        ]
        # The in-app one is delivered with the update; a worker delivers the others.
        bell = InAppNotification.objects.get(user=vp)
        assert bell.title == "[SEV2] Checkout API 5xx: Identified update"
        for n in rows.exclude(channel=Channel.IN_APP):
            assert delivery.deliver(n.pk) == "sent"
        [posted] = slack.accepted_at("/hooks/exec")
    assert "A bad deploy; rolling back." in posted["json"]["text"]
    assert "Checkout API 5xx" in posted["json"]["text"]
    assert sorted(m.to[0] for m in mail.outbox) == ["cfo@acme.example", "robin@acme.example"]
    assert all("A bad deploy; rolling back." in m.body for m in mail.outbox)
    # The Communications panel's delivery log: channel, masked target, state, attempts.
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "Stakeholder and reminder deliveries" in page
    assert "cfo@acme.example" not in page
    assert "····mple" in page
    assert "/hooks/exec" not in page
    assert "Sent</span> after 1 attempt" in page


def test_an_update_without_the_box_ticked_tells_nobody(team, morgan, casey, incident):
    stakeholder_add(team=team, kind="email", name="CFO", address="cfo@acme.example", by=morgan)
    form = client_for(casey).get(reverse("status_update_post", args=[incident.pk]))
    assert "Tell the stakeholders" in form.content.decode()
    assert compose(client_for(casey), incident).status_code == 302
    assert StatusUpdate.objects.filter(incident=incident).count() == 1
    assert not Notification.objects.filter(purpose=STAKEHOLDER_PURPOSE).exists()


def test_a_refused_update_tells_nobody(team, morgan, casey, incident):
    stakeholder_add(team=team, kind="email", name="CFO", address="cfo@acme.example", by=morgan)
    response = compose(client_for(casey), incident, body="   ", tell_stakeholders="on")
    assert response.status_code == 400
    assert not StatusUpdate.objects.exists()
    assert not Notification.objects.filter(purpose=STAKEHOLDER_PURPOSE).exists()


def test_a_webhook_that_turned_private_is_checked_again_at_send(
    settings, team, morgan, casey, incident
):
    stakeholder_add(
        team=team, kind="slack", name="#exec", address="http://127.0.0.1:9/hooks/x", by=morgan
    )
    assert compose(client_for(casey), incident, tell_stakeholders="on").status_code == 302
    settings.OUTBOUND_ALLOWED_HOSTS = []  # the operator no longer allows the receiver
    notification = Notification.objects.get(purpose=STAKEHOLDER_PURPOSE)
    assert delivery.deliver(notification.pk) == "failed"
    notification.refresh_from_db()
    assert notification.state == DeliveryState.FAILED
    assert "Not sent to 127.0.0.1:9" in notification.last_error


def test_a_private_incidents_update_goes_only_to_people_who_may_see_it(team, morgan, casey, vp):
    incident = incidents.incident_declare(
        title="Payroll export leaks", severity=Severity.objects.get(name="SEV2"), team=team,
        by=casey, is_private=True,
    )  # fmt: skip
    stakeholder_add(team=team, kind="email", name="CFO", address="cfo@acme.example", by=morgan)
    stakeholder_add(team=team, kind="person", username="vp", by=morgan)  # not in the team
    stakeholder_add(team=team, kind="person", username="morgan", by=morgan)
    assert compose(client_for(casey), incident, tell_stakeholders="on").status_code == 302
    rows = Notification.objects.filter(incident=incident, purpose=STAKEHOLDER_PURPOSE)
    assert [(n.channel, n.target) for n in rows] == [(Channel.IN_APP, "morgan")]
    assert not InAppNotification.objects.filter(user=vp).exists()


def test_the_delivery_log_reads_the_same_queries_at_ten_times_the_deliveries(
    team, casey, incident, django_assert_num_queries
):
    client = client_for(casey)

    def deliveries(n):
        Notification.objects.bulk_create(
            Notification(
                key=f"stakeholder:test:{incident.pk}:{i}",
                incident=incident,
                user=casey,
                channel=Channel.EMAIL,
                purpose=STAKEHOLDER_PURPOSE,
                target=f"p{i}@acme.example",
                payload={},
            )
            for i in range(Notification.objects.count(), n)
        )

    deliveries(2)
    client.get(incident.get_absolute_url())
    with CaptureQueriesContext(connection) as few:
        assert client.get(incident.get_absolute_url()).status_code == 200
    deliveries(20)
    with django_assert_num_queries(len(few.captured_queries)):
        page = client.get(incident.get_absolute_url())
    assert page.content.decode().count("to stakeholder") == 20
