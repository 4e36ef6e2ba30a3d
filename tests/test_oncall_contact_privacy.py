"""Contact values are their owner's: "On call now" and its API show other people only which
kinds of contact method someone has and a masked tail; the person themselves, Vigil
administrators and the team's admins see the values."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from accounts.tokens import api_token_create
from oncall.models import ContactMethod
from paging.models import Notification
from teams.models import Role
from tests.factories import PASSWORD, IncidentFactory, TeamFactory, UserFactory, member
from tests.test_oncall_pages import services_save

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 1, 14, 12, tzinfo=dt.UTC)  # p1 is primary, p2 secondary
SLACK = "https://hooks.slack.com/services/T0001/B0002/SeCrEtTokenXYZa1b2"
HOOK = "https://pager.example.net/hook/KeepThisPrivate9f3c"
PHONE = "+44 20 7946 0958"
EMAIL = "riley.private@home.example"
SECRETS = ["SeCrEtToken", "KeepThisPrivate", "7946", "riley.private"]


def board():
    team = TeamFactory(time_zone="Europe/Berlin")
    people = [member(team, username=f"p{i}") for i in range(3)]
    lead = member(team, role=Role.MANAGER, username="lead", email=EMAIL)
    team.engineering_lead = lead
    team.save()
    services_save(team, people, lead)
    primary = people[1]
    ContactMethod.objects.create(user=primary, kind="slack", value=SLACK)
    ContactMethod.objects.create(user=primary, kind="webhook", value=HOOK)
    ContactMethod.objects.create(user=primary, kind="phone", value=PHONE, label="mobile")
    return team, people, lead


def page_for(client, user) -> str:
    assert client.login(username=user.username, password=PASSWORD)
    response = client.get(reverse("oncall_now"))
    assert response.status_code == 200
    return response.content.decode()


def assert_no_secret(text):
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER, Role.MANAGER])
@time_machine.travel(NOW, tick=False)
def test_a_team_member_sees_only_kinds_and_masked_tails_of_someone_elses_contacts(client, role):
    team, people, lead = board()
    other = member(team, role=role, username="looker")
    html = page_for(client, other)
    assert "Slack ····a1b2" in html
    assert "Webhook ····9f3c" in html
    assert "Phone call ····0958" in html and "mobile" in html
    assert "Email ····mple" in html  # the lead's account address, with no method set
    assert_no_secret(html)


@time_machine.travel(NOW, tick=False)
def test_someone_outside_the_team_sees_no_contact_value_either(client):
    board()
    outsider = member(TeamFactory(slug="elsewhere"), role=Role.ADMIN, username="outsider")
    html = page_for(client, outsider)
    assert "Slack ····a1b2" in html
    assert_no_secret(html)


@time_machine.travel(NOW, tick=False)
def test_the_person_sees_their_own_contact_values(client):
    team, people, lead = board()
    html = page_for(client, people[1])
    assert SLACK in html and HOOK in html and f"tel:{PHONE}" in html
    assert "riley.private" not in html  # but still not the lead's


@time_machine.travel(NOW, tick=False)
def test_a_team_admin_and_a_vigil_administrator_see_the_values(client):
    team, people, lead = board()
    admin = member(team, role=Role.ADMIN, username="teamadmin")
    for user in (admin, UserFactory(username="root", is_superuser=True, is_staff=True)):
        html = page_for(client, user)
        assert SLACK in html and HOOK in html and f"tel:{PHONE}" in html
        assert f"mailto:{EMAIL}" in html
        client.logout()


@pytest.mark.parametrize("who", ["looker", "p1", "root"])
@time_machine.travel(NOW, tick=False)
def test_the_api_gives_kinds_of_contact_and_never_the_values(client, who):
    team, people, lead = board()
    users = {
        "looker": member(team, role=Role.VIEWER, username="looker"),
        "p1": people[1],
        "root": UserFactory(username="root", is_superuser=True, is_staff=True),
    }
    _, raw = api_token_create(user=users[who], name="cli")
    response = client.get(
        "/api/v1/oncall/now", {"team": team.slug}, headers={"Authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 200
    assert_no_secret(response.content.decode())
    primary = {la["layer"]: la["people"] for la in response.json()[0]["layers"]}["Primary"][0]
    assert primary["username"] == "p1"
    assert primary["channels"] == ["phone", "slack", "webhook"]
    assert primary["contact"] == [{"kind": "phone"}, {"kind": "slack"}, {"kind": "webhook"}]


def test_a_short_value_is_masked_whole():
    method = ContactMethod(kind="sms", value="12345")
    assert method.masked_value == "····"
    assert "12345" not in str(method)


def test_the_incident_delivery_log_masks_the_numbers_and_addresses_paged(client):
    team = TeamFactory()
    person = member(team, username="paged")
    incident = IncidentFactory(team=team)
    for n, (channel, target) in enumerate(
        [("sms", PHONE), ("email", EMAIL), ("slack", SLACK), ("webhook", HOOK)]
    ):
        Notification.objects.create(
            key=f"k{n}",
            incident=incident,
            user=person,
            channel=channel,
            purpose="page",
            target=target,
            payload={},
        )
    viewer = member(team, role=Role.VIEWER, username="looker")
    assert client.login(username=viewer.username, password=PASSWORD)
    response = client.get(incident.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    assert "Delivery log" in html and "(····0958)" in html and "(hooks.slack.com)" in html
    assert_no_secret(html)
