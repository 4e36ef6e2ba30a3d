"""Team settings: a manager sets the time zone and business hours that alert routing reads;
responders, viewers and other teams' managers are refused; bad input is told, never a 500."""

import datetime as dt

import pytest
from django.urls import reverse

from alerts.routing import is_business_hours
from audit.models import AuditEntry
from teams.models import Role, TeamRouting
from tests.factories import PASSWORD, TeamFactory, member

pytestmark = pytest.mark.django_db

GOOD = {
    "time_zone": "America/New_York",
    "business_days": ["0", "1", "2", "3"],
    "business_start": "08:30",
    "business_end": "18:00",
}


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)


def test_a_manager_sets_the_time_zone_and_business_hours_and_routing_follows(client):
    team = TeamFactory(time_zone="Europe/Berlin")
    sam = member(team, role=Role.MANAGER, username="sam")
    login(client, sam)
    url = reverse("oncall_team_settings", args=[team.slug])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="Europe/Berlin" selected' in html and 'value="09:00"' in html
    response = client.post(url, GOOD)
    assert response.status_code == 302
    team.refresh_from_db()
    routing = TeamRouting.objects.get(team=team)
    assert team.time_zone == "America/New_York"
    assert routing.business_days == [0, 1, 2, 3]
    assert (routing.business_start, routing.business_end) == (dt.time(8, 30), dt.time(18))
    # 13:00 UTC on a Thursday is 08:00 in New York: not yet business hours; 14:00 UTC is.
    thursday = dt.datetime(2026, 1, 8, 13, tzinfo=dt.UTC)
    assert not is_business_hours(routing, team.time_zone, thursday)
    assert is_business_hours(routing, team.time_zone, thursday + dt.timedelta(hours=1))
    entry = AuditEntry.objects.get(action="team.settings_change", actor=sam)
    assert entry.before["time_zone"] == "Europe/Berlin"
    assert entry.after == {
        "time_zone": "America/New_York",
        "business_days": [0, 1, 2, 3],
        "business_start": "08:30",
        "business_end": "18:00",
    }
    assert "Settings of" in client.get(url).content.decode()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "Mars/Olympus_Mons is not a known time zone"),
        ({"time_zone": ""}, "This field is required."),
        ({"business_end": "08:00"}, "Business hours must end after they start."),
        ({"business_start": "25:99"}, "Enter a valid time."),
        ({"business_days": []}, "Choose at least one business day."),
        ({"business_days": ["9"]}, "Select a valid choice."),
    ],
)
def test_bad_settings_are_refused_with_the_reason(client, change, message):
    team = TeamFactory(time_zone="Europe/Berlin")
    login(client, member(team, role=Role.MANAGER))
    response = client.post(reverse("oncall_team_settings", args=[team.slug]), {**GOOD, **change})
    assert response.status_code == 400
    assert message in response.content.decode()
    team.refresh_from_db()
    assert team.time_zone == "Europe/Berlin"
    assert not AuditEntry.objects.filter(action="team.settings_change").exists()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER])
def test_viewers_and_responders_may_not_open_or_save_team_settings(client, role):
    team = TeamFactory(time_zone="Europe/Berlin")
    login(client, member(team, role=role))
    url = reverse("oncall_team_settings", args=[team.slug])
    assert client.get(url).status_code == 403
    assert client.post(url, GOOD).status_code == 403
    team.refresh_from_db()
    assert team.time_zone == "Europe/Berlin"


def test_another_teams_manager_is_refused_and_an_unknown_team_is_404(client):
    team, other = TeamFactory(), TeamFactory()
    login(client, member(other, role=Role.MANAGER))
    assert client.post(reverse("oncall_team_settings", args=[team.slug]), GOOD).status_code == 403
    assert client.get(reverse("oncall_team_settings", args=["no-such-team"])).status_code == 404


def test_managers_find_team_settings_from_their_teams_and_the_escalation_path(client):
    team = TeamFactory(name="Platform")
    sam = member(team, role=Role.MANAGER)
    login(client, sam)
    url = reverse("oncall_team_settings", args=[team.slug])
    assert f'href="{url}"' in client.get(reverse("dashboard")).content.decode()
    assert (
        f'href="{url}"'
        in client.get(reverse("oncall_escalation", args=[team.slug])).content.decode()
    )
    assert f'href="{url}"' in client.get(reverse("oncall_schedules")).content.decode()
    client.logout()
    login(client, member(team, role=Role.RESPONDER))
    assert f'href="{url}"' not in client.get(reverse("dashboard")).content.decode()
