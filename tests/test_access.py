"""The permission helper: three personas and an admin."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from incidents.models import Incident
from teams.access import CHANGE, MANAGE, VIEW, can, get_object_for_user
from teams.models import Role
from tests.factories import IncidentFactory, TeamFactory, UserFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_incident(team):
    return IncidentFactory(team=team, is_private=True)


def test_a_viewer_can_see_but_cannot_change(team):
    viewer = member(team, Role.VIEWER)
    incident = IncidentFactory(team=team)
    assert can(viewer, VIEW, incident)
    assert not can(viewer, CHANGE, incident)
    with pytest.raises(PermissionDenied):
        get_object_for_user(viewer, Incident.objects, pk=incident.pk, action=CHANGE)


def test_a_responder_of_the_team_can_change_but_not_manage(team):
    responder = member(team, Role.RESPONDER)
    incident = IncidentFactory(team=team)
    assert can(responder, CHANGE, incident)
    assert not can(responder, MANAGE, incident)


def test_another_teams_member_cannot_see_a_private_incident(team, private_incident):
    outsider = member(TeamFactory(), Role.MANAGER)
    assert not can(outsider, VIEW, private_incident)
    with pytest.raises(Http404):
        get_object_for_user(outsider, Incident.objects, pk=private_incident.pk)


def test_another_teams_member_can_see_but_not_change_a_public_incident(team):
    outsider = member(TeamFactory(), Role.ADMIN)
    incident = IncidentFactory(team=team)
    assert can(outsider, VIEW, incident)
    assert not can(outsider, CHANGE, incident)


def test_a_vigil_admin_can_do_everything(private_incident):
    admin = UserFactory(is_superuser=True, is_staff=True)
    for action in (VIEW, CHANGE, MANAGE):
        assert can(admin, action, private_incident)
    assert get_object_for_user(admin, Incident.objects, pk=private_incident.pk, action=MANAGE)


def test_a_team_manager_can_manage(team):
    manager = member(team, Role.MANAGER)
    assert can(manager, MANAGE, IncidentFactory(team=team))


def test_an_inactive_user_can_do_nothing(team):
    user = member(team, Role.ADMIN, is_active=False)
    assert not can(user, VIEW, IncidentFactory(team=team))


def test_a_refusal_on_a_team_itself_is_a_403_not_an_error(team):
    from teams.models import Team

    viewer = member(team, Role.VIEWER)
    with pytest.raises(PermissionDenied, match="Platform"):
        get_object_for_user(viewer, Team.objects, pk=team.pk, action=MANAGE)
